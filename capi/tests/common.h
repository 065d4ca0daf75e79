/* Shared helpers for the C suite: a recording handler and small constructors. */
#ifndef DEPWATCH_TEST_COMMON_H
#define DEPWATCH_TEST_COMMON_H

#include <stdint.h>
#include <string.h>

#include "check.h"

#define MAX_FIRES 64

/* What a recording handler saw. `answer` is what it returns. */
typedef struct recorder {
  int fired;
  dw_verdict answer;
  dw_unit units[MAX_FIRES];
  uint64_t payloads[MAX_FIRES];
  size_t n_hits[MAX_FIRES];
  bool terminal[MAX_FIRES];
  uint32_t first_site[MAX_FIRES];
  char label[MAX_FIRES][32];
  char name[MAX_FIRES][32];
  size_t n_causes[MAX_FIRES];
} recorder;

static dw_verdict record(void *ctx, dw_graph *g, const dw_fire *fire) {
  recorder *r = (recorder *)ctx;
  (void)g;
  if (r->fired < MAX_FIRES) {
    int i = r->fired;
    r->units[i] = fire->unit;
    r->payloads[i] = fire->payload->u64;
    r->n_hits[i] = fire->n_hits;
    r->terminal[i] = fire->terminal;
    r->first_site[i] = fire->hits[0].dependency.site;
    snprintf(r->label[i], sizeof r->label[i], "%s", fire->hits[0].cause->label);
    const dw_cause *c = fire->hits[0].cause;
    snprintf(r->name[i], sizeof r->name[i], "%.*s", (int)c->name_len, c->name ? c->name : "");
    /* Distinct causes: hits with the same cause share the pointer. */
    size_t causes = 0;
    for (size_t h = 0; h < fire->n_hits; h++) {
      bool seen = false;
      for (size_t k = 0; k < h; k++) seen |= fire->hits[k].cause == fire->hits[h].cause;
      causes += !seen;
    }
    r->n_causes[i] = causes;
  }
  r->fired++;
  return r->answer;
}

static dw_payload pay(uint64_t v) {
  dw_payload p;
  p.u64 = v;
  return p;
}

static dw_dep dep(dw_object o, dw_aspect a, uint32_t site) {
  dw_dep d;
  d.object = o;
  d.aspect = a;
  d.site = site;
  d.name = NULL;
  return d;
}

static dw_graph *new_graph(uint32_t flags) {
  dw_config c = dw_config_default();
  c.flags = flags;
  dw_graph *g = NULL;
  CHECK_OK(dw_graph_new(&c, &g));
  return g;
}

static bool valid(dw_graph *g, dw_unit u) {
  bool v = false;
  CHECK_OK(dw_is_valid(g, u, &v));
  return v;
}

static dw_object track(dw_graph *g, dw_kind kind, uint64_t handle) {
  dw_object o = 0;
  CHECK_OK(dw_track(g, kind, handle, &o));
  return o;
}

static dw_unit reg1(dw_graph *g, dw_object o, dw_aspect a, uint32_t site, uint64_t payload) {
  dw_dep d = dep(o, a, site);
  dw_unit u = 0;
  CHECK_OK(dw_register(g, &d, 1, pay(payload), &u));
  return u;
}

#endif
