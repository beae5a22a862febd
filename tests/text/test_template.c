/* test_template.c - every construct of the chat-template Jinja subset, its
 * Python formatting rules, and its errors (position + construct, no crash). */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "text/template.h"

static mg_status render_ex(const char *tmpl, const char *ctx, const mg_template_limits *lim,
                           char **out, mg_error *err) {
    mg_template *t = NULL;
    *out = NULL;
    mg_status st = mg_template_parse(tmpl, strlen(tmpl), "t", &t, err);
    if (st) return st;
    json_t *c = NULL;
    if (ctx) {
        json_error_t je;
        c = json_loads(ctx, 0, &je);
        if (!c) {
            fprintf(stderr, "bad test context JSON: %s\n", je.text);
            mg_template_free(t);
            return MG_ERR_RUNTIME;
        }
    }
    st = mg_template_render(t, c, lim, out, NULL, err);
    json_decref(c);
    mg_template_free(t);
    return st;
}

#define EXPECT(tmpl, ctx, want)                                                                    \
    do {                                                                                           \
        mg_error e_ = {0};                                                                         \
        char *o_ = NULL;                                                                           \
        mg_status s_ = render_ex((tmpl), (ctx), NULL, &o_, &e_);                                   \
        CHECK_MSG(s_ == MG_OK, "%s -> error %s", (tmpl), e_.msg);                                  \
        if (s_ == MG_OK)                                                                           \
            CHECK_MSG(!strcmp(o_, (want)), "%s -> [%s], want [%s]", (tmpl), o_, (want));           \
        free(o_);                                                                                  \
    } while (0)

#define EXPECT_ERR(tmpl, ctx, status, substr)                                                      \
    do {                                                                                           \
        mg_error e_ = {0};                                                                         \
        char *o_ = NULL;                                                                           \
        mg_status s_ = render_ex((tmpl), (ctx), NULL, &o_, &e_);                                   \
        CHECK_MSG(s_ == (status), "%s -> status %d (%s), want %d", (tmpl), s_, e_.msg, (status));  \
        CHECK_MSG(strstr(e_.msg, (substr)) != NULL, "%s -> message [%s] lacks [%s]", (tmpl),       \
                  e_.msg, (substr));                                                               \
        CHECK(o_ == NULL);                                                                         \
        free(o_);                                                                                  \
    } while (0)

static void test_text_and_output(void) {
    EXPECT("plain text", NULL, "plain text");
    EXPECT("", NULL, "");
    EXPECT("a\n", NULL, "a"); // one trailing newline dropped
    EXPECT("a\n\n", NULL, "a\n");
    EXPECT("{{ 'x' }}{{ \"y\" }}", NULL, "xy");
    EXPECT("{{ 'a' 'b' }}", NULL, "ab"); // adjacent literals
    EXPECT("{# comment #}x{# another #}", NULL, "x");
    EXPECT("{{ name }}", "{\"name\": \"Ada\"}", "Ada");
    EXPECT("[{{ missing }}]", NULL, "[]");
    EXPECT("{{ 'tab\\there\\n\\u00e9\\x41\\'\\\"\\\\' }}", NULL,
           "tab\there\n\xc3\xa9"
           "A'\"\\");
    EXPECT("{{ '\\ud83d\\ude00' }}", NULL, "\xf0\x9f\x98\x80");
    EXPECT("{{ '\\d' }}", NULL, "\\d");                       // unknown escapes kept, as Python
    EXPECT("{{ {'a': {'b': 1}} }}", NULL, "{'a': {'b': 1}}"); // '}}' inside a dict literal
}

static void test_python_formatting(void) {
    EXPECT("{{ true }} {{ False }} {{ none }} {{ None }}", NULL, "True False None None");
    EXPECT("{{ 1 }} {{ -3 }} {{ 2.5 }} {{ 1.0 }} {{ 10 / 4 }}", NULL, "1 -3 2.5 1.0 2.5");
    EXPECT("{{ x }}", "{\"x\": 1e16}", "1e+16");
    EXPECT("{{ x }}", "{\"x\": 0.0001}", "0.0001");
    EXPECT("{{ x }}", "{\"x\": 0.00001}", "1e-05");
    EXPECT("{{ x }}", "{\"x\": 0.1}", "0.1");
    EXPECT("{{ 0.1 + 0.2 }}", NULL, "0.30000000000000004");
    EXPECT("{{ [1, 'a', none, true, [2.0]] }}", NULL, "[1, 'a', None, True, [2.0]]");
    EXPECT("{{ ('a',) }} {{ (1, 2) }} {{ () }}", NULL, "('a',) (1, 2) ()");
    EXPECT("{{ {'k': \"it's\"} }}", NULL, "{'k': \"it's\"}");
    EXPECT("{{ ['a\\nb', 'q\\'\"'] }}", NULL, "['a\\nb', 'q\\'\"']");
    EXPECT("{{ d }}", "{\"d\": {\"b\": 1, \"a\": [true, null]}}", "{'b': 1, 'a': [True, None]}");
    EXPECT("{{ d.items() | list }}", "{\"d\": {\"x\": 1}}", "[('x', 1)]");
    EXPECT("{{ x }}", "{\"x\": 3.0}", "3.0"); // JSON reals stay floats (Python)
}

static void test_whitespace_control(void) {
    // trim_blocks: newline after a block tag removed; lstrip_blocks: indentation before it.
    EXPECT("{% if true %}\n  yes\n{% endif %}\nafter", NULL, "  yes\nafter");
    EXPECT("    {% if true %}x{% endif %}", NULL, "x");
    EXPECT("  {{ 'x' }}\n", NULL, "  x"); // expressions are not lstripped
    EXPECT("a  {%- if true -%}  b  {%- endif -%}  c", NULL, "abc");
    EXPECT("a \n {{- 'b' -}} \n c", NULL, "abc");
    EXPECT("a {#- c -#} b", NULL, "ab");
    EXPECT("{% for i in [1,2] %}\n{{ i }}\n{% endfor %}", NULL, "1\n2\n");
    EXPECT("x{% generation %} y {% endgeneration %}z", NULL, "x y z");
    EXPECT("x {%- generation -%} y", NULL, "xy");
    EXPECT("a\r\n  {% if true %}b{% endif %}", NULL, "a\r\nb");
}

static void test_if(void) {
    EXPECT("{% if x %}a{% elif y %}b{% else %}c{% endif %}", "{\"x\": 0, \"y\": \"s\"}", "b");
    EXPECT("{% if x %}a{% elif y %}b{% else %}c{% endif %}", "{\"x\": [], \"y\": {}}", "c");
    EXPECT("{% if x %}a{% endif %}", "{\"x\": [0]}", "a");
    EXPECT("{% if not x %}empty{% endif %}", "{\"x\": \"\"}", "empty");
    EXPECT("{% if a and b or c %}1{% else %}0{% endif %}", "{\"a\": 1, \"b\": 0, \"c\": 1}", "1");
    EXPECT("{{ 0 or 'd' }} {{ 'x' and 'y' }} {{ [] and 1 }}", NULL, "d y []");
    EXPECT("{% if undefined_thing %}a{% else %}b{% endif %}", NULL, "b");
}

static void test_for(void) {
    EXPECT("{% for x in xs %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ "
           "loop.length }}|{% endfor %}",
           "{\"xs\": [\"a\", \"b\"]}", "01TrueFalse2|12FalseTrue2|");
    EXPECT("{% for x in xs %}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.previtem }}{{ "
           "loop.nextitem }},{% endfor %}",
           "{\"xs\": [1, 2, 3]}", "322,2113,102,");
    EXPECT("{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}", "{\"xs\": [1, 2, 3]}",
           "2232");
    EXPECT("{% for x in xs %}{{ x }}{% else %}none{% endfor %}", "{\"xs\": []}", "none");
    EXPECT("{% for x in missing %}{{ x }}{% else %}none{% endfor %}", NULL, "none");
    EXPECT("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
           "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1;a=2;");
    EXPECT("{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "ba");
    EXPECT("{% for c in 'héj' %}[{{ c }}]{% endfor %}", NULL, "[h][\xc3\xa9][j]");
    EXPECT("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break "
           "%}{% endif %}{{ i }}{% endfor %}",
           NULL, "02");
    EXPECT("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", NULL, "37");
    EXPECT("{% for x in [1,2] %}{% for y in [3,4] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% "
           "endfor %}",
           NULL, "121122");
    EXPECT("{% for i in range(2, 8, 3) %}{{ i }}{% endfor %}{% for i in range(3, 0, -1) %}{{ i "
           "}}{% endfor %}",
           NULL, "25321");
}

static void test_set_and_scopes(void) {
    EXPECT("{% set x = 1 %}{% set y = x + 1 %}{{ y }}", NULL, "2");
    // set inside a loop does not leak out of it (Llama Guard relies on this)
    EXPECT("{% set r = 'out' %}{% for i in [1] %}{% set r = 'in' %}{{ r }}{% endfor %}{{ r }}",
           NULL, "inout");
    // but survives from one iteration to the next
    EXPECT(
        "{% for i in [1, 2] %}{% if i == 1 %}{% set s = 'kept' %}{% endif %}{{ s }};{% endfor %}",
        NULL, "kept;kept;");
    // if blocks share the enclosing scope
    EXPECT("{% if true %}{% set z = 5 %}{% endif %}{{ z }}", NULL, "5");
    EXPECT("{% set ns = namespace(found=false, n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + "
           "i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }} {{ "
           "ns.n }}",
           NULL, "True 6");
    EXPECT("{% set a, b = 1, 2 %}{{ a }}{{ b }}", NULL, "12");
    EXPECT("{% set block %}x{{ 1 + 1 }}y{% endset %}[{{ block }}]", NULL, "[x2y]");
    EXPECT("{% set messages = messages[1:] %}{{ messages | length }}", "{\"messages\": [1, 2, 3]}",
           "2");
    EXPECT_ERR("{% set s = 'x' %}{% set s.attr = 1 %}", NULL, MG_ERR_INVALID, "namespace");
}

static void test_macros(void) {
    EXPECT("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ "
           "greet('Ada') }} {{ greet('Bob', punct='?') }} {{ greet(name='Cy', punct='.') }}",
           NULL, "Hi Ada! Hi Bob? Hi Cy.");
    EXPECT("{% macro m() %}{{ varargs | length }}{{ kwargs.k }}{% endmacro %}{{ m(1, 2, k='v') }}",
           NULL, "2v");
    EXPECT("{% macro outer(x) %}<{{ x }}>{% endmacro %}{% for i in [1, 2] %}{{ outer(i) }}{% "
           "endfor %}",
           NULL, "<1><2>");
    EXPECT("{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ "
           "rec(3) }}",
           NULL, "321");
    // macros see the caller's variables (dynamic scope, as @huggingface/jinja)
    EXPECT("{% macro show() %}{{ v }}{% endmacro %}{% for v in ['a'] %}{{ show() }}{% endfor %}",
           NULL, "a");
}

static void test_literals_access_slicing(void) {
    EXPECT("{{ [1, 2, 3][0] }}{{ [1, 2, 3][-1] }}{{ [1][5] }}", NULL, "13");
    EXPECT("{{ {'a': 1}['a'] }}{{ {'a': 1}.a }}{{ {'a': 1}.b }}", NULL, "11");
    EXPECT("{{ m.content }}{{ m['role'] }}", "{\"m\": {\"role\": \"user\", \"content\": \"hi\"}}",
           "hiuser");
    EXPECT("{{ xs.0 }}", "{\"xs\": [\"zero\"]}", "zero");
    EXPECT("{{ xs[1:] }}{{ xs[:1] }}{{ xs[::-1] }}{{ xs[-2:] }}{{ xs[::2] }}",
           "{\"xs\": [1, 2, 3]}", "[2, 3][1][3, 2, 1][2, 3][1, 3]");
    EXPECT("{{ 'héllo'[1] }}{{ 'héllo'[1:3] }}{{ 'héllo'[::-1] }}{{ 'abc'[-1] }}", NULL,
           "\xc3\xa9\xc3\xa9loll\xc3\xa9hc");
    EXPECT("{{ undefined_var.attr.deeper }}|{{ none_var['x'] }}", "{\"none_var\": null}", "|");
    EXPECT("{{ messages[0].role }}", "{\"messages\": []}", ""); // undefined, not an error
}

static void test_operators(void) {
    EXPECT("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** "
           "-1 }}",
           NULL, "3 -4 1 2 -2 1024 0.5");
    EXPECT("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7.5 // 2 }} {{ -2 ** 2 }}", NULL, "7 9 3.0 4");
    EXPECT("{{ 'a' ~ 1 ~ none ~ true }}", NULL, "a1NoneTrue");
    EXPECT("{{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 'n' + 1 }}", NULL,
           "ab [1, 2] abab n1");
    EXPECT("{{ 1 + 2 ~ 3 }}", NULL, "123"); // ~ binds tighter than +: 1 + (2 ~ 3)
    EXPECT("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ 1 != 2 }}", NULL,
           "True False True True True");
    EXPECT("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 1 "
           "in missing }}",
           NULL, "True True True True False");
    EXPECT("{{ 'x' if c else 'y' }}{{ 'z' if not c }}", "{\"c\": false}", "yz");
    EXPECT("{{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ none == none }} {{ 0 == false }} "
           "{{ '1' == 1 }}",
           NULL, "True True True True False");
    EXPECT_ERR("{{ 1 / 0 }}", NULL, MG_ERR_INVALID, "division by zero");
    EXPECT_ERR("{{ 'a' - 1 }}", NULL, MG_ERR_INVALID,
               "unsupported operand types for -: str and int");
    EXPECT_ERR("{{ x + 1 }}", NULL, MG_ERR_INVALID, "undefined value: x");
    EXPECT_ERR("{{ 9223372036854775807 + 1 }}", NULL, MG_ERR_INVALID, "overflow");
}

static void test_filters(void) {
    EXPECT("{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'héllo' | length }}|{{ [1, 2] | "
           "length }}|{{ {'a': 1} | count }}",
           NULL, "a b|a|5|2|1");
    EXPECT("{{ 'MiXed' | upper }} {{ 'MiXed' | lower }} {{ 'hello wORLD-x' | title }} {{ 'hELLO "
           "world' | capitalize }}",
           NULL, "MIXED mixed Hello World-X Hello world");
    EXPECT("{{ missing | default('d') }} {{ '' | default('e') }} {{ '' | default('f', true) }} {{ "
           "none | d('g', boolean=true) }}",
           NULL, "d  f g");
    EXPECT("{{ [1, 'a', none] | join(', ') }} {{ ['x', 'y'] | join }} {{ users | join(',', "
           "attribute='name') }}",
           "{\"users\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}", "1, a, None xy a,b");
    EXPECT("{{ {'b': 1, 'a': [1, 'é', none, true, 1.5]} | tojson }}", NULL,
           "{\"b\": 1, \"a\": [1, \"é\", null, true, 1.5]}");
    EXPECT("{{ {'a': [1, 2], 'b': {}} | tojson(indent=2) }}", NULL,
           "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
    EXPECT("{{ 'é\"\\n' | tojson }} {{ 'é' | tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2} | "
           "tojson(sort_keys=true) }}",
           NULL, "\"é\\\"\\n\" \"\\u00e9\" {\"a\": 2, \"b\": 1}");
    EXPECT("{{ {'a': 1} | tojson(separators=(',', ':')) }}", NULL, "{\"a\":1}");
    EXPECT("{% for k, v in {'x': 1, 'y': 2} | items %}{{ k }}{{ v }}{% endfor %}", NULL, "x1y2");
    EXPECT("{{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}{{ 'abc' | first }}{{ [] | first }}", NULL,
           "32a");
    EXPECT("{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'ab' | "
           "replace('', '-') }}",
           NULL, "bbb bba -a-b-");
    EXPECT("{{ 5 | string }}{{ none | string }}{{ [1] | string }}", NULL, "5None[1]");
    EXPECT("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} "
           "{{ true | int }} {{ '1_000' | int }}",
           NULL, "42 4 0 7 3 1 1000");
    EXPECT("{{ '2.5' | float }} {{ 2 | float }} {{ 'x' | float }}", NULL, "2.5 2.0 0.0");
    EXPECT(
        "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}",
        "{\"msgs\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", "
        "\"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}]}",
        "a,c");
    EXPECT("{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }} {{ msgs | "
           "selectattr('flag') | list | length }}",
           "{\"msgs\": [{\"role\": \"user\", \"flag\": true}, {\"role\": \"tool\"}]}", "1 1");
    EXPECT("{{ xs | map(attribute='a.b', default='?') | list }}",
           "{\"xs\": [{\"a\": {\"b\": 1}}, {}]}", "[1, '?']");
    EXPECT("{{ ['a', 'B'] | map('upper') | join }}", NULL, "AB");
    EXPECT(
        "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3] | reject('equalto', 2) | list }}",
        NULL, "[1, 3] [1, 3]");
    EXPECT("{{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ xs | "
           "sort(attribute='n') | map(attribute='n') | list }}",
           "{\"xs\": [{\"n\": 2}, {\"n\": 1}]}", "['A', 'b', 'c'] [3, 2, 1] [1, 2]");
    EXPECT("{{ [1, 2, 1, 3] | unique | list }} {{ [1, 2] | reverse | list }} {{ 'abc' | reverse }}",
           NULL, "[1, 2, 3] [2, 1] cba");
    EXPECT("{{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ [1, 2, 3] | sum }} {{ [3, "
           "1] | min }}{{ [3, 1] | max }}",
           NULL, "3 2.57 2.0 6 13");
    EXPECT("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}", NULL,
           "a\n  b\n\n  c|  a\n  b");
    EXPECT("{{ {'b': 1, 'a': 2} | dictsort }} {{ 'x' | safe }} {{ 'a b  c' | wordcount }}", NULL,
           "[('a', 2), ('b', 1)] x 3");
    EXPECT("{% filter upper %}abc{{ 'd' }}{% endfilter %}", NULL, "ABCD");
}

static void test_tests(void) {
    EXPECT("{{ x is defined }}{{ y is undefined }}{{ n is none }}{{ n is not none }}",
           "{\"x\": 1, \"n\": null}", "TrueTrueTrueFalse");
    EXPECT("{{ 's' is string }}{{ 1 is number }}{{ 1.5 is number }}{{ true is boolean }}{{ true is "
           "true }}{{ 0 is false }}",
           NULL, "TrueTrueTrueTrueTrueFalse");
    EXPECT("{{ {} is mapping }}{{ [] is mapping }}{{ [] is iterable }}{{ 's' is iterable }}{{ 1 is "
           "iterable }}{{ [] is sequence }}",
           NULL, "TrueFalseTrueTrueFalseTrue");
    EXPECT("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby(3) }}{{ 9 is divisibleby 4 }}{{ 2 is "
           "integer }}{{ 2.0 is float }}",
           NULL, "TrueTrueTrueFalseTrueTrue");
    EXPECT("{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ range is callable }}{{ 1 is eq 1 }}{{ 2 is "
           "in [1, 2] }}{{ none is sameas none }}",
           NULL, "TrueTrueTrueTrueTrueTrue");
}

static void test_methods(void) {
    EXPECT("[{{ '  x  '.strip() }}][{{ '  x  '.lstrip() }}][{{ '  x  '.rstrip() }}][{{ "
           "'xxaxx'.strip('x') }}]",
           NULL, "[x][x  ][  x][a]");
    // Python's lstrip('\n') strips only newlines (@huggingface/jinja ignores the argument)
    EXPECT("[{{ '\n  a'.lstrip('\n') }}][{{ 'a\n\n'.rstrip('\n') }}]", NULL, "[  a][a]");
    EXPECT(
        "{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('bc') }}{{ 'abc'.startswith(('x', 'a')) }}",
        NULL, "TrueTrueTrue");
    EXPECT("{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'a,b,c'.split(',', 1) }}", NULL,
           "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c']");
    EXPECT("{{ 'x</think>y'.split('</think>')[-1] }}", NULL, "y");
    EXPECT("{{ 'aXa'.replace('a', 'b') }} {{ 'Hello'.upper() }}{{ 'Hello'.lower() }} {{ \"they're "
           "bill's\".title() }}",
           NULL, "bXb HELLOhello They'Re Bill'S");
    EXPECT("{{ ', '.join(['a', 'b']) }} {{ 'abcb'.find('b') }} {{ 'abcb'.count('b') }} {{ "
           "'hELLO'.capitalize() }}",
           NULL, "a, b 1 2 Hello");
    EXPECT("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys() | list }} {{ "
           "d.values() | list }}",
           "{\"d\": {\"a\": 1, \"b\": 2}}", "1 None 5 ['a', 'b'] [1, 2]");
    EXPECT("{{ 'abc'.nosuch }}|", NULL, "|");
    EXPECT_ERR("{{ 'abc'.nosuch() }}", NULL, MG_ERR_INVALID, "not callable");
}

static void test_globals(void) {
    EXPECT("{{ range(3) | list }} {{ dict(a=1) }}", NULL, "[0, 1, 2] {'a': 1}");
    EXPECT_ERR("{{ raise_exception('Conversation roles must alternate') }}", NULL, MG_ERR_INVALID,
               "t:1:4: template raised: Conversation roles must alternate");
    EXPECT("{{ strftime_now('%Y') | length }}", NULL, "4");
    EXPECT("{% if false %}{{ raise_exception('no') }}{% endif %}ok", NULL, "ok");
}

static void test_parse_errors(void) {
    EXPECT_ERR("a\n{% if x %}b", NULL, MG_ERR_INVALID,
               "t:2:12: unterminated {% if %} opened at 2:1: missing {% endif %}");
    EXPECT_ERR("{% for x in y %}", NULL, MG_ERR_INVALID, "missing {% endfor %}");
    EXPECT_ERR("{% macro m() %}x", NULL, MG_ERR_INVALID, "missing {% endmacro %}");
    EXPECT_ERR("{{ 'abc }}", NULL, MG_ERR_INVALID, "t:1:4: unterminated string literal");
    EXPECT_ERR("ab {{ x ", NULL, MG_ERR_INVALID, "t:1:4: unterminated expression");
    EXPECT_ERR("{% if x ", NULL, MG_ERR_INVALID, "unterminated statement");
    EXPECT_ERR("{# never closed", NULL, MG_ERR_INVALID, "unterminated comment");
    EXPECT_ERR("{% endif %}", NULL, MG_ERR_INVALID, "t:1:1: unexpected {% endif %}");
    EXPECT_ERR("{% for x in y %}{% endif %}{% endfor %}", NULL, MG_ERR_INVALID,
               "unexpected {% endif %} inside {% for %}");
    EXPECT_ERR("{{ x | nosuchfilter }}", NULL, MG_ERR_UNSUPPORTED,
               "t:1:8: unsupported filter 'nosuchfilter'");
    EXPECT_ERR("{{ x is nosuchtest }}", NULL, MG_ERR_UNSUPPORTED, "unsupported test 'nosuchtest'");
    EXPECT_ERR("line1\n  {% call foo() %}x{% endcall %}", NULL, MG_ERR_UNSUPPORTED,
               "t:2:3: unsupported statement {% call %}");
    EXPECT_ERR("{% include 'x.jinja' %}", NULL, MG_ERR_UNSUPPORTED,
               "unsupported statement {% include %}");
    EXPECT_ERR("{% frobnicate %}", NULL, MG_ERR_INVALID, "unexpected statement {% frobnicate %}");
    EXPECT_ERR("{{ 1 + }}", NULL, MG_ERR_INVALID, "expected an expression");
    EXPECT_ERR("{{ f(a=1, 2) }}", NULL, MG_ERR_INVALID, "positional argument after keyword");
    EXPECT_ERR("{{ x $ y }}", NULL, MG_ERR_INVALID, "unexpected character '$'");
    EXPECT_ERR("{% set x %}", NULL, MG_ERR_INVALID, "missing {% endset %}");
    EXPECT_ERR("{{ [1, 2 }}", NULL, MG_ERR_INVALID, "']' closing the list literal");
    const char bad_utf8[] = "abc\xff";
    EXPECT_ERR(bad_utf8, NULL, MG_ERR_INVALID, "not valid UTF-8");
}

static void test_runtime_errors(void) {
    EXPECT_ERR("{{ none.x + 1 }}", NULL, MG_ERR_INVALID, "undefined value");
    EXPECT_ERR("x\n  {{ [1] < 'a' }}", NULL, MG_ERR_INVALID, "t:2:6: cannot compare list with str");
    EXPECT_ERR("{% for x in 5 %}{% endfor %}", NULL, MG_ERR_INVALID, "int is not iterable");
    EXPECT_ERR("{{ nofunc() }}", NULL, MG_ERR_INVALID,
               "'nofunc' is undefined and cannot be called");
    EXPECT_ERR("{{ [] | tojson(indent='x') }}", NULL, MG_ERR_INVALID,
               "tojson indent must be an integer");
    EXPECT_ERR("{{ 'a'.startswith(1) }}", NULL, MG_ERR_INVALID,
               "startswith() argument must be a string");
}

static void test_limits(void) {
    mg_template_limits lim = mg_template_default_limits();
    mg_error err = {0};
    char *out = NULL;
    lim.max_steps = 10000;
    CHECK(render_ex("{% for i in range(100) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}",
                    NULL, &lim, &out, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "evaluation steps") != NULL);
    CHECK(out == NULL);
    lim = mg_template_default_limits();
    lim.max_output = 1000;
    CHECK(render_ex("{% for i in range(2000) %}x{% endfor %}", NULL, &lim, &out, &err) ==
          MG_ERR_INVALID);
    CHECK(strstr(err.msg, "output limit") != NULL);
    lim = mg_template_default_limits();
    lim.max_memory = 1 << 20;
    CHECK(render_ex("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ "
                    "ns.s %}{% endfor %}",
                    NULL, &lim, &out, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "memory") != NULL);
    CHECK(render_ex("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", NULL, NULL, &out,
                    &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "recursion too deep") != NULL);
    CHECK(render_ex("{{ range(10000000000) }}", NULL, NULL, &out, &err) == MG_ERR_INVALID);
    CHECK(render_ex("{{ 'x' * 10000000000 }}", NULL, NULL, &out, &err) == MG_ERR_INVALID);
    CHECK(render_ex("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}", NULL, NULL,
                    &out, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "nested too deeply") != NULL);
    // deep nesting in the source is refused at parse time, not by overflowing the stack
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 16);
    strcpy(deep, "{{ ");
    size_t o = 3;
    for (size_t i = 0; i < depth; i++)
        deep[o++] = '(';
    deep[o++] = '1';
    for (size_t i = 0; i < depth; i++)
        deep[o++] = ')';
    strcpy(deep + o, " }}");
    CHECK(render_ex(deep, NULL, NULL, &out, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "nested too deeply") != NULL);
    // long left-leaning operator chains too
    o = 0;
    strcpy(deep, "{{ 1");
    o = 4;
    for (size_t i = 0; i < 2000 && o + 4 < depth * 2; i++) {
        deep[o++] = '+';
        deep[o++] = '1';
    }
    strcpy(deep + o, " }}");
    CHECK(render_ex(deep, NULL, NULL, &out, &err) == MG_ERR_INVALID);
    free(deep);
    CHECK(out == NULL);
}

static void test_reuse_and_context(void) {
    // one parse, many renders with different contexts
    const char *src = "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}{% if "
                      "add_generation_prompt %}A:{% endif %}";
    mg_template *t = NULL;
    mg_error err = {0};
    CHECK_OK(mg_template_parse(src, strlen(src), "chat", &t, &err), &err);
    for (int k = 0; k < 3; k++) {
        json_t *ctx = json_pack("{s:[{s:s,s:s}],s:b}", "messages", "role", "user", "content",
                                k ? "b" : "a", "add_generation_prompt", k == 2);
        char *out = NULL;
        size_t len = 0;
        CHECK_OK(mg_template_render(t, ctx, NULL, &out, &len, &err), &err);
        const char *want = k == 0 ? "user:a;" : k == 1 ? "user:b;" : "user:b;A:";
        CHECK_EQ_STR(out, want);
        CHECK_EQ_INT(len, strlen(want));
        free(out);
        json_decref(ctx);
    }
    json_t *bad = json_array();
    char *out = NULL;
    CHECK(mg_template_render(t, bad, NULL, &out, NULL, &err) == MG_ERR_INVALID);
    json_decref(bad);
    mg_template_free(t);
    mg_template_free(NULL);
}

int main(void) {
    RUN(test_text_and_output);
    RUN(test_python_formatting);
    RUN(test_whitespace_control);
    RUN(test_if);
    RUN(test_for);
    RUN(test_set_and_scopes);
    RUN(test_macros);
    RUN(test_literals_access_slicing);
    RUN(test_operators);
    RUN(test_filters);
    RUN(test_tests);
    RUN(test_methods);
    RUN(test_globals);
    RUN(test_parse_errors);
    RUN(test_runtime_errors);
    RUN(test_limits);
    RUN(test_reuse_and_context);
    return TEST_END();
}
