/* The C side of the boundary-cost measurement (capi/bench/run.sh): the same two
 * operations as capi/examples/overhead.rs, through depwatch.h.
 *   quiet_notify:  dw_notify on a key nobody depends on (the dict has one dependent,
 *                  on another key), label "dict.MODIFIED", report NULL.
 *   invalidate_1:  dw_register of one unit with one key dependency, then dw_notify on
 *                  that key; the handler answers DW_INVALIDATE.
 *   dict_quiet:    dw_dict_event MODIFIED (values unknown) on a key nobody depends on,
 *                  for a dict tracked by handle (one dependent, on another key).
 * Each is timed over ROUNDS rounds of N operations; the median round is printed.
 * `overhead_c N quiet|invalidate|dict` runs one round of one loop only,
 * for instruction counts: valgrind --tool=callgrind overhead_c 100000 quiet */
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
  const char *only = argc > 2 ? argv[2] : NULL;
  int rounds = only ? 1 : ROUNDS;
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
  dw_object by_handle;
  if (dw_track_handle(g, DW_KIND_DICT, 0x2000, &by_handle)) die("track_handle");
  dw_dep keep2 = {by_handle, dw_aspect_key(1), 0, NULL};
  if (dw_register(g, &keep2, 1, p, &u)) die("register");

  double quiet[ROUNDS], inval[ROUNDS], dict[ROUNDS];
  for (int r = 0; r < rounds; r++) {
    double t0 = now_ns();
    for (long i = 0; i < n && (!only || only[0] == 'q'); i++)
      if (dw_notify(g, d, dw_aspect_key(2), "dict.MODIFIED", invalidate, &sink, NULL)) die("notify");
    quiet[r] = (now_ns() - t0) / (double)n;

    dw_dep dep = {d, dw_aspect_key(3), 0, NULL};
    t0 = now_ns();
    for (long i = 0; i < n && (!only || only[0] == 'i'); i++) {
      if (dw_register(g, &dep, 1, p, &u)) die("register");
      if (dw_notify(g, d, dw_aspect_key(3), "dict.MODIFIED", invalidate, &sink, NULL)) die("notify");
    }
    inval[r] = (now_ns() - t0) / (double)n;

    t0 = now_ns();
    for (long i = 0; i < n && (!only || only[0] == 'd'); i++)
      if (dw_dict_event(g, DW_DICT_EVENT_MODIFIED, 0x2000, 2, NULL, invalidate, &sink, NULL)) die("dict");
    dict[r] = (now_ns() - t0) / (double)n;
  }
  if (only) {
    dw_graph_free(g);
    return 0;
  }
  if (sink != (uint64_t)(ROUNDS * n)) die("not every unit fired");
  qsort(quiet, ROUNDS, sizeof quiet[0], cmp);
  qsort(inval, ROUNDS, sizeof inval[0], cmp);
  qsort(dict, ROUNDS, sizeof dict[0], cmp);
  printf("c     quiet_notify  %6.1f ns/op\n", quiet[ROUNDS / 2]);
  printf("c     invalidate_1  %6.1f ns/op\n", inval[ROUNDS / 2]);
  printf("c     dict_quiet    %6.1f ns/op\n", dict[ROUNDS / 2]);
  dw_graph_free(g);
  return 0;
}
