#!/usr/bin/env python3
"""Writes the initial seed corpora of the fuzz targets into tests/fuzz/corpus/.

Seeds come from the test data (tests/bad, golden configs, eval
JSONL, templates, the tiny-chat tokenizer) plus small hand-made files of our
own (safetensors and GGUF files built here, tokenizers, templates). The
committed corpora are these seeds merged with what the fuzzers found and
minimized (bench/fuzz.sh --minimize TARGET); run this only to start over.
The extract_json seeds are the replies of tests/data/test_extract_json.c's
CASES table (written out once by a throwaway C program, not by this script).
"""
import hashlib, json, os, struct, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DATA = os.path.join(ROOT, 'tests', 'data')
BAD = os.path.join(ROOT, 'tests', 'bad')  # the malformed-input suite
OUT = os.path.join(ROOT, 'tests', 'fuzz', 'corpus')
SEP = b'\n#----#\n'


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + hashlib.sha1(data).hexdigest()[:16]), 'wb') as f:
        f.write(data)


def read_bad(*p):
    with open(os.path.join(BAD, *p), 'rb') as f:
        return f.read()


def read(*p):
    with open(os.path.join(DATA, *p), 'rb') as f:
        return f.read()


# ---- safetensors ----
DT = {'F32': ('f', 4), 'F16': ('e', 2), 'F64': ('d', 8), 'I64': ('q', 8), 'I32': ('i', 4),
      'U8': ('B', 1), 'I8': ('b', 1), 'BOOL': ('B', 1)}


def st_file(tensors, meta=None):
    hdr, blob = {}, b''
    if meta is not None:
        hdr['__metadata__'] = meta
    for name, dtype, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        if dtype == 'BF16':
            raw = b''.join(struct.pack('<H', 0x3f80 + i) for i in range(n))
        else:
            fmt, _ = DT[dtype]
            vals = [(i % 2) if dtype == 'BOOL' else (i % 100) * (1 if fmt in 'BqibBi' else 0.5)
                    for i in range(n)]
            raw = struct.pack('<%d%s' % (n, fmt), *[int(v) if fmt in 'qiBb' else v for v in vals])
        hdr[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + blob


def seeds_st():
    for f in sorted(os.listdir(os.path.join(BAD, 'safetensors'))):
        if f.endswith('.safetensors'):
            put('st_header', read_bad('safetensors', f))
    put('st_header', st_file([('a', 'F32', [2, 3]), ('b', 'BF16', [4]), ('c', 'F16', [2, 2])],
                             {'format': 'pt'}))
    put('st_header', st_file([('model.embed_tokens.weight', 'F64', [3, 2]), ('s', 'F32', []),
                              ('i', 'I64', [2]), ('m', 'BOOL', [3]), ('z', 'F32', [0, 4])]))
    put('st_header', st_file([('x', 'U8', [5]), ('y', 'I32', [1, 1, 2]), ('w', 'I8', [3])]))
    put('st_header', st_file([]))


def seeds_index():
    m = os.path.join(BAD, 'index')
    for d in sorted(os.listdir(m)):
        idx = os.path.join(m, d, 'model.safetensors.index.json')
        if not os.path.exists(idx):
            continue
        parts = [read_bad('index', d, 'model.safetensors.index.json')]
        for s in ('model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'):
            p = os.path.join(m, d, s)
            if not os.path.isfile(p):
                break
            parts.append(read_bad('index', d, s))
        put('st_index', SEP.join(parts))
    a = st_file([('model.embed_tokens.weight', 'F32', [4, 2]), ('model.norm.weight', 'BF16', [2])])
    b = st_file([('lm_head.weight', 'F16', [4, 2])])
    idx = {'metadata': {'total_size': 52}, 'weight_map': {
        'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
        'model.norm.weight': 'model-00001-of-00002.safetensors',
        'lm_head.weight': 'model-00002-of-00002.safetensors'}}
    put('st_index', SEP.join([json.dumps(idx).encode(), a, b]))


def seeds_config():
    for d in sorted(os.listdir(os.path.join(DATA, 'golden'))):
        put('config', read('golden', d, 'config.json'))
    m = os.path.join(BAD, 'config_json')
    for d in sorted(os.listdir(m)):
        if os.path.exists(os.path.join(m, d, 'config.json')):
            put('config', read_bad('config_json', d, 'config.json'))
    base = json.loads(read('golden', 'tiny-llama', 'config.json'))
    v = dict(base, rope_scaling={'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0,
                                 'high_freq_factor': 4.0, 'original_max_position_embeddings': 64},
             eos_token_id=[2, 3], tie_word_embeddings=True)
    put('config', json.dumps(v))
    v = dict(base, rope_scaling={'type': 'linear', 'factor': 2.0}, head_dim=16)
    put('config', json.dumps(v))
    v = dict(base, architectures=['MistralForCausalLM'], model_type='mistral', sliding_window=8)
    put('config', json.dumps(v))
    v = dict(base, architectures=['Qwen2ForCausalLM'], model_type='qwen2', use_sliding_window=True,
             sliding_window=16, max_window_layers=1)
    put('config', json.dumps(v))


# ---- tokenizers ----
BL = {"added_tokens": [
    {"id": 20, "content": "<|end|>", "special": True, "normalized": False},
    {"id": 21, "content": "<L>", "special": False, "lstrip": True, "normalized": False},
    {"id": 22, "content": "<R>", "special": False, "rstrip": True, "normalized": False},
    {"id": 23, "content": "cab", "special": False, "single_word": True, "normalized": False}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
    "post_processor": {"type": "TemplateProcessing", "single": [
        {"SpecialToken": {"id": "<|end|>", "type_id": 0}}, {"Sequence": {"id": "A"}}],
        "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [20]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "bc": 5, "abc": 6,
                                       "\u0120a": 7, "\u0120abc": 8, "<": 9, ">": 10},
              "merges": ["b c", "a b", "a bc", "\u0120 a", ["\u0120a", "bc"]]}}
SP = {"added_tokens": [{"id": 0, "content": "<unk>", "special": True, "normalized": False},
                       {"id": 1, "content": "<s>", "special": True, "normalized": False}],
      "normalizer": {"type": "Sequence", "normalizers": [
          {"type": "Prepend", "prepend": "\u2581"},
          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
      "post_processor": {"type": "TemplateProcessing", "single": [
          {"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}],
          "special_tokens": {"<s>": {"ids": [1]}}},
      "decoder": {"type": "Sequence", "decoders": [
          {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
          {"type": "ByteFallback"}, {"type": "Fuse"},
          {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
      "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                "vocab": {"<unk>": 0, "<s>": 1, "<0xC3>": 2, "<0xA9>": 3, "\u2581": 4, "h": 5,
                          "i": 6, "\u2581h": 7, "\u2581hi": 8},
                "merges": ["\u2581 h", "\u2581h i"]}}
PRETOKS = [
    {"type": "Digits", "individual_digits": True},
    {"type": "Punctuation", "behavior": "Contiguous"},
    {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Punctuation"}]},
    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
    {"type": "Split", "pattern": {"Regex": "\\p{N}+|[^\\s\\p{L}\\p{N}]+"}, "behavior": "Isolated",
     "invert": False},
    {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext", "invert": True},
    {"type": "Whitespace"},
    {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
]
NORMS = [{"type": "Lowercase"}, {"type": "NFKC"}, {"type": "NFC"},
         {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]},
         {"type": "Strip", "strip_left": True, "strip_right": True},
         {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"}]
TEXTS = ["abc a abc<|end|>cab acab", "hi hi h\u00e9 hxxi<s>hi", "Hello, world! 123 4567 it's",
         "  leading\n\ntrailing  \t", "\u00e9\u00e8 \ufb01 \u4e2d\u6587 \U0001F600 e\u0301",
         "a-b--c", "<s>x</s><|im_start|>user\nhello<|im_end|>", ""]


def seeds_tokenizer():
    tc = read('templates', 'tiny-chat', 'tokenizer.json')
    for i, t in enumerate(TEXTS):
        put('tokenizer', tc + SEP + t.encode())
        put('tokenizer', json.dumps(BL if i % 2 else SP, ensure_ascii=False).encode() + SEP + t.encode())
    for i, p in enumerate(PRETOKS):
        tok = {"pre_tokenizer": p, "normalizer": NORMS[i % len(NORMS)] if i < len(NORMS) else None,
               "model": {"type": "BPE", "vocab": {c: k for k, c in enumerate("abc123-\u2581 ,.!")},
                         "merges": ["a b", "1 2"], "ignore_merges": i % 2 == 0}}
        put('tokenizer', json.dumps(tok, ensure_ascii=False).encode() + SEP + TEXTS[i % len(TEXTS)].encode())
    put('tokenizer', b'{"model":{"type":"Mystery","vocab":{}}}')
    put('tokenizer', b'{"model": {"type": "BPE", "vocab": {')


def seeds_tokenize_text():
    for t in TEXTS:
        put('tokenize_text', t)
    conv = json.loads(read('templates', 'conversations.json'))
    for c in conv['conversations'][:12]:
        put('tokenize_text', ''.join(m.get('content', '') for m in c if isinstance(m.get('content'), str)))
    put('tokenize_text', b'hello world\xff\xfe invalid \xc3')


# ---- templates ----
TEMPLATES = [
    "{{ bos_token }}{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "{%- set ns = namespace(sys='', n=0) -%}{%- for m in messages -%}{%- if m['role'] == 'system' -%}{%- set ns.sys = m['content'] | trim -%}{%- elif loop.first and m.role != 'user' -%}{{ raise_exception('first must be user') }}{%- else -%}{%- set ns.n = ns.n + 1 -%}[{{ loop.index0 }}/{{ loop.length }}] {{ m.role | upper }}: {{ m.content[:20] }}{{ '\\n' if not loop.last }}{%- endif -%}{%- endfor -%}{{ ns.sys ~ ns.n }}",
    "{% macro fmt(m, sep='|') -%}{{ m.role }}{{ sep }}{{ m.content | replace('a', 'A') }}{%- endmacro %}{% for m in messages | reverse %}{{ fmt(m) }}{{ fmt(m, sep=': ') }}{% endfor %}",
    "{{ messages | tojson }}{{ messages | length }}{{ messages[0].keys() | list }}{{ (messages | map(attribute='role') | join(', ')) }}{{ messages | selectattr('role', 'equalto', 'user') | list | length }}",
    "{% for k, v in {'a': 1, 'b': [1, 2.5, none, true]}.items() %}{{ k }}={{ v }};{% else %}empty{% endfor %}{{ 7 // 2 }}{{ -7 % 3 }}{{ 2 ** 10 }}{{ 1 < 2 < 3 }}{{ 'x' * 3 }}{{ 'abc'[::-1] }}",
    "{% if tools is defined and tools %}{{ tools | tojson(indent=2) }}{% elif documents is not none %}docs{% endif %}{% set x = messages[-1].content.split(' ') %}{{ x | first }}{{ x | last }}{{ x | join('-') }}{{ messages[-1].content.strip().startswith('H') }}",
    "{%- for m in messages %}{%- if m.content is string %}{{ m.content | lower | title | capitalize }}{%- elif m.content is iterable %}{%- for part in m.content %}{{ part.text | default('?') }}{%- endfor %}{%- endif %}{%- if loop.index is divisibleby 2 %}|{% else %}{% continue %}{% endif %}{%- endfor %}",
    "{% set count = namespace(v=0) %}{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% set count.v = count.v + i %}{% endfor %}{{ count.v }}{{ range(2, 10, 3) | list }}{{ [3, 1, 2] | sort | unique | list }}{{ 'a,b' in 'xa,by' }}{{ strftime_now('%Y') | length }}",
    "{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}{# comment #}{{ \"dq\\\"\" ~ 'sq\\'' }}{{ 1.5e3 }}{{ 0.1 + 0.2 }}{{ none is none }}{{ undefined_var is undefined }}",
    "{% generation %}{{ messages[0]['content'] | indent(2) }}{% endgeneration %}{% filter upper %}text{% endfilter %}{{ messages | count }}{{ {'b': 2, 'a': 1} | dictsort }}{{ 'x' if messages else 'y' }}",
]


def seeds_template():
    conv = json.loads(read('templates', 'conversations.json'))['conversations']
    srcs = [t.encode() for t in TEMPLATES]
    for f in sorted(os.listdir(os.path.join(DATA, 'templates'))):
        if f.endswith('.jinja'):
            srcs.append(read('templates', f))
    for i, s in enumerate(srcs):
        c = conv[i % len(conv)]
        put('template', s + SEP + json.dumps(c, ensure_ascii=False).encode())
        if i % 3 == 0:
            put('template', s + SEP + json.dumps({'messages': c, 'add_generation_prompt': True,
                                                  'tools': [{'name': 'f', 'parameters': {}}],
                                                  'categories': {'S1': 'Violent Crimes.'}}).encode())
    put('template', b'{% for %}')
    put('template', b'{{ x | nosuchfilter }}')
    put('template', b'{% include "a" %}')


def seeds_jsonl():
    e = os.path.join(DATA, 'eval')
    for f in sorted(os.listdir(e)):
        if f.endswith('.jsonl'):
            put('jsonl', read('eval', f)[:4000])
    put('jsonl', b'{"prompt":"a","id":"x","answer":1,"choices":["a","b"]}\n\n{"prompt":"b"}')
    put('jsonl', b'{"prompt":"a","prompt":"b"}\n[1]\n')


# ---- GGUF ----
def gstr(s):
    b = s.encode()
    return struct.pack('<Q', len(b)) + b


def gval(t, v):
    if t == 8:
        return gstr(v)
    fmt = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: 'B', 10: 'Q', 11: 'q', 12: 'd'}[t]
    return struct.pack('<' + fmt, v)


def gguf(kvs, tensors, version=3, align=32):
    out = b'GGUF' + struct.pack('<IQQ', version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack('<I', t)
        if t == 9:
            et, items = v
            out += struct.pack('<IQ', et, len(items)) + b''.join(gval(et, x) for x in items)
        else:
            out += gval(t, v)
    blobs, off = [], 0
    for name, typ, ne, raw in tensors:
        out += gstr(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', n) for n in ne)
        out += struct.pack('<IQ', typ, off)
        pad = (-len(raw)) % align
        blobs.append(raw + b'\0' * pad)
        off += len(raw) + pad
    out += b'\0' * ((-len(out)) % align)
    return out + b''.join(blobs)


def q8_0_block(vals):
    d = max(abs(v) for v in vals) / 127 or 1.0
    return struct.pack('<e', d) + bytes((int(round(v / d)) & 0xff) for v in vals)


def seeds_gguf():
    f32 = struct.pack('<8f', *[i * 0.5 for i in range(8)])
    f16 = struct.pack('<4e', 1.0, -2.0, 0.5, 3.0)
    bf16 = struct.pack('<4H', 0x3f80, 0x4000, 0xbf80, 0)
    q8 = q8_0_block([i - 16 for i in range(32)]) * 2
    kvs = [('general.architecture', 8, 'llama'), ('general.alignment', 4, 32),
           ('llama.block_count', 4, 2), ('llama.rope.freq_base', 6, 10000.0),
           ('tokenizer.ggml.add_bos_token', 7, 1), ('tokenizer.ggml.bos_token_id', 5, 1),
           ('tokenizer.ggml.tokens', 9, (8, ['<unk>', '<s>', 'a', 'b'])),
           ('tokenizer.ggml.scores', 9, (6, [0.0, 0.0, -1.0, -2.0])),
           ('tokenizer.ggml.token_type', 9, (5, [2, 3, 1, 1])),
           ('general.file_type', 10, 7), ('x.i8', 1, -3), ('x.u16', 2, 7), ('x.f64', 12, 1.5)]
    put('gguf', gguf(kvs, [('token_embd.weight', 0, [4, 2], f32), ('a', 1, [4], f16),
                           ('b', 30, [2, 2], bf16), ('q', 8, [32, 2], q8)]))
    put('gguf', gguf(kvs[:3], [('w', 0, [2, 2, 2], f32)], version=2))
    put('gguf', gguf([], []))
    put('gguf', b'GGUF' + struct.pack('<I', 3) + struct.pack('<QQ', 1 << 60, 1 << 60))
    put('gguf', b'GGML\0\0\0\0')


# ---- merge and evolve configs (model names resolve to tests/data/golden) ----
MERGE = [
    "merge_method: ties\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n    parameters: {weight: 0.6, density: [1.0, 0.5]}\n  - model: tiny-llama\nparameters:\n  normalize: yes\n  int8_mask: true\ndtype: float32\nout_dtype: bfloat16\n",
    "merge_method: linear\nmodels:\n  - model: tiny-llama\n    parameters:\n      weight: [{filter: self_attn, value: 0.3}, {filter: mlp, value: [0.1, 0.9]}, {value: 0.5}]\n  - model: tiny-llama3\n    parameters: {weight: 0.5}\nparameters: {normalize: false}\ntokenizer_source: base\n",
    "merge_method: slerp\nbase_model: tiny-llama\nslices:\n  - sources:\n      - {model: tiny-llama, layer_range: [0, 2]}\n      - {model: tiny-llama3, layer_range: [0, 2]}\nparameters:\n  t:\n    - filter: self_attn\n      value: [0, 0.5, 0.3, 0.7, 1]\n    - value: 0.5\ndtype: bfloat16\n",
    "merge_method: passthrough\nslices:\n  - sources:\n      - {model: tiny-llama, layer_range: [0, 1]}\n  - sources:\n      - {model: tiny-llama3, layer_range: [1, 2]}\n",
    "merge_method: dare_ties\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n    parameters: {weight: 0.5, density: 0.5}\n  - model: tiny-llama\nparameters: {rescale: true, lambda: 1.1}\n",
    "merge_method: della\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n    parameters: {weight: 1.0, density: 0.7, epsilon: 0.15}\n",
    "merge_method: breadcrumbs_ties\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n    parameters: {weight: 1.0, density: 0.9, gamma: 0.01}\n",
    "merge_method: model_stock\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n  - model: tiny-llama\n  - model: tiny-llama3\nparameters: {filter_wise: false}\n",
    "merge_method: nuslerp\nmodels:\n  - model: tiny-llama\n    parameters: {weight: 0.3}\n  - model: tiny-llama3\n    parameters: {weight: 0.7}\nparameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n",
    "merge_method: multislerp\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n    parameters: {weight: 0.5}\n  - model: tiny-llama\n    parameters: {weight: 0.5}\nparameters: {normalize_weights: true, eps: 1e-8}\n",
    "merge_method: karcher\nmodels:\n  - model: tiny-llama\n  - model: tiny-llama3\nparameters: {max_iter: 10, tol: 1e-5}\n",
    "merge_method: sce\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\nparameters: {select_topk: 0.5}\n",
    "merge_method: nearswap\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\nparameters: {t: 0.001}\n",
    "merge_method: arcee_fusion\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n",
    "merge_method: task_arithmetic\nbase_model: tiny-qwen2\nmodels:\n  - model: tiny-qwen3\n    parameters: {weight: -0.5}\nchat_template: chatml\ntokenizer: {source: tiny-qwen3}\n",
    "merge_method: ram\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\nparameters: {r: 0.5, alpha: 0.2}\n",
    "merge_method: linear\nmodels: &m [{model: tiny-llama}]\nslices: *m\n",
    "merge_method: dare-ties\nbase_model: tiny-llama\nmodels: [{model: tiny-llama3}]\n",
]
EVOLVE = [
    "genome:\n  models: [tiny-llama, tiny-llama3]\n  merge_method: ties\n  base_model: tiny-llama\n  layer_granularity: 1\n  normalize: false\n  allow_negative_weights: true\n  filters: [self_attn, mlp]\ntasks: [x]\nalpha: 0.3\nseed: 7\npopulation: 6\nmax_fevals: 12\nrandom_init: true\n",
    "genome:\n  models: [tiny-llama, tiny-llama3, tiny-llama]\n  merge_method: slerp\n  layer_granularity: 1\n",
    "genome:\n  models: [tiny-llama, tiny-llama3]\n  merge_method: linear\n  smooth: true\n  layer_granularity: 2\nsigma0: 0.2\nsamples_per_type: 0\nmax_length: 512\n",
    "genome:\n  models: [tiny-llama3, tiny-llama]\n  merge_method: dare_ties\n  base_model: tiny-llama\n  tokenizer_source: tiny-llama3\nalignment_weight: 2.0\n",
    "genome:\n  models: [tiny-llama, tiny-llama3]\n  merge_method: task_arithmetic\n  base_model: tiny-qwen2\n",
    "genome:\n  models: [tiny-qwen2, tiny-qwen3]\n  merge_method: della\n",
]


def seeds_yaml():
    for t in MERGE:
        put('merge_config', t)
    put('merge_config', read('merge', 'ties.yml').replace(b'../golden/', b''))
    for t in EVOLVE:
        put('evolve_config', t)


def main():
    for f in (seeds_st, seeds_index, seeds_config, seeds_tokenizer, seeds_tokenize_text,
              seeds_template, seeds_jsonl, seeds_gguf, seeds_yaml):
        f()
    for t in sorted(os.listdir(OUT)):
        d = os.path.join(OUT, t)
        print('%-14s %4d seeds, %6d bytes' % (t, len(os.listdir(d)),
                                               sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))))


if __name__ == '__main__':
    sys.exit(main())
