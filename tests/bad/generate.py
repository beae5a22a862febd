#!/usr/bin/env python3
"""Regenerates the binary and folder cases of the malformed-input suite: the
folders safetensors/, index/, config_json/ and model_dir/ under tests/bad and
their CASES.tsv manifests (the files are committed; CI never runs this). Each
case is a file or a folder that mergeguard must refuse with exit code 2 and
one line naming the file, the tensor (when one is at fault) and the rule; the
manifest format is described in test_bad.c. Cases whose inputs are too big to
commit are built at test time (bad_fixtures.h) and listed here as ${W}/gen/...
Usage: python3 generate.py"""
import json, os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("safetensors", "index", "config_json", "model_dir", "gguf")
rows = {k: [] for k in KINDS}
kind = "safetensors"


def path(name):
    return os.path.join(HERE, kind, name)


def raw(name, data):
    os.makedirs(os.path.dirname(path(name)), exist_ok=True)
    with open(path(name), "wb") as f:
        f.write(data)


def st_bytes(header, data=b"", pad=True, hlen=None):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    n = len(h) if hlen is None else hlen
    return struct.pack("<Q", n) + h + data


def t(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}


def row(name, command, named, *words, code=2):
    rows[kind].append((name, str(code), command, named) + words)


def case(name, data, tensor, rule):
    """A single file, opened with `mergeguard inspect FILE`."""
    raw(name, data)
    words = (rule,) if tensor == "-" else (rule, f"tensor '{tensor}'")
    row(name.split(".")[0], "inspect ${D}/" + name, "${D}/" + name, *words)


def good(n=4, name="w"):
    return st_bytes({"__metadata__": {"format": "pt"}, name: t("F32", [n], 0, 4 * n)}, bytes(4 * n))


for k in KINDS:
    shutil.rmtree(os.path.join(HERE, k), ignore_errors=True)

# ---- single files ----
case("empty.safetensors", b"", "-", "file is empty")
case("short.safetensors", b"\x10\x00\x00", "-", "less than the 8-byte header length")
case("header_past_eof.safetensors", struct.pack("<Q", 1000) + b'{"a":1}', "-",
     "runs past the end of the file")
case("header_too_big.safetensors", struct.pack("<Q", 1 << 40) + b"{}      ", "-",
     "exceeds the limit")
case("header_len_zero.safetensors", struct.pack("<Q", 0) + b"{}", "-", "too short for a JSON object")
full = json.dumps({"w": t("F32", [2], 0, 8)}).encode()
case("truncated_header.safetensors", st_bytes(full[:-5], pad=False), "-", "invalid JSON")
case("invalid_json.safetensors", st_bytes(b'{"w": {"dtype": "F32",}}'), "-", "invalid JSON")
case("invalid_utf8.safetensors",
     st_bytes(b'{"w\xff": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)), "-",
     "invalid UTF-8")
case("overlong_utf8.safetensors",
     st_bytes(b'{"w\xc0\xaf": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)), "-",
     "invalid UTF-8")
case("nul_in_header.safetensors", st_bytes(b'{"w": {}}\x00'), "-", "NUL byte")
case("not_an_object.safetensors", st_bytes(b'[1, 2, 3]'), "-", "does not start with '{'")
case("duplicate_names.safetensors",
     st_bytes(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
              b'"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)), "w",
     "duplicate tensor name")
case("duplicate_field.safetensors",
     st_bytes(b'{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}', bytes(4)),
     "-", "duplicate key 'dtype' inside an entry")
case("unknown_dtype.safetensors", st_bytes({"w": t("F33", [2], 0, 8)}, bytes(8)), "w",
     "unknown dtype 'F33'")
case("dtype_not_string.safetensors", st_bytes({"w": t(4, [2], 0, 8)}, bytes(8)), "w",
     "dtype is not a string")
case("numel_mismatch.safetensors", st_bytes({"w": t("F32", [2, 3], 0, 20)}, bytes(20)), "w",
     "span 20 bytes but F32 x 6 elements needs 24")
case("offsets_out_of_range.safetensors",
     st_bytes({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 8, 16)}, bytes(12)), "b",
     "run past the end of the data section")
case("overlapping.safetensors",
     st_bytes({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, bytes(12)), "b",
     "overlapping tensor 'a'")
case("hole.safetensors",
     st_bytes({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 12, 20)}, bytes(20)), "b",
     "hole of 4 unused bytes")
case("hole_at_start.safetensors", st_bytes({"a": t("F32", [2], 4, 12)}, bytes(12)), "a",
     "at the start of the data section")
case("trailing_bytes.safetensors", st_bytes({"a": t("F32", [2], 0, 8)}, bytes(16)), "a",
     "8 unused bytes after it")
case("shape_overflow.safetensors",
     st_bytes({"w": t("F32", [1 << 32, 1 << 32, 16], 0, 8)}, bytes(8)), "w",
     "element count overflows 64 bits")
case("bytes_overflow.safetensors", st_bytes({"w": t("F64", [1 << 62], 0, 8)}, bytes(8)), "w",
     "byte size overflows 64 bits")
case("negative_dim.safetensors", st_bytes({"w": t("F32", [2, -3], 0, 8)}, bytes(8)), "w",
     "negative dimension -3")
case("shape_not_ints.safetensors", st_bytes({"w": t("F32", ["2"], 0, 8)}, bytes(8)), "w",
     "shape[0] is not an integer")
case("too_many_dims.safetensors", st_bytes({"w": t("F32", [1] * 9, 0, 4)}, bytes(4)), "w",
     "9 dimensions, limit is 8")
case("end_before_begin.safetensors",
     st_bytes({"a": t("F32", [0], 8, 0), "b": t("F32", [2], 0, 8)}, bytes(8)), "a",
     "end before begin")
case("offsets_not_ints.safetensors", st_bytes({"w": t("F32", [2], 0.0, 8.5)}, bytes(8)), "w",
     "data_offsets is not a pair of non-negative integers")
case("missing_offsets.safetensors",
     st_bytes({"w": {"dtype": "F32", "shape": [2]}}, bytes(8)), "w",
     "missing field 'data_offsets'")
case("unexpected_field.safetensors",
     st_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}}, bytes(8)),
     "w", "unexpected field 'x'")
case("tensor_not_object.safetensors", st_bytes({"w": [1, 2]}, bytes(8)), "w",
     "entry is not a JSON object")
case("metadata_not_string.safetensors",
     st_bytes({"__metadata__": {"format": 1}, "w": t("F32", [2], 0, 8)}, bytes(8)), "-",
     "__metadata__ value of 'format' is not a string")
case("metadata_not_object.safetensors",
     st_bytes({"__metadata__": "pt", "w": t("F32", [2], 0, 8)}, bytes(8)), "-",
     "__metadata__ is not an object")
case("no_tensors_but_data.safetensors", st_bytes({"__metadata__": {}}, bytes(8)), "-",
     "no tensors but the data section has 8 bytes")
# Pickles: a raw pickle stream (protocol 2) and a torch.save zip, even when
# named .safetensors; plus the usual pickle names. Their contents are inert.
case("pickle.safetensors", b"\x80\x02}q\x00.", "-", "executes arbitrary code")
case("zip_named.safetensors", b"PK\x03\x04" + bytes(60), "-", "zip archive")
case("pytorch_model.bin", b"\x80\x02}q\x00.", "-", "executes arbitrary code")
case("checkpoint.pt", b"PK\x03\x04" + bytes(60), "-", "executes arbitrary code")

# ---- built at test time ----
row("deep_header", "inspect ${W}/gen/deep.safetensors", "${W}/gen/deep.safetensors",
    "header", "maximum parsing depth")

# ---- folders ----
kind = "model_dir"
CFG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
       "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 4}


def folder(name, files, msg_file, tensor, rule, *more):
    """A model folder, opened with `mergeguard inspect DIR`."""
    os.makedirs(path(name), exist_ok=True)
    for fn, content in files.items():
        if isinstance(content, (dict, list)):
            content = json.dumps(content, indent=2).encode()
        raw(os.path.join(name, fn), content)
    words = ((rule,) if tensor == "-" else (rule, f"tensor '{tensor}'")) + more
    row(name, "inspect ${D}/" + name, "${D}/" + msg_file, *words)


folder("dir_empty", {"README.txt": b"A folder with neither config.json nor weights.\n"}, "dir_empty", "-", "no config.json and no *.safetensors")
folder("dir_no_config", {"model.safetensors": good()}, "dir_no_config", "-",
       "missing config.json")
folder("dir_no_weights", {"config.json": CFG}, "dir_no_weights", "-",
       "expected model.safetensors or model.safetensors.index.json")
folder("dir_pickle_only", {"config.json": CFG, "pytorch_model.bin": b"\x80\x02}q\x00."},
       "dir_pickle_only/pytorch_model.bin", "-", "executes arbitrary code")
folder("dir_other_safetensors", {"config.json": CFG, "weights.safetensors": good()},
       "dir_other_safetensors", "-", "found 'weights.safetensors'")
folder("dir_ckpt_only", {"config.json": CFG, "model.ckpt": b"PK\x03\x04" + bytes(60)},
       "dir_ckpt_only/model.ckpt", "-", "executes arbitrary code")
row("no_such_path", "inspect ${D}/nothing", "${D}/nothing", "no such file or folder")
row("json_file_given", "inspect ${D}/dir_no_weights/config.json", "${D}/dir_no_weights/config.json",
    "a JSON file, not weights")

kind = "config_json"
folder("config_bad_type", {"config.json": dict(CFG, hidden_size="8"), "model.safetensors": good()},
       "config_bad_type/config.json", "-", "field 'hidden_size': expected an integer")
folder("config_negative", {"config.json": dict(CFG, num_attention_heads=-2),
                           "model.safetensors": good()},
       "config_negative/config.json", "-", "expected a positive integer, found -2")
folder("config_bad_arch", {"config.json": dict(CFG, architectures="LlamaForCausalLM"),
                           "model.safetensors": good()},
       "config_bad_arch/config.json", "-", "expected a list of strings")
folder("config_tie_not_bool", {"config.json": dict(CFG, tie_word_embeddings="yes"),
                               "model.safetensors": good()},
       "config_tie_not_bool/config.json", "-", "field 'tie_word_embeddings': expected true or false")
folder("config_invalid_json", {"config.json": b'{"hidden_size": 8,,}', "model.safetensors": good()},
       "config_invalid_json/config.json", "-", "invalid JSON")
folder("config_duplicate_key", {"config.json": b'{"hidden_size": 8, "hidden_size": 16}',
                                "model.safetensors": good()},
       "config_duplicate_key/config.json", "-", "duplicate")
folder("config_not_object", {"config.json": b'[1]', "model.safetensors": good()},
       "config_not_object/config.json", "-", "expected a JSON object")
folder("config_heads_mismatch", {"config.json": dict(CFG, hidden_size=9, num_attention_heads=2),
                                 "model.safetensors": good()},
       "config_heads_mismatch/config.json", "-", "not divisible by num_attention_heads")


folder("config_vocab_string", {"config.json": dict(CFG, vocab_size="4"),
                               "model.safetensors": good()},
       "config_vocab_string/config.json", "-", "field 'vocab_size': expected an integer")
folder("config_layers_zero", {"config.json": dict(CFG, num_hidden_layers=0),
                              "model.safetensors": good()},
       "config_layers_zero/config.json", "-", "num_hidden_layers", "found 0")
folder("config_eps_negative", {"config.json": dict(CFG, rms_norm_eps=-1e-5),
                               "model.safetensors": good()},
       "config_eps_negative/config.json", "-", "rms_norm_eps", "expected >= 0")
folder("config_kv_heads", {"config.json": dict(CFG, num_attention_heads=4, num_key_value_heads=3),
                           "model.safetensors": good()},
       "config_kv_heads/config.json", "-", "not a multiple of num_key_value_heads 3")
folder("config_huge_int", {"config.json": b'{"model_type": "llama", "hidden_size": 1e30}',
                           "model.safetensors": good()},
       "config_huge_int/config.json", "-", "field 'hidden_size': expected an integer")
folder("config_empty", {"config.json": b"", "model.safetensors": good()},
       "config_empty/config.json", "-", "invalid JSON")
row("config_50mb_string", "inspect ${W}/gen/bigcfg", "${W}/gen/bigcfg/config.json",
    "limit is 16777216")
row("config_deep", "inspect ${W}/gen/deepcfg", "${W}/gen/deepcfg/config.json",
    "maximum parsing depth")

kind = "index"


def shard(names):
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for n in names:
        hdr[n] = t("F32", [2], off, off + 8)
        off += 8
    return st_bytes(hdr, bytes(off))


S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"


def index(wm):
    return {"metadata": {"total_size": 8 * len(wm)}, "weight_map": wm}


folder("index_missing_shard", {"config.json": CFG, S1: shard(["a"]),
                               "model.safetensors.index.json": index({"a": S1, "b": S2})},
       "index_missing_shard/model.safetensors.index.json", "b", "does not exist")
folder("index_two_shards", {"config.json": CFG, S1: shard(["a", "b"]), S2: shard(["b"]),
                            "model.safetensors.index.json": index({"a": S1, "b": S2})},
       "index_two_shards/model.safetensors.index.json", "b", "stored in two shards")
folder("index_wrong_shard", {"config.json": CFG, S1: shard(["a"]), S2: shard(["b"]),
                             "model.safetensors.index.json": index({"a": S2, "b": S1})},
       "index_wrong_shard/model.safetensors.index.json", "a",
       f"weight_map says shard '{S2}' but it is stored in '{S1}'")
folder("index_unlisted", {"config.json": CFG, S1: shard(["a", "c"]), S2: shard(["b"]),
                          "model.safetensors.index.json": index({"a": S1, "b": S2})},
       "index_unlisted/model.safetensors.index.json", "c", "missing from weight_map")
folder("index_listed_absent", {"config.json": CFG, S1: shard(["a"]), S2: shard(["b"]),
                               "model.safetensors.index.json": index({"a": S1, "b": S2, "z": S2})},
       "index_listed_absent/model.safetensors.index.json", "z", "is not stored there")
folder("index_path_escape", {"config.json": CFG, S1: shard(["a"]),
                             "model.safetensors.index.json": index({"a": "../" + S1})},
       "index_path_escape/model.safetensors.index.json", "a", "not a plain file name")
folder("index_pickle_shard", {"config.json": CFG, "model.safetensors.index.json":
                              index({"a": "pytorch_model-00001-of-00001.bin"})},
       "index_pickle_shard/model.safetensors.index.json", "a", "is not a .safetensors file")
folder("index_no_weight_map", {"config.json": CFG, S1: shard(["a"]),
                               "model.safetensors.index.json": {"metadata": {}}},
       "index_no_weight_map/model.safetensors.index.json", "-", "missing field 'weight_map'")
folder("index_duplicate_entry", {"config.json": CFG, S1: shard(["a"]),
                                 "model.safetensors.index.json":
                                 b'{"weight_map": {"a": "%s", "a": "%s"}}' % (S1.encode(), S2.encode())},
       "index_duplicate_entry/model.safetensors.index.json", "-", "duplicate object key near '\"a\"'")
folder("index_bad_shard", {"config.json": CFG, S1: shard(["a"]),
                           S2: struct.pack("<Q", 4096) + b"{}",
                           "model.safetensors.index.json": index({"a": S1, "b": S2})},
       "index_bad_shard/" + S2, "-", "runs past the end of the file")

folder("index_not_object", {"config.json": CFG, S1: shard(["a"]),
                            "model.safetensors.index.json": [S1]},
       "index_not_object/model.safetensors.index.json", "-", "expected a JSON object")
folder("index_map_not_object", {"config.json": CFG, S1: shard(["a"]),
                                "model.safetensors.index.json": {"weight_map": [S1]}},
       "index_map_not_object/model.safetensors.index.json", "-", "weight_map")
folder("index_shard_not_string", {"config.json": CFG, S1: shard(["a"]),
                                  "model.safetensors.index.json": index({"a": 1})},
       "index_shard_not_string/model.safetensors.index.json", "a", "not a file name string")
folder("index_invalid_json", {"config.json": CFG, S1: shard(["a"]),
                              "model.safetensors.index.json": b'{"weight_map": {"a": "x"'},
       "index_invalid_json/model.safetensors.index.json", "-", "invalid JSON")
folder("index_shard_is_dir", {"config.json": CFG, S1 + "/README": b"a folder\n",
                              "model.safetensors.index.json": index({"a": S1})},
       "index_shard_is_dir/" + S1, "-", "not a regular file")
row("shards_disagree_on_dtype", "inspect ${W}/gen/dtype_shards",
    "${W}/gen/dtype_shards/model-00002-of-00002.safetensors", "shards disagree on dtype", "is BF16",
    "model-00001-of-00002.safetensors holds F32")


# ---- GGUF files, opened with `mergeguard inspect FILE.gguf` ----
kind = "gguf"
U32, STR, ARR, U64, F32T = 4, 8, 9, 10, 6


def gstr(b):
    b = b if isinstance(b, bytes) else b.encode()
    return struct.pack("<Q", len(b)) + b


def gkv(key, t, payload):
    return gstr(key) + struct.pack("<I", t) + payload


def gguf(kvs=None, tensors=None, data=None, magic=b"GGUF", version=3, n_t=None, n_kv=None,
         align=32, cut=None):
    """A GGUF file: kvs are encoded key/values, tensors (name, dims, ggml type, offset)."""
    kvs = kvs if kvs is not None else [gkv("general.architecture", STR, gstr("llama")),
                                       gkv("general.alignment", U32, struct.pack("<I", align))]
    tensors = tensors if tensors is not None else [("w", [4], 0, 0)]
    head = magic + struct.pack("<I", version)
    head += struct.pack("<QQ", len(tensors) if n_t is None else n_t, len(kvs) if n_kv is None else n_kv)
    body = b"".join(kvs)
    for name, dims, typ, off in tensors:
        body += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        body += struct.pack("<IQ", typ, off)
    out = head + body
    out += bytes(-len(out) % 32)
    out += data if data is not None else bytes(16)
    return out[:cut] if cut is not None else out


def gcase(name, data, rule, *more):
    raw(name + ".gguf", data)
    row(name, "inspect ${D}/" + name + ".gguf", "${D}/" + name + ".gguf", rule, *more)


gcase("empty", b"", "magic at offset 0 needs 4 bytes, only 0 left")
gcase("bad_magic", gguf(magic=b"GGML"), "not a GGUF file")
gcase("version_4", gguf(version=4), "version 4")
gcase("tensor_count_huge", gguf(n_t=1 << 40), "cannot fit")
gcase("kv_count_huge", gguf(n_kv=1000), "cannot fit")
gcase("key_length_past_eof", gguf(kvs=[struct.pack("<Q", 1 << 30) + b"general"]), "needs")
gcase("value_type_unknown", gguf(kvs=[gkv("x", 99, b"")]), "unknown value type 99")
gcase("alignment_type", gguf(kvs=[gkv("general.alignment", 5, struct.pack("<i", 32))]), "expected UINT32")
gcase("alignment_not_pow2", gguf(align=24), "power of two")
gcase("too_many_dims", gguf(tensors=[("w", [1, 1, 1, 1, 4], 0, 0)]), "dimensions")
gcase("ggml_type_unknown", gguf(tensors=[("w", [4], 99, 0)]), "unsupported ggml type")
gcase("offset_misplaced", gguf(tensors=[("w", [4], 0, 32)], data=bytes(64)), "offset 32, expected 0")
gcase("data_past_end", gguf(tensors=[("w", [64], 0, 0)]), "past the end")
gcase("truncated_infos", gguf(cut=60), "needs")
gcase("dims_overflow", gguf(tensors=[("w", [1 << 32, 1 << 32, 16], 0, 0)]), "overflows")
gcase("string_length_huge", gguf(kvs=[gkv("general.name", STR, struct.pack("<Q", 1 << 62))]), "needs")
gcase("nested_array", gguf(kvs=[gkv("a", ARR, struct.pack("<IQ", ARR, 1) + struct.pack("<IQ", U32, 1) + bytes(4))]), "nested array")
gcase("array_count_huge", gguf(kvs=[gkv("a", ARR, struct.pack("<IQ", U32, 1 << 61))]), "does not fit in the file")
row("export_unsupported_arch", "export-gguf ${W}/gen/run_gpt2 ${O}", "${W}/gen/run_gpt2", "GPT2LMHeadModel")
row("export_unigram_tokenizer", "export-gguf ${W}/gen/run_unigram ${O}", "${W}/gen/run_unigram/tokenizer.json", "Unigram")
row("export_pickled_model", "export-gguf ${W}/src/merge_yaml/pickled ${O}", "${W}/src/merge_yaml/pickled/pytorch_model.bin", "executes arbitrary code")
gcase("duplicate_tensor", gguf(tensors=[("w", [4], 0, 0), ("w", [4], 0, 32)], data=bytes(48)), "'w' appears twice")
gcase("duplicate_key", gguf(kvs=[gkv("general.architecture", STR, gstr("llama")), gkv("general.architecture", STR, gstr("qwen2"))]), "'general.architecture' appears twice")
gcase("bool_value_2", gguf(kvs=[gkv("x", 7, b"\x02")]), "BOOL value 2")

HEADER = """# Generated by ../generate.py (edit that, not this file).
# NAME\tEXIT\tCOMMAND\tFILE NAMED\tWORDS... (see ../test_bad.c)
"""
total = 0
for k in KINDS:
    os.makedirs(os.path.join(HERE, k), exist_ok=True)
    with open(os.path.join(HERE, k, "CASES.tsv"), "w") as f:
        f.write(HEADER)
        for r in rows[k]:
            f.write("\t".join(r) + "\n")
    total += len(rows[k])
    print(f"{k}: {len(rows[k])} cases")
print(f"{total} cases")
