/* test.h - the in-house assert header for unit tests.
 *
 * Each test executable defines static void test_xxx(void) functions, runs
 * them with RUN(test_xxx) from main, and returns TEST_END(), which prints the
 * closing line "tests: N passed, N failed" and gives a non-zero exit status on
 * any failure. A failed CHECK marks the current test failed and continues. */
#ifndef MG_TEST_H
#define MG_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed_, test_failed_, test_cur_failed_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, %s == %lld\n", __FILE__,      \
                    __LINE__, #a, a_, #b, b_);                                                     \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            fprintf(stderr, "%s:%d: CHECK_EQ_STR failed: %s == \"%s\", %s == \"%s\"\n", __FILE__,  \
                    __LINE__, #a, a_ ? a_ : "(null)", #b, b_ ? b_ : "(null)");                     \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s == %.9g, %s == %.9g (tol %g)\n",         \
                    __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol));                            \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

/* Checks that a call returned MG_OK, printing the error message otherwise. */
#define CHECK_OK(call, errp)                                                                       \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__, #call, rc_,         \
                    (errp)->msg);                                                                  \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        test_cur_failed_ = 0;                                                                      \
        fn();                                                                                      \
        if (test_cur_failed_) {                                                                    \
            test_failed_++;                                                                        \
            fprintf(stderr, "FAIL %s\n", #fn);                                                     \
        } else {                                                                                   \
            test_passed_++;                                                                        \
        }                                                                                          \
    } while (0)

#define TEST_END()                                                                                 \
    (printf("tests: %d passed, %d failed\n", test_passed_, test_failed_), test_failed_ ? 1 : 0)

#endif // MG_TEST_H
