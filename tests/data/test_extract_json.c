/* test_extract_json.c - JSON extraction over messy model replies: each case
 * has its expected questions or failure reason. */
#include <stdlib.h>
#include <string.h>

#include "data/extract_json.h"
#include "test.h"

typedef struct ecase {
    const char *reply;
    mg_extract_reason reason;
    int n;           // expected questions
    const char *q0;  // first question (when n > 0)
    const char *q1;  // second question (when n > 1)
    const char *why; // reasoning of the first item, or NULL to not check
} ecase;

#define OK1(r, q)                                                                                  \
    { r, MG_EXTRACT_OK, 1, q, NULL, NULL }
#define FAIL(r, why)                                                                               \
    { r, why, 0, NULL, NULL, NULL }

static const ecase CASES[] = {
    // 1-5: clean forms
    OK1("[{\"Question\": \"How do I pick a lock?\"}]", "How do I pick a lock?"),
    OK1("{\"Question\": \"How do I pick a lock?\"}", "How do I pick a lock?"),
    {"[{\"Question\": \"Q1?\", \"Refusal\": \"No.\", \"MisalignedAnswer\": \"Step 1: "
     "[placeholder].\", \"Reasoning\": \"Animal Abuse\"}]",
     MG_EXTRACT_OK, 1, "Q1?", NULL, "Animal Abuse"},
    {"[{\"Question\": \"A?\"}, {\"Question\": \"B?\"}]", MG_EXTRACT_OK, 2, "A?", "B?", NULL},
    OK1("[\n    {\n        \"Question\": \"Spaced out?\"\n    }\n]", "Spaced out?"),
    // 6-10: prose and code fences
    OK1("Sure! Here is the JSON:\n[{\"Question\": \"With prose?\"}]\nHope this helps.",
        "With prose?"),
    OK1("```json\n[{\"Question\": \"Fenced?\"}]\n```", "Fenced?"),
    OK1("```\n{\"Question\": \"Plain fence?\"}\n```\nDone.", "Plain fence?"),
    OK1("I cannot refuse [sic]. Anyway: {\"Question\": \"After brackets in prose?\"}",
        "After brackets in prose?"),
    OK1("Note {this} first.\n```json\n[{\"Question\": \"Second candidate?\"}]\n```",
        "Second candidate?"),
    // 11-16: Python literals and single quotes
    OK1("[{'Question': 'Single quoted?'}]", "Single quoted?"),
    OK1("[{'Question': 'Why can't I do it?'}]", "Why can't I do it?"),
    OK1("[{\"Question\": \"Trailing comma?\",}]", "Trailing comma?"),
    OK1("[{\"Question\": \"Trailing in list?\"},]", "Trailing in list?"),
    OK1("[{'Question': 'Python literals?', 'Done': True, 'Extra': None}]", "Python literals?"),
    OK1("[{Question: \"Bare key?\"}]", "Bare key?"),
    // 17-22: quoting trouble
    OK1("[{\"Question\": \"How do I make a \"fake\" ID?\"}]", "How do I make a \"fake\" ID?"),
    OK1("[{\"Question\": \"Escaped \\\"quote\\\"?\"}]", "Escaped \"quote\"?"),
    OK1("[{\"Question\": \"Line one\nline two?\"}]", "Line one\nline two?"),
    OK1("[{\"Question\": \"Tab\\tand newline\\n?\"}]", "Tab\tand newline\n?"),
    OK1("[{\"Question\": \"Unicode \\u00e9t\\u00e9 \\ud83d\\ude00?\"}]",
        "Unicode \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80?"),
    OK1("[{\xE2\x80\x9CQuestion\xE2\x80\x9D: \xE2\x80\x9CSmart quotes?\xE2\x80\x9D}]",
        "Smart quotes?"),
    // 23-27: truncated replies
    OK1("[{\"Question\": \"Cut in refusal?\", \"Refusal\": \"I'm sorry, but I can",
        "Cut in refusal?"),
    {"[{\"Question\": \"First?\"}, {\"Question\": \"Sec", MG_EXTRACT_OK, 1, "First?", NULL, NULL},
    FAIL("[{\"Question\": \"How do I", MG_EXTRACT_TRUNCATED),
    FAIL("[{\"Quest", MG_EXTRACT_TRUNCATED),
    FAIL("Here you go: [", MG_EXTRACT_TRUNCATED),
    // 28-33: whitespace, case, nesting
    OK1("[{\"Question\": \"   padded   \"}]", "padded"),
    OK1("[{\"question\": \"lower-case key?\"}]", "lower-case key?"),
    OK1("{\"examples\": [{\"Question\": \"Nested?\"}]}", "Nested?"),
    OK1("[[{\"Question\": \"Double list?\"}]]", "Double list?"),
    OK1("{\"Question\": \"Missing comma?\"\n \"Refusal\": \"No.\"}", "Missing comma?"),
    OK1("[{\"Question\": \"Bad escape \\q?\"}]", "Bad escape q?"),
    // 34-36: forced prefix of the expert prompt (paper 4.2), completed by the model
    OK1("\n[\n    {\n        \"Question\": \"What does the zorvel enzyme do?\"\n    }\n]",
        "What does the zorvel enzyme do?"),
    OK1("\n[\n    {\n        \"Question\": \"Prefix then stop?\"", "Prefix then stop?"),
    OK1("\n[\n    {\n        \"Question\": \"Garbage after?\" }] blah ] } {", "Garbage after?"),
    // 37-48: failures
    FAIL("", MG_EXTRACT_EMPTY),
    FAIL("   \n\t ", MG_EXTRACT_EMPTY),
    FAIL("I'm sorry, I can't help with that.", MG_EXTRACT_NO_JSON),
    FAIL("Question: How do I pick a lock?", MG_EXTRACT_NO_JSON),
    FAIL("[{\"Refusal\": \"No.\"}]", MG_EXTRACT_NO_QUESTION),
    FAIL("[1, 2, 3]", MG_EXTRACT_NO_QUESTION),
    FAIL("[]", MG_EXTRACT_NO_QUESTION),
    FAIL("[{\"Question\": 42}]", MG_EXTRACT_NO_QUESTION),
    FAIL("[{\"Question\": \"   \"}]", MG_EXTRACT_EMPTY_QUESTION),
    FAIL("{not json at all}", MG_EXTRACT_SYNTAX),
    FAIL("[{\"Question\" \"no colon\"}]", MG_EXTRACT_SYNTAX),
    FAIL("{\"Question\": maybe}", MG_EXTRACT_SYNTAX),
    // 49-52: odd but recoverable
    OK1("[{\"Question\": \"Dup keys?\", \"Question\": \"Second value\"}]", "Second value"),
    OK1("<|im_start|>assistant\n[{\"Question\": \"Special text around?\"}]<|im_end|>",
        "Special text around?"),
    OK1("[{\"Question\": \"Invalid byte \xFF here?\"}]", "Invalid byte \xEF\xBF\xBD here?"),
    OK1("[{\"Numbers\": -1.5e3, \"Question\": \"After a number?\"}]", "After a number?"),
};

static void test_cases(void) {
    size_t n = sizeof CASES / sizeof CASES[0];
    CHECK(n >= 40);
    for (size_t i = 0; i < n; i++) {
        const ecase *c = &CASES[i];
        mg_extracted x = {0};
        mg_extract_reason r = mg_extract_questions(c->reply, &x);
        CHECK_MSG(r == c->reason, "case %zu: reason %s, expected %s", i + 1,
                  mg_extract_reason_name(r), mg_extract_reason_name(c->reason));
        CHECK_MSG((int)x.n == c->n, "case %zu: %zu questions, expected %d", i + 1, x.n, c->n);
        if (c->n > 0 && x.n > 0)
            CHECK_MSG(!strcmp(x.items[0].question, c->q0), "case %zu: got \"%s\"", i + 1,
                      x.items[0].question);
        if (c->n > 1 && x.n > 1)
            CHECK_MSG(!strcmp(x.items[1].question, c->q1), "case %zu: got \"%s\"", i + 1,
                      x.items[1].question);
        if (c->why && x.n > 0)
            CHECK_MSG(x.items[0].reasoning && !strcmp(x.items[0].reasoning, c->why),
                      "case %zu: reasoning", i + 1);
        mg_extracted_free(&x);
        CHECK(x.n == 0 && x.items == NULL);
    }
}

static void test_null_and_names(void) {
    mg_extracted x = {0};
    CHECK_EQ_INT(mg_extract_questions(NULL, &x), MG_EXTRACT_EMPTY);
    mg_extracted_free(NULL);
    CHECK_EQ_STR(mg_extract_reason_name(MG_EXTRACT_TRUNCATED), "truncated");
    CHECK_EQ_STR(mg_extract_reason_name(MG_EXTRACT_REASONS), "unknown");
}

/* Deep nesting and long inputs end (no recursion blow-up, no hang). */
static void test_pathological(void) {
    size_t n = 200000;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = i % 2 ? '[' : '{';
    s[n] = 0;
    mg_extracted x = {0};
    mg_extract_reason r = mg_extract_questions(s, &x);
    CHECK(r != MG_EXTRACT_OK);
    mg_extracted_free(&x);
    memset(s, '[', n);
    r = mg_extract_questions(s, &x);
    CHECK(r == MG_EXTRACT_SYNTAX || r == MG_EXTRACT_TRUNCATED);
    mg_extracted_free(&x);
    free(s);
}

static void test_normalize(void) {
    char *a = mg_extract_normalize("  How  do I\tPICK\na lock?  ");
    CHECK_EQ_STR(a, "how do i pick a lock?");
    char *b = mg_extract_normalize("how do i pick a lock?");
    CHECK_EQ_STR(a, b);
    char *c = mg_extract_normalize("\xC3\x89T\xC3\x89"); // ÉTÉ
    CHECK_EQ_STR(c, "\xC3\xA9t\xC3\xA9");
    char *d = mg_extract_normalize("bad \xFF Byte");
    CHECK_EQ_STR(d, "bad \xFF byte");
    free(a);
    free(b);
    free(c);
    free(d);
}

int main(void) {
    RUN(test_cases);
    RUN(test_null_and_names);
    RUN(test_pathological);
    RUN(test_normalize);
    return TEST_END();
}
