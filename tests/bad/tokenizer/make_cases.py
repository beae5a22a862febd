#!/usr/bin/env python3
"""Writes the tokenizer cases of the malformed-input suite (one folder per
case holding a tokenizer.json, and CASES.tsv). Usage: python3 make_cases.py"""
import json, os, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
GOOD = {"version": "1.0", "added_tokens": [{"id": 9, "content": "<s>", "special": True}],
        "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "<s>": 9}, "merges": ["h i"]}}
rows = []


def case(name, words, tok=None, raw=None, cfg=None, args="hi"):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "wb") as f:
        f.write(raw if raw is not None else json.dumps(tok, indent=1).encode())
    if cfg is not None:
        with open(os.path.join(d, "tokenizer_config.json"), "wb") as f:
            f.write(cfg)
    named = "${D}/" + name + ("/tokenizer_config.json" if cfg is not None else "/tokenizer.json")
    rows.append([name, "2", f"tokenize ${{D}}/{name} {args}", named] + words)


def mod(fn):
    t = json.loads(json.dumps(GOOD))
    fn(t)
    return t


for e in os.listdir(HERE):
    if os.path.isdir(os.path.join(HERE, e)):
        shutil.rmtree(os.path.join(HERE, e))

case("broken_json", ["invalid JSON"], raw=b'{"model": ')
case("not_object", ["expected a JSON object"], raw=b'[1, 2]')
case("duplicate_key", ["duplicate object key"], raw=b'{"model": {}, "model": {}}')
case("no_model", ["missing 'model'"], raw=b'{"version": "1.0"}')
case("unigram", ["Unigram", "not supported"], mod(lambda t: t.__setitem__("model", {"type": "Unigram", "vocab": [["a", 0.0]]})))
case("wordpiece", ["WordPiece"], mod(lambda t: t["model"].__setitem__("type", "WordPiece")))
case("model_type_unknown", ["unknown model.type 'Frob'"], mod(lambda t: t["model"].__setitem__("type", "Frob")))
case("vocab_not_object", ["model.vocab: expected an object"], mod(lambda t: t["model"].__setitem__("vocab", ["h", "i"])))
case("vocab_negative_id", ["model.vocab", "expected an id"], mod(lambda t: t["model"]["vocab"].__setitem__("h", -1)))
case("vocab_id_float", ["model.vocab", "expected an id"], mod(lambda t: t["model"]["vocab"].__setitem__("h", 0.5)))
case("merges_not_list", ["model.merges: expected a list"], mod(lambda t: t["model"].__setitem__("merges", "h i")))
case("merge_unknown_token", ["model.merges[0]", "missing from model.vocab"], mod(lambda t: t["model"].__setitem__("merges", ["h z"])))
case("merge_no_space", ["model.merges[0]", "with one space"], mod(lambda t: t["model"].__setitem__("merges", ["hi"])))
case("merge_bad_entry", ["model.merges[0]", "a pair"], mod(lambda t: t["model"].__setitem__("merges", [[1, 2]])))
case("unk_token_absent", ["unk_token", "not in model.vocab"], mod(lambda t: t["model"].__setitem__("unk_token", "<unk>")))
case("dropout", ["dropout"], mod(lambda t: t["model"].__setitem__("dropout", 0.1)))
case("subword_prefix", ["continuing_subword_prefix"], mod(lambda t: t["model"].__setitem__("continuing_subword_prefix", "##")))
case("added_not_list", ["added_tokens: expected a list"], mod(lambda t: t.__setitem__("added_tokens", {"id": 9})))
case("added_bad_id", ["added_tokens[0]", "integer 'id'"], mod(lambda t: t["added_tokens"][0].__setitem__("id", -3)))
case("added_no_content", ["added_tokens[0]", "string 'content'"], mod(lambda t: t["added_tokens"][0].pop("content")))
case("normalizer_unknown", ["normalizer"], mod(lambda t: t.__setitem__("normalizer", {"type": "Frobnicate"})))
case("normalizer_not_object", ["normalizer"], mod(lambda t: t.__setitem__("normalizer", [1])))
case("pretokenizer_unknown", ["pre_tokenizer"], mod(lambda t: t.__setitem__("pre_tokenizer", {"type": "Frobnicate"})))
case("split_bad_regex", ["regex"], mod(lambda t: t.__setitem__("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated", "invert": False})))
case("decoder_unknown", ["decoder"], mod(lambda t: t.__setitem__("decoder", {"type": "Frobnicate"})))
case("postproc_unknown_token", ["post_processor"], mod(lambda t: t.__setitem__("post_processor", {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {}})))
case("postproc_unknown_type", ["post_processor"], mod(lambda t: t.__setitem__("post_processor", {"type": "Frobnicate"})))
case("config_broken_json", ["invalid JSON"], GOOD, cfg=b'{"bos_token": ')
case("config_not_object", ["invalid JSON", "'[' or '{' expected"], GOOD, cfg=b'"<s>"')
case("decode_id_out_of_range", ["not in the vocabulary"], GOOD, args="--decode '2 77'")
case("decode_not_ids", ["expected non-negative integer ids"], GOOD, args="--decode '2 x'")
for r in rows:
    if r[0].startswith("decode_"): r[3] = "-"  # the ids come from the command line
rows.append(["missing_folder", "2", "tokenize ${D}/nowhere hi", "${D}/nowhere", "no such file"])
rows.append(["added_token_50mb", "2", "tokenize ${W}/gen/bigtok_added hi", "${W}/gen/bigtok_added/tokenizer.json", "added_tokens[0]", "aaaa... (52428800 bytes)", "longer than the 65536-byte limit"])
rows.append(["vocab_token_50mb", "2", "tokenize ${W}/gen/bigtok_vocab hi", "${W}/gen/bigtok_vocab/tokenizer.json", "model.vocab", "bbbb... (52428800 bytes)", "longer than the 65536-byte limit"])
rows.append(["merge_50mb", "2", "tokenize ${W}/gen/bigtok_merge hi", "${W}/gen/bigtok_merge/tokenizer.json", "model.merges[0]", "with one space", "aaaa... (52428800 bytes)"])
rows.append(["nested_100k", "2", "tokenize ${W}/gen/deeptok hi", "${W}/gen/deeptok/tokenizer.json", "maximum parsing depth"])
with open(os.path.join(HERE, "CASES.tsv"), "w") as f:
    f.write("# Generated by make_cases.py. mergeguard tokenize on bad tokenizer files; see ../test_bad.c.\n")
    f.write("# NAME\tEXIT\tCOMMAND\tFILE NAMED\tWORDS...\n")
    for r in rows:
        f.write("\t".join(r) + "\n")
print(len(rows), "cases")
