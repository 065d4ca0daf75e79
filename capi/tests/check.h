/* A minimal test harness for the C suite: CHECK counts, prints failures, and
 * check_summary() prints "N passed, M failed" and gives the exit code. */
#ifndef DEPWATCH_CHECK_H
#define DEPWATCH_CHECK_H

#include <stdio.h>
#include <string.h>

#include "depwatch.h"

static int check_passed, check_failed;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (cond) {                                                                       \
      check_passed++;                                                                 \
    } else {                                                                          \
      check_failed++;                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
    }                                                                                 \
  } while (0)

/* A call that must return `expected`; on a mismatch, prints both names and the
 * thread's last error. */
#define CHECK_STATUS(call, expected)                                                  \
  do {                                                                                \
    dw_status check_s_ = (call);                                                      \
    if (check_s_ == (expected)) {                                                     \
      check_passed++;                                                                 \
    } else {                                                                          \
      check_failed++;                                                                 \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",        \
              __FILE__, __LINE__, #call, dw_status_str(check_s_),                     \
              dw_status_str(expected), dw_last_error());                              \
    }                                                                                 \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, DW_OK)

static int check_summary(const char *suite) {
  printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
  return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

#endif
