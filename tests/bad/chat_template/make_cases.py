#!/usr/bin/env python3
"""Writes the chat-template cases of the malformed-input suite: templates
(*.jinja), message files (*.json) and CASES.tsv. The model is the tiny-chat
tokenizer of tests/data/templates. Usage: python3 make_cases.py"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
M = "${DATA}/templates/tiny-chat"
CONV = "${D}/conv.json"
rows = []


def write(name, text):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def tmpl(name, text, *words, messages=CONV):
    """A template file rendered with the good conversation."""
    write(name + ".jinja", text)
    rows.append([name, "2", f"chat-template {M} --messages {messages} --chat-template ${{D}}/{name}.jinja",
                 f"${{D}}/{name}.jinja"] + list(words))


def msgs(name, text, *words, ext="json"):
    """A messages file rendered with the model's own template."""
    write(f"{name}.{ext}", text)
    rows.append([name, "2", f"chat-template {M} --messages ${{D}}/{name}.{ext}", f"${{D}}/{name}.{ext}"] + list(words))


for e in os.listdir(HERE):
    if e.endswith((".jinja", ".json")):
        os.remove(os.path.join(HERE, e))
write("conv.json", '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]')

# Errors the template asks for, or syntax errors.
tmpl("raise_exception", '{{ raise_exception("roles must alternate") }}', ":1:4: template raised: roles must alternate")
tmpl("unterminated_if", "{% if x %}unterminated", "missing {% endif %}")
tmpl("unsupported_filter", "{{ x | frobnicate }}", ":1:8: unsupported filter 'frobnicate'")
tmpl("unknown_tag", "{% frobnicate %}", ":1:")
tmpl("unterminated_string", '{{ "abc }}', ":1:")
tmpl("unclosed_expression", "{{ messages[0", ":1:")
tmpl("division_by_zero", "{{ 1 / 0 }}", ":1:", "division by zero")
tmpl("undefined_attribute_call", "{{ nothing.here() }}", ":1:")
tmpl("not_utf8", b"{{ 'caf\xe9' }}", "UTF-8")
tmpl("nul_byte", b"{{ 'a' }}\x00{{ 'b' }}", "a NUL byte at offset 9")
# Templates that would run forever or blow up: bounded (mg_template_limits).
tmpl("huge_range", "{% for i in range(1000000000) %}x{% endfor %}", ":1:13:", "range() of 1000000000 items exceeds the memory limit")
tmpl("nested_loops_forever", "{% set l = range(4000) %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}", "template used more than 268435456 bytes of memory")
tmpl("triple_loop_ranges", "{% for a in range(3000) %}{% for b in range(3000) %}{% for c in range(3000) %}{% endfor %}{% endfor %}{% endfor %}", "template used more than 268435456 bytes of memory")
tmpl("self_recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", ":1:20: template recursion too deep (more than 200 levels)")
tmpl("mutual_recursion", "{% macro f(n) %}{{ g(n) }}{% endmacro %}{% macro g(n) %}{{ f(n) }}{% endmacro %}{{ f(0) }}", "template recursion too deep (more than 200 levels)")
tmpl("exponential_macro", "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}", "template used more than 268435456 bytes of memory")
tmpl("doubling_string", '{% set ns = namespace(s="ab") %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}', "template used more than 268435456 bytes of memory")
tmpl("string_repetition", '{{ "a" * 1000000000 }}', ":1:8: string repetition too large")
tmpl("huge_output", '{% for i in range(100000) %}{{ "x" * 1000 }}{% endfor %}', "output")
tmpl("parens_100k", "{{ " + "(" * 100000 + "1" + ")" * 100000 + " }}", "template nested too deeply (more than 128 levels)")
tmpl("if_100k", "{% if true %}" * 100000 + "x" + "{% endif %}" * 100000, "template nested too deeply (more than 128 levels)")
tmpl("brackets_100k", "{{ " + "[" * 100000 + "]" * 100000 + " }}", "template nested too deeply (more than 128 levels)")
tmpl("not_100k", "{{ " + "not " * 100000 + "x }}", "template nested too deeply (more than 128 levels)")
tmpl("attributes_100k", "{{ x" + ".a" * 100000 + " }}", "expression nested too deeply (more than 512 levels)")
tmpl("filters_100k", "{{ x" + "|upper" * 100000 + " }}", "expression nested too deeply (more than 512 levels)")
tmpl("sums_100k", "{{ 1" + "+1" * 100000 + " }}", "expression nested too deeply (more than 512 levels)")
# A tokenizer_config.json given as --chat-template.
write("no_template_config.json", '{"bos_token": "<s>"}')
rows.append(["json_without_template", "2", f"chat-template {M} --messages {CONV} --chat-template ${{D}}/no_template_config.json",
             "${D}/no_template_config.json", 'without a "chat_template" string'])
write("loop_config.json", '{"chat_template": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"}')
rows.append(["json_template_recursion", "2", f"chat-template {M} --messages {CONV} --chat-template ${{D}}/loop_config.json",
             "${D}/loop_config.json: chat_template", "template recursion too deep"])
rows.append(["unknown_builtin", "2", f"chat-template {M} --messages {CONV} --chat-template nosuch", "-",
             "--chat-template 'nosuch': neither a built-in template"])
# Bad messages.
msgs("message_without_role", '[{"content": "no role"}]', 'chat message 0: expected an object with a string "role"')
msgs("role_not_string", '[{"role": 1, "content": "x"}]', "chat message 0")
msgs("messages_not_list", '{"role": "user", "content": "x"}', 'expected a JSON array of messages or an object with "messages"')
msgs("messages_string", '"hello"', ":1:7:", "'[' or '{' expected")
msgs("broken_json", '[{"role": "user", "content": "x"},', ":1:")
msgs("empty_file", "", ":1:")
msgs("messages_field_not_list", '{"messages": "hello"}', 'an object with "messages"')
rows.append(["messages_50mb", "2", f"chat-template {M} --messages ${{W}}/gen/big_messages.json",
             "${DATA}/templates/tiny-chat/tokenizer_config.json", "output"])
rows.append(["messages_nested_100k", "2", f"chat-template {M} --messages ${{W}}/gen/deep_messages.json",
             "${W}/gen/deep_messages.json", "maximum parsing depth"])
with open(os.path.join(HERE, "CASES.tsv"), "w") as f:
    f.write("# Generated by make_cases.py. mergeguard chat-template on bad templates and messages; see ../test_bad.c.\n")
    f.write("# NAME\tEXIT\tCOMMAND\tFILE NAMED\tWORDS...\n")
    for r in rows:
        f.write("\t".join(r) + "\n")
print(len(rows), "cases")
