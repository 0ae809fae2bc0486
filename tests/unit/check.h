/* Minimal test harness: CHECK records a failure with its location and goes on; CHECK_DONE() ends main
 * with a non-zero status when anything failed, so `make test` fails loudly. */
#ifndef VAE_TEST_CHECK_H
#define VAE_TEST_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        check_count++;                                                                      \
        if (!(cond)) {                                                                      \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
        }                                                                                   \
    } while (0)

#define CHECK_CLOSE(a, b, tol, what)                                                        \
    do {                                                                                    \
        double check_a_ = (a), check_b_ = (b);                                              \
        CHECK(fabs(check_a_ - check_b_) <= (tol), "%s: %.9g vs %.9g (tol %g)", (what),      \
              check_a_, check_b_, (double)(tol));                                           \
    } while (0)

#define CHECK_DONE()                                                                        \
    do {                                                                                    \
        if (check_failures) {                                                               \
            fprintf(stderr, "%s: %d of %d checks FAILED\n", __FILE__, check_failures,       \
                    check_count);                                                           \
            return 1;                                                                       \
        }                                                                                   \
        printf("%s: all %d checks passed\n", __FILE__, check_count);                        \
        return 0;                                                                           \
    } while (0)

#endif
