/* The C side of the boundary-cost measurement (capi/bench/run.sh): the same two
 * operations as capi/examples/overhead.rs, through depwatch.h.
 *   quiet_notify:  dw_notify on a key nobody depends on (the dict has one dependent,
 *                  on another key), label "dict.MODIFIED", report NULL.
 *   invalidate_1:  dw_register of one unit with one key dependency, then dw_notify on
 *                  that key; the handler answers DW_INVALIDATE.
 * Each is timed over ROUNDS rounds of N operations; the median round is printed. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "depwatch.h"

#define ROUNDS 11

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static dw_verdict invalidate(void *ctx, dw_graph *g, const dw_fire *fire) {
  (void)g;
  *(uint64_t *)ctx += fire->payload->u64;
  return DW_INVALIDATE;
}

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, dw_last_error());
  exit(1);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  dw_graph *g;
  dw_object d;
  uint64_t sink = 0;
  if (dw_graph_new(NULL, &g) || dw_track(g, DW_KIND_DICT, 0x1000, &d)) die("setup");
  dw_config cfg;
  dw_graph_config(g, &cfg);
  cfg.storm_threshold = 0; /* the invalidation loop must not trip the storm policy */
  dw_graph_free(g);
  if (dw_graph_new(&cfg, &g) || dw_track(g, DW_KIND_DICT, 0x1000, &d)) die("setup");
  dw_dep keep = {d, dw_aspect_key(1), 0, NULL};
  dw_unit u;
  dw_payload p = {.u64 = 1};
  if (dw_register(g, &keep, 1, p, &u)) die("register");

  double quiet[ROUNDS], inval[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
      if (dw_notify(g, d, dw_aspect_key(2), "dict.MODIFIED", invalidate, &sink, NULL)) die("notify");
    quiet[r] = (now_ns() - t0) / (double)n;

    dw_dep dep = {d, dw_aspect_key(3), 0, NULL};
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      if (dw_register(g, &dep, 1, p, &u)) die("register");
      if (dw_notify(g, d, dw_aspect_key(3), "dict.MODIFIED", invalidate, &sink, NULL)) die("notify");
    }
    inval[r] = (now_ns() - t0) / (double)n;
  }
  if (sink != (uint64_t)(ROUNDS * n)) die("not every unit fired");
  qsort(quiet, ROUNDS, sizeof quiet[0], cmp);
  qsort(inval, ROUNDS, sizeof inval[0], cmp);
  printf("c     quiet_notify  %6.1f ns/op\n", quiet[ROUNDS / 2]);
  printf("c     invalidate_1  %6.1f ns/op\n", inval[ROUNDS / 2]);
  dw_graph_free(g);
  return 0;
}
