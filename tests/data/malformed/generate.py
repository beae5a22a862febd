#!/usr/bin/env python3
"""Regenerates the malformed-input corpus in this folder (the files are
committed; CI never runs this). Each case is a file or a folder that mergeguard
must refuse with exit code 2 and one line naming the file, the tensor (when
one is at fault) and the rule. EXPECTED.tsv lists, per case:
    case  <TAB>  file the message must name  <TAB>  tensor or -  <TAB>  rule text
Paths are relative to this folder. Usage: python3 generate.py"""
import json, os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
rows = []


def path(name):
    return os.path.join(HERE, name)


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


def case(name, data, tensor, rule, names=None):
    raw(name, data)
    rows.append((name, names or name, tensor, rule))


def good(n=4, name="w"):
    return st_bytes({"__metadata__": {"format": "pt"}, name: t("F32", [n], 0, 4 * n)}, bytes(4 * n))


for entry in os.listdir(HERE):
    if entry not in ("generate.py",):
        p = path(entry)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

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

# ---- folders ----
CFG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
       "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 4}


def folder(name, files, msg_file, tensor, rule):
    os.makedirs(path(name), exist_ok=True)
    for fn, content in files.items():
        if isinstance(content, (dict, list)):
            content = json.dumps(content, indent=2).encode()
        raw(os.path.join(name, fn), content)
    rows.append((name, msg_file, tensor, rule))


folder("dir_empty", {"README.txt": b"A folder with neither config.json nor weights.\n"}, "dir_empty", "-", "no config.json and no *.safetensors")
folder("dir_no_config", {"model.safetensors": good()}, "dir_no_config", "-",
       "missing config.json")
folder("dir_no_weights", {"config.json": CFG}, "dir_no_weights", "-",
       "expected model.safetensors or model.safetensors.index.json")
folder("dir_pickle_only", {"config.json": CFG, "pytorch_model.bin": b"\x80\x02}q\x00."},
       "dir_pickle_only/pytorch_model.bin", "-", "executes arbitrary code")
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

with open(path("EXPECTED.tsv"), "w") as f:
    for r in rows:
        f.write("\t".join(r) + "\n")
print(f"{len(rows)} cases")
