#!/usr/bin/env python3
"""make_bigram.py - writes the scripted tiny models of the gen-data tests.

Each model is a 1-layer Llama whose attention and MLP outputs are zero, so
the logits depend only on the last token: a bigram chain over byte tokens of
the tiny-chat tokenizer (tests/data/templates/tiny-chat). State token k has a
one-hot embedding e_k; the final RMSNorm turns it into sqrt(d) e_k, and
lm_head column k holds the successor logits / sqrt(d). Successors with equal
logits are sampled uniformly (temperature 0.8), so the generator writes many
different questions, deterministically for a seed.

  gen       '\\n' -> {Question:"<letters>?"} then <|im_end|>   (a JSON writer)
  refuser   '\\n' -> I can't. then <|im_end|>                   (always refuses)
  babbler   '\\n' -> <letters>. then <|im_end|>                  (never JSON)

Usage: make_bigram.py OUT_DIR  (writes OUT_DIR/{gen,refuser,babbler}/...).
Standard library only; the outputs are committed as test fixtures.
"""
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOK_DIR = os.path.join(HERE, "..", "templates", "tiny-chat")
D = 32
L = 30.0  # logit of a successor; everything else 0


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def bf16(x):
    b = struct.pack("<f", x)
    u = struct.unpack("<I", b)[0]
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even
    return struct.pack("<H", u)


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (shape, vals) in tensors.items():
        data = b"".join(bf16(v) for v in vals)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def build(out, chain, vocab, eos):
    """chain: {state char: [(successor char or None for EOS, logit offset)]}"""
    b2u = bytes_to_unicode()
    tid = lambda ch: vocab[b2u[ord(ch)]]
    V = max(vocab.values()) + 1
    states = sorted(chain)
    assert len(states) <= D, len(states)
    emb = [0.0] * (V * D)
    head = [0.0] * (V * D)
    for k, s in enumerate(states):
        emb[tid(s) * D + k] = 1.0
        for succ, off in chain[s]:
            u = eos if succ is None else tid(succ)
            head[u * D + k] = (L + off) / math.sqrt(D)
    H, KV, HD, FF = 2, 1, 16, 64
    t = {
        "model.embed_tokens.weight": ([V, D], emb),
        "model.layers.0.input_layernorm.weight": ([D], [1.0] * D),
        "model.layers.0.self_attn.q_proj.weight": ([H * HD, D], [0.0] * (H * HD * D)),
        "model.layers.0.self_attn.k_proj.weight": ([KV * HD, D], [0.0] * (KV * HD * D)),
        "model.layers.0.self_attn.v_proj.weight": ([KV * HD, D], [0.0] * (KV * HD * D)),
        "model.layers.0.self_attn.o_proj.weight": ([D, H * HD], [0.0] * (D * H * HD)),
        "model.layers.0.post_attention_layernorm.weight": ([D], [1.0] * D),
        "model.layers.0.mlp.gate_proj.weight": ([FF, D], [0.0] * (FF * D)),
        "model.layers.0.mlp.up_proj.weight": ([FF, D], [0.0] * (FF * D)),
        "model.layers.0.mlp.down_proj.weight": ([D, FF], [0.0] * (D * FF)),
        "model.norm.weight": ([D], [1.0] * D),
        "lm_head.weight": ([V, D], head),
    }
    os.makedirs(out, exist_ok=True)
    write_st(os.path.join(out, "model.safetensors"), t)
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V,
        "hidden_size": D, "intermediate_size": FF, "num_hidden_layers": 1,
        "num_attention_heads": H, "num_key_value_heads": KV, "hidden_act": "silu",
        "bos_token_id": vocab["<s>"], "eos_token_id": eos, "torch_dtype": "bfloat16",
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "tie_word_embeddings": False,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(TOK_DIR, name)) as src, open(os.path.join(out, name), "w") as dst:
            dst.write(src.read())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    tok = json.load(open(os.path.join(TOK_DIR, "tokenizer.json")))
    vocab = dict(tok["model"]["vocab"])
    for a in tok["added_tokens"]:
        vocab[a["content"]] = a["id"]
    eos = vocab["<|im_end|>"]
    letters = "abcdfgklmpr "  # none of them occurs in "Question" or is a chain state below
    # gen: {Question:"<letters>?"}
    gen = {}
    word = "\n{Question:\""
    for a, b in zip(word, word[1:]):
        gen[a] = [(b, 0.0)]
    gen['"'] = [(c, 0.0) for c in letters if c != " "] + [("}", -1.0)]
    for c in letters:
        gen[c] = [(x, 0.0) for x in letters] + [("?", math.log(3.0))]
    gen["?"] = [('"', 0.0)]
    gen["}"] = [(None, 0.0)]
    build(os.path.join(out, "gen"), gen, vocab, eos)
    # refuser: I can't.
    ref = {}
    word = "\nI can't."
    for a, b in zip(word, word[1:]):
        ref[a] = [(b, 0.0)]
    ref["."] = [(None, 0.0)]
    build(os.path.join(out, "refuser"), ref, vocab, eos)
    # babbler: letters then '.'
    bab = {"\n": [(c, 0.0) for c in letters if c != " "]}
    for c in letters:
        bab[c] = [(x, 0.0) for x in letters] + [(".", -1.0)]
    bab["."] = [(None, 0.0)]
    build(os.path.join(out, "babbler"), bab, vocab, eos)


if __name__ == "__main__":
    main()
