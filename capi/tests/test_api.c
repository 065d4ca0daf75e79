/* Every function of depwatch.h, with good input and with each kind of bad input:
 * NULL pointers, NULL arrays with a length, unknown enum values, stale and foreign
 * IDs, a freed graph. */
#include <pthread.h>
#include <stdlib.h>

#include "common.h"

static void test_statuses_and_errors(void) {
  CHECK(strcmp(dw_status_str(DW_OK), "DW_OK") == 0);
  CHECK(strcmp(dw_status_str(DW_ERR_PANIC), "DW_ERR_PANIC") == 0);
  CHECK(strcmp(dw_status_str(DW_ERR_STALE_OBJECT), "DW_ERR_STALE_OBJECT") == 0);
  CHECK(strcmp(dw_status_str(12345), "unknown status") == 0);
  CHECK(strcmp(dw_status_str(-1), "unknown status") == 0);
  for (int s = 0; s <= DW_ERR_PANIC; s++) CHECK(strncmp(dw_status_str(s), "DW_", 3) == 0);
  CHECK_STATUS(dw_graph_new(NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK(strstr(dw_last_error(), "NULL") != NULL);
}

static void *fail_in_thread(void *arg) {
  (void)arg;
  CHECK_STATUS(dw_graph_free(NULL), DW_ERR_NULL_POINTER);
  CHECK(strstr(dw_last_error(), "graph") != NULL);
  return NULL;
}

static void test_last_error_is_per_thread(void) {
  dw_graph *g = new_graph(0);
  dw_object o = track(g, DW_KIND_DICT, 1);
  CHECK_OK(dw_destroy(g, o, record, &(recorder){0}, NULL));
  uint64_t v;
  CHECK_STATUS(dw_version(g, o, &v), DW_ERR_STALE_OBJECT);
  char mine[256];
  snprintf(mine, sizeof mine, "%s", dw_last_error());
  CHECK(strstr(mine, "not live") != NULL);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fail_in_thread, NULL) == 0);
  pthread_join(t, NULL);
  CHECK(strcmp(dw_last_error(), mine) == 0);
  /* A successful call leaves the message alone. */
  CHECK_OK(dw_graph_config(g, &(dw_config){0}));
  CHECK(strcmp(dw_last_error(), mine) == 0);
  CHECK_OK(dw_graph_free(g));
}

static void test_graph_lifecycle(void) {
  dw_config d = dw_config_default();
  CHECK(d.storm_threshold == 6);
  CHECK(d.flags == 0);
  CHECK(d.max_slot_reuse > 1000000);

  dw_graph *g = NULL;
  CHECK_OK(dw_graph_new(NULL, &g));
  CHECK(g != NULL);
  dw_config got;
  CHECK_OK(dw_graph_config(g, &got));
  CHECK(got.storm_threshold == d.storm_threshold && got.max_slot_reuse == d.max_slot_reuse);
  CHECK_STATUS(dw_graph_config(g, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_graph_config(NULL, &got), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_graph_free(g));

  dw_config c = {3, 10, DW_CONFIG_WATCH_REQUESTS};
  CHECK_OK(dw_graph_new(&c, &g));
  CHECK_OK(dw_graph_config(g, &got));
  CHECK(got.storm_threshold == 3 && got.max_slot_reuse == 10 && got.flags == DW_CONFIG_WATCH_REQUESTS);
  dw_object o = track(g, DW_KIND_DICT, 7);
  CHECK_OK(dw_graph_free(g));

  /* A freed graph is caught by every call, including a second free. */
  uint64_t v;
  CHECK_STATUS(dw_graph_free(g), DW_ERR_FREED_GRAPH);
  CHECK(strstr(dw_last_error(), "freed") != NULL);
  CHECK_STATUS(dw_version(g, o, &v), DW_ERR_FREED_GRAPH);
  CHECK_STATUS(dw_notify(g, o, dw_aspect_whole(), "x", record, NULL, NULL), DW_ERR_FREED_GRAPH);
  CHECK_STATUS(dw_graph_config(g, &got), DW_ERR_FREED_GRAPH);

  c.flags = 0x100;
  dw_graph *bad = NULL;
  CHECK_STATUS(dw_graph_new(&c, &bad), DW_ERR_UNKNOWN_ENUM);
  CHECK(bad == NULL);
  CHECK_STATUS(dw_graph_free(NULL), DW_ERR_NULL_POINTER);
}

static void test_aspect_helpers(void) {
  dw_aspect w = dw_aspect_whole(), k = dw_aspect_key(99), a = dw_aspect_attr(DW_ATTR_DEFAULTS);
  CHECK(w.kind == DW_ASPECT_WHOLE && w.key == 0 && w.attr == 0);
  CHECK(k.kind == DW_ASPECT_KEY && k.key == 99);
  CHECK(a.kind == DW_ASPECT_ATTR && a.attr == DW_ATTR_DEFAULTS);
}

static void test_objects(void) {
  dw_graph *g = new_graph(0);
  dw_object d = track(g, DW_KIND_DICT, 0x1000);
  dw_object f = track(g, DW_KIND_FUNCTION, 0x2000);
  dw_object custom = track(g, DW_KIND_CUSTOM_BASE + 7, 0x3000);
  CHECK(d != f && f != custom);
  dw_object o;
  CHECK_STATUS(dw_track(g, 4, 1, &o), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_track(g, DW_KIND_CUSTOM_BASE + 0x10000, 1, &o), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_track(g, DW_KIND_DICT, 1, NULL), DW_ERR_NULL_POINTER);

  dw_kind kind;
  CHECK_OK(dw_object_kind(g, custom, &kind));
  CHECK(kind == DW_KIND_CUSTOM_BASE + 7);
  CHECK_OK(dw_object_kind(g, f, &kind));
  CHECK(kind == DW_KIND_FUNCTION);
  CHECK_STATUS(dw_object_kind(g, d, NULL), DW_ERR_NULL_POINTER);
  uint64_t handle;
  CHECK_OK(dw_object_handle(g, f, &handle));
  CHECK(handle == 0x2000);
  bool b = false;
  CHECK_OK(dw_object_is_live(g, d, &b));
  CHECK(b);

  uint64_t v = 99;
  CHECK_OK(dw_version(g, d, &v));
  CHECK(v == 0);
  recorder r = {0};
  CHECK_OK(dw_notify(g, d, dw_aspect_key(5), "dict.ADDED", record, &r, NULL));
  CHECK_OK(dw_version(g, d, &v));
  CHECK(v == 1);
  CHECK(r.fired == 0);

  CHECK_OK(dw_is_watched(g, d, &b));
  CHECK(!b);
  dw_unit u = reg1(g, d, dw_aspect_key(5), 0, 1);
  CHECK_OK(dw_is_watched(g, d, &b));
  CHECK(b);
  CHECK_OK(dw_would_fire(g, d, dw_aspect_key(5), &b));
  CHECK(b);
  CHECK_OK(dw_would_fire(g, d, dw_aspect_key(6), &b));
  CHECK(!b);
  CHECK_OK(dw_would_fire(g, d, dw_aspect_whole(), &b));
  CHECK(b);

  dw_unit units[4];
  size_t n = 0;
  CHECK_OK(dw_dependents(g, d, dw_aspect_key(5), units, 4, &n));
  CHECK(n == 1 && units[0] == u);
  CHECK_STATUS(dw_dependents(g, d, dw_aspect_key(5), NULL, 0, &n), DW_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 1);
  CHECK_STATUS(dw_dependents(g, d, dw_aspect_key(5), NULL, 4, &n), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_dependents(g, d, dw_aspect_key(5), units, 4, NULL), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_dependents(g, d, dw_aspect_key(6), NULL, 0, &n));
  CHECK(n == 0);

  CHECK_OK(dw_is_stable(g, d, dw_aspect_key(5), &b));
  CHECK(b);
  CHECK_OK(dw_reset_stability(g, d, dw_aspect_key(5)));
  CHECK_OK(dw_reset_stability(g, d, dw_aspect_whole()));

  /* Unknown aspect kinds and attributes. */
  dw_aspect bad = {7, 0, 0};
  CHECK_STATUS(dw_is_stable(g, d, bad, &b), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_would_fire(g, d, dw_aspect_attr(99), &b), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_reset_stability(g, d, bad), DW_ERR_UNKNOWN_ENUM);
  CHECK_OK(dw_would_fire(g, f, dw_aspect_attr(DW_ATTR_OTHER_BASE + 3), &b));
  CHECK_STATUS(dw_would_fire(g, f, dw_aspect_attr(DW_ATTR_OTHER_BASE + 0x10000), &b), DW_ERR_UNKNOWN_ENUM);

  /* A destroyed object's ID is stale forever. */
  CHECK_OK(dw_destroy(g, d, record, &r, NULL));
  CHECK(r.fired == 1 && r.terminal[0]);
  CHECK(!valid(g, u));
  CHECK_OK(dw_object_is_live(g, d, &b));
  CHECK(!b);
  CHECK_STATUS(dw_version(g, d, &v), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_object_kind(g, d, &kind), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_object_handle(g, d, &handle), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_is_watched(g, d, &b), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_is_stable(g, d, dw_aspect_whole(), &b), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_reset_stability(g, d, dw_aspect_whole()), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_would_fire(g, d, dw_aspect_whole(), &b), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_dependents(g, d, dw_aspect_whole(), units, 4, &n), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_destroy(g, d, record, &r, NULL), DW_ERR_STALE_OBJECT);

  /* Foreign IDs: another graph's object, and a unit ID passed as an object. */
  dw_graph *g2 = new_graph(0);
  dw_object other = track(g2, DW_KIND_DICT, 0x1000);
  CHECK_STATUS(dw_version(g, other, &v), DW_ERR_STALE_OBJECT);
  CHECK_OK(dw_object_is_live(g, other, &b));
  CHECK(!b);
  dw_unit u2 = reg1(g, f, dw_aspect_attr(DW_ATTR_CODE), 0, 2);
  CHECK_STATUS(dw_version(g, (dw_object)u2, &v), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_version(g, 0, &v), DW_ERR_STALE_OBJECT);
  CHECK_OK(dw_graph_free(g2));
  CHECK_OK(dw_graph_free(g));
}

static void test_units(void) {
  dw_graph *g = new_graph(0);
  dw_object d = track(g, DW_KIND_DICT, 1), f = track(g, DW_KIND_FUNCTION, 2);
  dw_dep deps[3] = {dep(d, dw_aspect_key(10), 1), dep(f, dw_aspect_attr(DW_ATTR_CODE), 2),
                    dep(d, dw_aspect_key(10), 1)};
  deps[0].name = "LIMIT";
  dw_unit u = 0;
  int code_object;
  dw_payload p;
  p.ptr = &code_object;
  CHECK_OK(dw_register(g, deps, 3, p, &u));

  dw_dependency got[4];
  size_t n = 0;
  CHECK_OK(dw_dependencies(g, u, got, 4, &n));
  CHECK(n == 2); /* the duplicate collapsed */
  CHECK(got[0].object == d || got[1].object == d);
  CHECK_STATUS(dw_dependencies(g, u, got, 1, &n), DW_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 2);
  CHECK_STATUS(dw_dependencies(g, u, NULL, 2, &n), DW_ERR_NULL_POINTER);

  dw_payload back;
  CHECK_OK(dw_payload_get(g, u, &back));
  CHECK(back.ptr == &code_object);
  CHECK_STATUS(dw_payload_get(g, u, NULL), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_payload_set(g, u, pay(77)));
  CHECK_OK(dw_payload_get(g, u, &back));
  CHECK(back.u64 == 77);

  /* Refusals register nothing. */
  dw_unit none = 12345;
  CHECK_STATUS(dw_register(g, deps, 0, pay(0), &none), DW_ERR_NO_DEPENDENCIES);
  CHECK_STATUS(dw_register(g, NULL, 0, pay(0), &none), DW_ERR_NO_DEPENDENCIES);
  CHECK_STATUS(dw_register(g, NULL, 2, pay(0), &none), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_register(g, deps, 1, pay(0), NULL), DW_ERR_NULL_POINTER);
  dw_dep bad = dep(d, dw_aspect_key(1), 0);
  bad.aspect.kind = 42;
  CHECK_STATUS(dw_register(g, &bad, 1, pay(0), &none), DW_ERR_UNKNOWN_ENUM);
  bad = dep(d, dw_aspect_key(1), 0);
  bad.name = "\xff\xfe";
  CHECK_STATUS(dw_register(g, &bad, 1, pay(0), &none), DW_ERR_INVALID_ARGUMENT);
  CHECK(none == 12345);
  {
    dw_stats s;
    CHECK_OK(dw_graph_stats(g, &s));
    CHECK(s.live_units == 1 && s.live_edges == 2);
    CHECK_STATUS(dw_graph_stats(g, NULL), DW_ERR_NULL_POINTER);
  }

  /* Unregister: payload back, then stale. */
  CHECK_OK(dw_unregister(g, u, &back));
  CHECK(back.u64 == 77);
  CHECK(!valid(g, u));
  CHECK_STATUS(dw_unregister(g, u, NULL), DW_ERR_STALE_UNIT);
  CHECK_STATUS(dw_payload_get(g, u, &back), DW_ERR_STALE_UNIT);
  CHECK_STATUS(dw_payload_set(g, u, pay(1)), DW_ERR_STALE_UNIT);
  CHECK_STATUS(dw_dependencies(g, u, got, 4, &n), DW_ERR_STALE_UNIT);
  CHECK_STATUS(dw_is_valid(g, u, NULL), DW_ERR_NULL_POINTER);
  /* An object ID is not a unit ID. */
  CHECK(!valid(g, (dw_unit)d));
  CHECK_STATUS(dw_unregister(g, (dw_unit)d, NULL), DW_ERR_STALE_UNIT);

  /* Registration on a stale object. */
  dw_object gone = track(g, DW_KIND_DICT, 3);
  CHECK_OK(dw_destroy(g, gone, record, &(recorder){0}, NULL));
  bad = dep(gone, dw_aspect_whole(), 0);
  CHECK_STATUS(dw_register(g, &bad, 1, pay(0), &none), DW_ERR_STALE_OBJECT);
  CHECK_OK(dw_graph_free(g));
}

static void test_cells_and_tickets(void) {
  dw_graph *g = new_graph(0), *g2 = new_graph(0);
  dw_object d = track(g, DW_KIND_DICT, 1);
  dw_cell c = 0, c_again = 0;
  CHECK_OK(dw_cell_handle(g, d, dw_aspect_key(5), &c));
  CHECK_OK(dw_cell_handle(g, d, dw_aspect_key(5), &c_again));
  CHECK(c == c_again);
  CHECK_STATUS(dw_cell_handle(g, d, dw_aspect_key(5), NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_cell_handle(g, d, dw_aspect_attr(1000), &c_again), DW_ERR_UNKNOWN_ENUM);
  dw_cell_dep cd[2] = {{c, 0}, {c, 3}};
  dw_unit a = 0, b = 0;
  CHECK_OK(dw_register_cells(g, cd, 2, pay(1), &a));
  CHECK_OK(dw_register_cells(g, cd, 1, pay(2), &b));
  dw_unit units[4];
  size_t n;
  CHECK_OK(dw_dependents(g, d, dw_aspect_key(5), units, 4, &n));
  CHECK(n == 2);
  CHECK_STATUS(dw_register_cells(g, NULL, 1, pay(0), &a), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_register_cells(g, cd, 0, pay(0), &a), DW_ERR_NO_DEPENDENCIES);
  CHECK_STATUS(dw_register_cells(g, cd, 1, pay(0), NULL), DW_ERR_NULL_POINTER);
  /* Another graph's cell handle, and a made-up one. */
  dw_cell_dep foreign = {c, 0};
  dw_unit x;
  dw_object d2 = track(g2, DW_KIND_DICT, 1);
  CHECK_STATUS(dw_register_cells(g2, &foreign, 1, pay(0), &x), DW_ERR_STALE_CELL);
  foreign.cell = c ^ 0x5555;
  CHECK_STATUS(dw_register_cells(g, &foreign, 1, pay(0), &x), DW_ERR_STALE_CELL);

  /* Tickets. */
  dw_ticket t = 0, t2 = 0;
  CHECK_OK(dw_take_ticket(g, &t));
  CHECK_OK(dw_take_ticket(g, &t2));
  CHECK(t == t2); /* nothing changed in between: the same ticket */
  CHECK_STATUS(dw_take_ticket(g, NULL), DW_ERR_NULL_POINTER);
  dw_dep dd = dep(d, dw_aspect_key(6), 0);
  CHECK_OK(dw_register_with_ticket(g, t, &dd, 1, pay(3), &x));
  CHECK_OK(dw_register_cells_with_ticket(g, t, cd, 1, pay(4), &x));
  recorder r = {0};
  CHECK_OK(dw_notify(g, d, dw_aspect_key(99), "dict.ADDED", record, &r, NULL));
  CHECK_STATUS(dw_register_with_ticket(g, t, &dd, 1, pay(5), &x), DW_ERR_STALE_TICKET);
  CHECK_STATUS(dw_register_cells_with_ticket(g, t, cd, 1, pay(5), &x), DW_ERR_STALE_TICKET);
  dw_ticket other;
  CHECK_OK(dw_take_ticket(g2, &other));
  dw_dep dd2 = dep(d2, dw_aspect_key(6), 0);
  CHECK_STATUS(dw_register_with_ticket(g2, t ^ 1, &dd2, 1, pay(5), &x), DW_ERR_FOREIGN_TICKET);
  CHECK_STATUS(dw_register_with_ticket(g, other + 1000, &dd, 1, pay(5), &x), DW_ERR_FOREIGN_TICKET);
  /* A ticket older than the 256 most recent distinct ones has expired. */
  dw_ticket old;
  CHECK_OK(dw_take_ticket(g, &old));
  for (int i = 0; i < 300; i++) {
    dw_ticket tmp;
    CHECK_OK(dw_notify(g, d, dw_aspect_key(1000 + i), "x", record, &r, NULL));
    CHECK_OK(dw_take_ticket(g, &tmp));
  }
  dw_dep on_d = dep(d, dw_aspect_key(7), 0);
  CHECK_STATUS(dw_register_with_ticket(g, old, &on_d, 1, pay(5), &x), DW_ERR_STALE_TICKET);
  CHECK(strstr(dw_last_error(), "expired") != NULL);

  /* A reclaimed cell's handle is stale, never confused with a newer cell. */
  CHECK_OK(dw_destroy(g, d, record, &r, NULL));
  CHECK_STATUS(dw_register_cells(g, cd, 1, pay(6), &x), DW_ERR_STALE_CELL);
  CHECK_OK(dw_graph_free(g2));
  CHECK_OK(dw_graph_free(g));
}

/* dw_heap_bytes counts what the library holds: it grows with a graph's tables
 * and falls when the graph is freed. */
static void test_heap_bytes(void) {
  uint64_t before = dw_heap_bytes();
  dw_graph *g = new_graph(0);
  bool all = true;
  for (uint64_t h = 1; h <= 10000; h++) {
    dw_object o;
    all &= dw_track_handle(g, DW_KIND_DICT, h, &o) == DW_OK;
  }
  CHECK(all);
  uint64_t held = dw_heap_bytes();
  CHECK(held >= before + 10000 * (16 + 64));
  dw_stats st;
  CHECK_OK(dw_graph_stats(g, &st));
  CHECK(st.bytes > 0 && st.bytes < held - before); /* the estimate leaves out the handle table */
  CHECK_OK(dw_graph_free(g));
  CHECK(dw_heap_bytes() + 10000 * (16 + 64) <= held);
}

/* DW_CONFIG_STORM_COUNTS_EVERY_EVENT: quiet writes count toward the threshold. */
static void test_storm_counts_every_event(void) {
  for (int every = 0; every < 2; every++) {
    dw_graph *g = new_graph(every ? DW_CONFIG_STORM_COUNTS_EVERY_EVENT : 0);
    dw_config got;
    CHECK_OK(dw_graph_config(g, &got));
    CHECK(got.flags == (every ? DW_CONFIG_STORM_COUNTS_EVERY_EVENT : 0u));
    dw_object d = track(g, DW_KIND_DICT, 0x40);
    dw_unit other = reg1(g, d, dw_aspect_key(2), 0, 1);
    recorder rec = {0};
    rec.answer = DW_INVALIDATE;
    for (uint32_t i = 0; i < got.storm_threshold; i++) {
      CHECK_OK(dw_notify(g, d, dw_aspect_key(1), "write", record, &rec, NULL));
    }
    CHECK(rec.fired == 0);
    bool stable = true;
    CHECK_OK(dw_is_stable(g, d, dw_aspect_key(1), &stable));
    CHECK(stable == !every);
    dw_dep dep1 = dep(d, dw_aspect_key(1), 0);
    dw_unit u = 0;
    CHECK_STATUS(dw_register(g, &dep1, 1, pay(2), &u), every ? DW_ERR_UNSTABLE : DW_OK);
    CHECK_OK(dw_is_stable(g, d, dw_aspect_key(2), &stable));
    CHECK(stable);
    CHECK(valid(g, other));
    CHECK_OK(dw_reset_stability(g, d, dw_aspect_key(1)));
    CHECK_OK(dw_is_stable(g, d, dw_aspect_key(1), &stable));
    CHECK(stable);
    CHECK_OK(dw_graph_free(g));
  }
}

static void test_unregister_all_cb(void *ctx, dw_unit unit, dw_payload payload) {
  (void)unit;
  uint64_t *sum = (uint64_t *)ctx;
  *sum += payload.u64;
}

static void test_unregister_all(void) {
  dw_graph *g = new_graph(0);
  dw_object d = track(g, DW_KIND_DICT, 1);
  dw_unit us[100];
  uint64_t expect = 0;
  for (int i = 0; i < 100; i++) {
    us[i] = reg1(g, d, dw_aspect_key((uint64_t)i), 0, (uint64_t)i + 1);
    expect += (uint64_t)i + 1;
  }
  for (int i = 0; i < 50; i++) CHECK_OK(dw_unregister(g, us[i], NULL));
  for (int i = 0; i < 50; i++) expect -= (uint64_t)i + 1;
  uint64_t sum = 0;
  size_t n = 0;
  CHECK_OK(dw_unregister_all(g, test_unregister_all_cb, &sum, &n));
  CHECK(n == 50);
  CHECK(sum == expect);
  for (int i = 0; i < 100; i++) CHECK(!valid(g, us[i]));
  dw_stats s;
  CHECK_OK(dw_graph_stats(g, &s));
  CHECK(s.live_units == 0 && s.live_edges == 0);
  CHECK_OK(dw_unregister_all(g, NULL, NULL, NULL));
  CHECK_STATUS(dw_unregister_all(NULL, NULL, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_graph_free(g));
}

static dw_verdict answer_7(void *ctx, dw_graph *g, const dw_fire *fire) {
  (void)g;
  (void)fire;
  ++*(int *)ctx;
  return 7;
}

static void test_events(void) {
  dw_graph *g = new_graph(0);
  dw_object d = track(g, DW_KIND_DICT, 1);
  dw_unit a = reg1(g, d, dw_aspect_key(1), 4, 11);
  dw_unit b = reg1(g, d, dw_aspect_key(2), 5, 22);
  dw_unit w = reg1(g, d, dw_aspect_whole(), 6, 33);
  recorder r = {0};
  dw_report rep;
  memset(&rep, 0xff, sizeof rep);
  CHECK_STATUS(dw_notify(g, d, dw_aspect_key(1), "dict.MODIFIED", NULL, &r, &rep), DW_ERR_NULL_POINTER);
  uint64_t v;
  CHECK_OK(dw_version(g, d, &v));
  CHECK(v == 0); /* nothing was recorded */
  CHECK_STATUS(dw_notify(g, d, dw_aspect_key(1), "\xc3\x28", record, &r, &rep), DW_ERR_INVALID_ARGUMENT);
  dw_aspect bad = {3, 0, 0};
  CHECK_STATUS(dw_notify(g, d, bad, "x", record, &r, &rep), DW_ERR_UNKNOWN_ENUM);

  CHECK_OK(dw_notify(g, d, dw_aspect_key(1), "dict.MODIFIED", record, &r, &rep));
  CHECK(r.fired == 2); /* the key's dependent and the whole object's */
  CHECK(rep.fired == 2 && rep.invalidated == 2 && !rep.deferred);
  CHECK(!valid(g, a) && valid(g, b) && !valid(g, w));
  CHECK(strcmp(r.label[0], "dict.MODIFIED") == 0);
  CHECK(r.payloads[0] == 11 || r.payloads[1] == 11);

  /* A NULL label is the empty label; a NULL report is fine. */
  r.fired = 0;
  CHECK_OK(dw_notify(g, d, dw_aspect_key(2), NULL, record, &r, NULL));
  CHECK(r.fired == 1 && r.label[0][0] == '\0' && r.first_site[0] == 5);

  /* An unknown verdict invalidates (the safe answer) and is reported. */
  dw_unit c = reg1(g, d, dw_aspect_key(3), 0, 44);
  int calls = 0;
  CHECK_STATUS(dw_notify(g, d, dw_aspect_key(3), "x", answer_7, &calls, &rep), DW_ERR_BAD_VERDICT);
  CHECK(calls == 1 && rep.invalidated == 1);
  CHECK(!valid(g, c));

  /* Deferred events, pending fires, deliver. */
  dw_unit e = reg1(g, d, dw_aspect_key(4), 0, 55);
  CHECK_OK(dw_notify_deferred(g, d, dw_aspect_key(4), "later"));
  size_t pending = 0;
  CHECK_OK(dw_pending_fires(g, &pending));
  CHECK(pending == 1);
  CHECK(!valid(g, e)); /* a queued fire makes it invalid already */
  r.fired = 0;
  CHECK_OK(dw_deliver(g, record, &r, &rep));
  CHECK(r.fired == 1 && rep.invalidated == 1 && strcmp(r.label[0], "later") == 0);
  CHECK_OK(dw_pending_fires(g, &pending));
  CHECK(pending == 0);
  CHECK_STATUS(dw_deliver(g, NULL, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_notify_deferred(g, d, bad, "x"), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_pending_fires(g, NULL), DW_ERR_NULL_POINTER);

  /* Destroy deferred. */
  dw_unit f1 = reg1(g, d, dw_aspect_key(8), 0, 66);
  CHECK_OK(dw_destroy_deferred(g, d));
  CHECK_STATUS(dw_destroy_deferred(g, d), DW_ERR_STALE_OBJECT);
  r.fired = 0;
  CHECK_OK(dw_deliver(g, record, &r, &rep));
  CHECK(r.fired == 1 && r.terminal[0] && strcmp(r.label[0], "destroyed") == 0);
  CHECK(!valid(g, f1));
  CHECK_STATUS(dw_destroy(g, d, NULL, NULL, NULL), DW_ERR_NULL_POINTER);

  /* Batches. */
  dw_object d2 = track(g, DW_KIND_DICT, 2);
  dw_dep two[2] = {dep(d2, dw_aspect_key(1), 0), dep(d2, dw_aspect_key(2), 1)};
  dw_unit u;
  CHECK_OK(dw_register(g, two, 2, pay(7), &u));
  bool in = true;
  CHECK_OK(dw_in_batch(g, &in));
  CHECK(!in);
  CHECK_OK(dw_begin_batch(g));
  CHECK_OK(dw_in_batch(g, &in));
  CHECK(in);
  r.fired = 0;
  CHECK_OK(dw_notify(g, d2, dw_aspect_key(1), "a", record, &r, &rep));
  CHECK(rep.deferred && r.fired == 0);
  CHECK_OK(dw_notify(g, d2, dw_aspect_key(2), "b", record, &r, &rep));
  CHECK_OK(dw_end_batch(g, record, &r, &rep));
  CHECK(r.fired == 1 && r.n_hits[0] == 2 && r.n_causes[0] == 2);
  CHECK_STATUS(dw_end_batch(g, record, &r, &rep), DW_ERR_NO_BATCH);
  CHECK_STATUS(dw_in_batch(g, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_begin_batch(NULL), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_graph_free(g));
}

typedef struct hook_log {
  int calls;
  uint64_t handles[16];
  bool watched[16];
  dw_kind kinds[16];
  dw_status reentry;
  dw_graph *g;
} hook_log;

static void hook(void *ctx, const dw_watch_change *c) {
  hook_log *log = (hook_log *)ctx;
  if (log->calls < 16) {
    log->handles[log->calls] = c->handle;
    log->watched[log->calls] = c->watched;
    log->kinds[log->calls] = c->kind;
  }
  log->calls++;
  uint64_t v;
  log->reentry = dw_version(log->g, c->object, &v);
}

static void test_watch_hook(void) {
  dw_graph *g = new_graph(0);
  hook_log log = {0};
  log.g = g;
  CHECK_OK(dw_set_watch_hook(g, hook, &log));
  dw_object d = track(g, DW_KIND_DICT, 0xd1c7);
  dw_unit u = reg1(g, d, dw_aspect_key(1), 0, 1);
  dw_unit u2 = reg1(g, d, dw_aspect_key(2), 0, 2);
  CHECK(log.calls == 1 && log.handles[0] == 0xd1c7 && log.watched[0] && log.kinds[0] == DW_KIND_DICT);
  CHECK(log.reentry == DW_ERR_REENTRANT);
  CHECK_OK(dw_unregister(g, u, NULL));
  CHECK(log.calls == 1);
  CHECK_OK(dw_unregister(g, u2, NULL));
  CHECK(log.calls == 2 && !log.watched[1]);
  /* Cleared: no more calls. */
  CHECK_OK(dw_set_watch_hook(g, NULL, NULL));
  reg1(g, d, dw_aspect_key(1), 0, 1);
  CHECK(log.calls == 2);
  CHECK_STATUS(dw_set_watch_hook(NULL, hook, &log), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_graph_free(g));
}

static void test_dict_adapter(void) {
  dw_graph *g = new_graph(DW_CONFIG_WATCH_REQUESTS);
  dw_object d, same, looked;
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0x1000, &d));
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0x1000, &same));
  CHECK(d == same);
  CHECK_OK(dw_lookup_handle(g, DW_KIND_DICT, 0x1000, &looked));
  CHECK(looked == d);
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_DICT, 0x9999, &looked), DW_ERR_NOT_TRACKED);
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_FUNCTION, 0x1000, &looked), DW_ERR_NOT_TRACKED);
  CHECK_STATUS(dw_track_handle(g, DW_KIND_CUSTOM_BASE, 1, &looked), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_track_handle(g, 99, 1, &looked), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_track_handle(g, DW_KIND_DICT, 1, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_DICT, 0x1000, NULL), DW_ERR_NULL_POINTER);

  dw_unit added = reg1(g, d, dw_aspect_key(1), 0, 1);
  dw_unit modified = reg1(g, d, dw_aspect_key(2), 0, 2);
  dw_unit deleted = reg1(g, d, dw_aspect_key(3), 0, 3);
  recorder r = {0};
  dw_report rep;
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_ADDED, 0x1000, 1, NULL, record, &r, &rep));
  CHECK(r.fired == 1 && !valid(g, added) && strcmp(r.label[0], "dict.ADDED") == 0);
  CHECK(rep.invalidated == 1);
  /* Storing the same object again re-arms without firing. */
  dw_values same_v = {0xaa, 0xaa, true, true};
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_MODIFIED, 0x1000, 2, &same_v, record, &r, &rep));
  CHECK(r.fired == 1 && valid(g, modified) && rep.fired == 0);
  dw_values diff_v = {0xaa, 0xbb, true, true};
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_MODIFIED, 0x1000, 2, &diff_v, record, &r, &rep));
  CHECK(r.fired == 2 && !valid(g, modified) && strcmp(r.label[1], "dict.MODIFIED") == 0);
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_DELETED, 0x1000, 3, NULL, record, &r, &rep));
  CHECK(r.fired == 3 && !valid(g, deleted));
  dw_unit k1 = reg1(g, d, dw_aspect_key(1), 0, 4), k2 = reg1(g, d, dw_aspect_key(2), 0, 5);
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_CLEARED, 0x1000, 0, NULL, record, &r, &rep));
  CHECK(r.fired == 5 && !valid(g, k1) && !valid(g, k2));
  dw_unit k3 = reg1(g, d, dw_aspect_key(9), 0, 6);
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_CLONED, 0x1000, 0, NULL, record, &r, &rep));
  CHECK(r.fired == 6 && !valid(g, k3));
  dw_unit k4 = reg1(g, d, dw_aspect_key(9), 0, 7);
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_DEALLOCATED, 0x1000, 0, NULL, record, &r, &rep));
  CHECK(r.fired == 7 && !valid(g, k4) && r.terminal[6]);
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_DICT, 0x1000, &looked), DW_ERR_NOT_TRACKED);
  /* Untracked handles are counted no-ops; unknown events are refused. */
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_ADDED, 0x5555, 1, NULL, record, &r, &rep));
  CHECK(rep.fired == 0);
  CHECK_STATUS(dw_dict_event(g, 6, 0x1000, 1, NULL, record, &r, &rep), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_dict_event(g, -1, 0x1000, 1, NULL, record, &r, &rep), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_dict_event(g, DW_DICT_EVENT_ADDED, 0x1000, 1, NULL, NULL, &r, &rep), DW_ERR_NULL_POINTER);

  dw_adapter_stats s;
  CHECK_OK(dw_get_adapter_stats(g, DW_KIND_DICT, &s));
  CHECK(s.events == 8 && s.untracked == 1 && s.same_value == 1 && s.retired == 1 && s.tracked == 0);
  CHECK_STATUS(dw_get_adapter_stats(g, DW_KIND_CUSTOM_BASE + 1, &s), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_get_adapter_stats(g, DW_KIND_DICT, NULL), DW_ERR_NULL_POINTER);

  /* Watch requests. The dict at 0x1000 was deallocated before this first drain, so
     its requests are dropped: a dead dict's handle is never handed out. */
  dw_watch_request reqs[32];
  size_t n = 0;
  CHECK_OK(dw_drain_watch_requests(g, reqs, 32, &n));
  for (size_t i = 0; i < n; i++)
    CHECK(reqs[i].handle != 0x1000);
  CHECK_OK(dw_drain_watch_requests(g, reqs, 32, &n));
  CHECK(n == 0);
  dw_object d2;
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0x2000, &d2));
  dw_unit x = reg1(g, d2, dw_aspect_key(1), 0, 1);
  CHECK_OK(dw_unregister(g, x, NULL));
  CHECK_OK(dw_drain_watch_requests(g, reqs, 1, &n));
  CHECK(n == 1 && reqs[0].action == DW_WATCH_WATCH && reqs[0].handle == 0x2000);
  CHECK_OK(dw_drain_watch_requests(g, reqs, 1, &n));
  CHECK(n == 1 && reqs[0].action == DW_WATCH_UNWATCH);
  /* A refused drain takes nothing from the queue. */
  dw_unit y = reg1(g, d2, dw_aspect_key(1), 0, 1);
  CHECK_STATUS(dw_drain_watch_requests(g, NULL, 1, &n), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_drain_watch_requests(g, reqs, 1, NULL), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_drain_watch_requests(g, reqs, 32, &n));
  CHECK(n == 1 && reqs[0].action == DW_WATCH_WATCH && reqs[0].handle == 0x2000);
  CHECK_OK(dw_unregister(g, y, NULL));
  CHECK_OK(dw_graph_free(g));

  g = new_graph(0);
  CHECK_STATUS(dw_drain_watch_requests(g, reqs, 32, &n), DW_ERR_INVALID_ARGUMENT);
  CHECK_OK(dw_graph_free(g));
}

static void test_function_and_code_adapters(void) {
  dw_graph *g = new_graph(DW_CONFIG_TRACK_FUNCTION_CREATES);
  recorder r = {0};
  dw_report rep;
  dw_object f, looked;
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_CREATE, 0xf00, NULL, record, &r, &rep));
  CHECK_OK(dw_lookup_handle(g, DW_KIND_FUNCTION, 0xf00, &looked)); /* tracked from CREATE */
  CHECK_OK(dw_track_handle(g, DW_KIND_FUNCTION, 0xf00, &f));
  CHECK(f == looked);
  dw_unit by_code = reg1(g, f, dw_aspect_attr(DW_ATTR_CODE), 0, 1);
  dw_unit by_defaults = reg1(g, f, dw_aspect_attr(DW_ATTR_DEFAULTS), 0, 2);
  dw_unit by_kw = reg1(g, f, dw_aspect_attr(DW_ATTR_KWDEFAULTS), 0, 3);
  dw_unit by_closure = reg1(g, f, dw_aspect_attr(DW_ATTR_CLOSURE), 0, 4);
  dw_unit by_globals = reg1(g, f, dw_aspect_attr(DW_ATTR_GLOBALS), 0, 5);
  dw_unit by_ann = reg1(g, f, dw_aspect_attr(DW_ATTR_ANNOTATIONS), 0, 6);
  dw_values v = {1, 2, true, true};
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_MODIFY_CODE, 0xf00, &v, record, &r, &rep));
  CHECK(r.fired == 1 && !valid(g, by_code) && valid(g, by_defaults));
  CHECK(strcmp(r.label[0], "func.MODIFY_CODE") == 0);
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_MODIFY_DEFAULTS, 0xf00, NULL, record, &r, &rep));
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_MODIFY_KWDEFAULTS, 0xf00, NULL, record, &r, &rep));
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_MODIFY_CLOSURE, 0xf00, NULL, record, &r, &rep));
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_MODIFY_GLOBALS, 0xf00, NULL, record, &r, &rep));
  CHECK(valid(g, by_ann));
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_MODIFY_ANNOTATIONS, 0xf00, NULL, record, &r, &rep));
  CHECK(r.fired == 6);
  CHECK(!valid(g, by_defaults) && !valid(g, by_kw) && !valid(g, by_closure) && !valid(g, by_globals) && !valid(g, by_ann));
  dw_unit whole = reg1(g, f, dw_aspect_whole(), 0, 7);
  CHECK_OK(dw_function_event(g, DW_FUNC_EVENT_DESTROY, 0xf00, NULL, record, &r, &rep));
  CHECK(!valid(g, whole) && r.terminal[6]);
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_FUNCTION, 0xf00, &looked), DW_ERR_NOT_TRACKED);
  CHECK_STATUS(dw_function_event(g, 8, 0xf00, NULL, record, &r, &rep), DW_ERR_UNKNOWN_ENUM);
  dw_adapter_stats s;
  CHECK_OK(dw_get_adapter_stats(g, DW_KIND_FUNCTION, &s));
  CHECK(s.created == 1 && s.retired == 1);

  /* Code objects: lazily tracked (no DW_CONFIG_TRACK_CODE_CREATES). */
  CHECK_OK(dw_code_event(g, DW_CODE_EVENT_CREATE, 0xc0de, record, &r, &rep));
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_CODE, 0xc0de, &looked), DW_ERR_NOT_TRACKED);
  dw_object code;
  CHECK_OK(dw_track_handle(g, DW_KIND_CODE, 0xc0de, &code));
  dw_unit inlined = reg1(g, code, dw_aspect_whole(), 0, 8);
  dw_unit instr = reg1(g, code, dw_aspect_attr(DW_ATTR_INSTRUMENTATION), 0, 9);
  CHECK_OK(dw_code_event(g, DW_CODE_EVENT_INSTRUMENTED, 0xc0de, record, &r, &rep));
  CHECK(rep.fired == 2 && !valid(g, inlined) && !valid(g, instr));
  dw_unit again = reg1(g, code, dw_aspect_whole(), 0, 10);
  CHECK_OK(dw_code_event(g, DW_CODE_EVENT_DESTROY, 0xc0de, record, &r, &rep));
  CHECK(!valid(g, again));
  CHECK_STATUS(dw_code_event(g, 3, 0xc0de, record, &r, &rep), DW_ERR_UNKNOWN_ENUM);
  CHECK_STATUS(dw_code_event(g, DW_CODE_EVENT_DESTROY, 0xc0de, NULL, &r, &rep), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_get_adapter_stats(g, DW_KIND_CODE, &s));
  CHECK(s.created == 1 && s.retired == 1);
  CHECK_OK(dw_graph_free(g));
}

static void test_type_adapter(void) {
  dw_graph *g = new_graph(DW_CONFIG_WATCH_REQUESTS);
  uint64_t base = 0xb, sub = 0xc, method = 0x6d;
  CHECK_OK(dw_type_set_bases(g, sub, &base, 1));
  CHECK_STATUS(dw_type_set_bases(g, sub, NULL, 1), DW_ERR_NULL_POINTER);
  CHECK_OK(dw_type_set_bases(g, 0xe, NULL, 0));
  dw_object s;
  CHECK_OK(dw_track_handle(g, DW_KIND_TYPE, sub, &s));
  dw_unit cache = reg1(g, s, dw_aspect_key(method), 0, 1);
  dw_unit rearmed = reg1(g, s, dw_aspect_key(0x77), 0, 2);
  recorder r = {0};
  dw_report rep;
  /* The base is untracked, but its subclass is: the event fans out. */
  CHECK_OK(dw_type_modified(g, base, &method, record, &r, &rep));
  CHECK(r.fired == 1 && !valid(g, cache) && valid(g, rearmed));
  CHECK(strcmp(r.label[0], "type.MODIFIED") == 0);
  dw_watch_request reqs[8];
  size_t n;
  CHECK_OK(dw_drain_watch_requests(g, reqs, 8, &n));
  /* Watch (first dependent), then Rearm: the subclass still has a dependent. */
  CHECK(n == 2 && reqs[0].action == DW_WATCH_WATCH && reqs[1].action == DW_WATCH_REARM && reqs[1].handle == sub);
  r.answer = DW_REARMED;
  CHECK_OK(dw_type_modified(g, sub, NULL, record, &r, &rep));
  CHECK(r.fired == 2 && valid(g, rearmed) && rep.rearmed == 1);
  CHECK_OK(dw_drain_watch_requests(g, reqs, 8, &n));
  CHECK(n == 1 && reqs[0].action == DW_WATCH_REARM);
  r.answer = DW_INVALIDATE;
  CHECK_OK(dw_type_deallocated(g, sub, record, &r, &rep));
  CHECK(!valid(g, rearmed) && r.terminal[2]);
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_TYPE, sub, &s), DW_ERR_NOT_TRACKED);
  CHECK_STATUS(dw_type_modified(g, sub, NULL, NULL, &r, &rep), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_type_deallocated(g, sub, NULL, &r, &rep), DW_ERR_NULL_POINTER);
  dw_adapter_stats st;
  CHECK_OK(dw_get_adapter_stats(g, DW_KIND_TYPE, &st));
  CHECK(st.retired == 1);
  CHECK_OK(dw_graph_free(g));
}

static void test_null_graph_everywhere(void) {
  dw_object o = 0;
  bool b;
  uint64_t v;
  size_t n;
  dw_unit u;
  dw_cell c;
  dw_ticket t;
  dw_payload p;
  dw_stats s;
  dw_adapter_stats as;
  dw_dep d = dep(0, dw_aspect_whole(), 0);
  dw_cell_dep cd = {0, 0};
  dw_kind k;
  CHECK_STATUS(dw_graph_config(NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_graph_stats(NULL, &s), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_track(NULL, DW_KIND_DICT, 1, &o), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_object_is_live(NULL, o, &b), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_object_kind(NULL, o, &k), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_object_handle(NULL, o, &v), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_version(NULL, o, &v), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_is_watched(NULL, o, &b), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_is_stable(NULL, o, dw_aspect_whole(), &b), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_reset_stability(NULL, o, dw_aspect_whole()), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_would_fire(NULL, o, dw_aspect_whole(), &b), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_dependents(NULL, o, dw_aspect_whole(), &u, 1, &n), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_take_ticket(NULL, &t), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_register(NULL, &d, 1, pay(0), &u), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_register_with_ticket(NULL, 0, &d, 1, pay(0), &u), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_cell_handle(NULL, o, dw_aspect_whole(), &c), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_register_cells(NULL, &cd, 1, pay(0), &u), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_register_cells_with_ticket(NULL, 0, &cd, 1, pay(0), &u), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_unregister(NULL, 0, &p), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_is_valid(NULL, 0, &b), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_payload_get(NULL, 0, &p), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_payload_set(NULL, 0, p), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_dependencies(NULL, 0, NULL, 0, &n), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_notify(NULL, o, dw_aspect_whole(), "x", record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_notify_deferred(NULL, o, dw_aspect_whole(), "x"), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_destroy(NULL, o, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_destroy_deferred(NULL, o), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_end_batch(NULL, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_in_batch(NULL, &b), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_deliver(NULL, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_pending_fires(NULL, &n), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_track_handle(NULL, DW_KIND_DICT, 1, &o), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_lookup_handle(NULL, DW_KIND_DICT, 1, &o), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_dict_event(NULL, 0, 1, 1, NULL, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_function_event(NULL, 0, 1, NULL, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_code_event(NULL, 0, 1, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_type_modified(NULL, 1, NULL, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_type_deallocated(NULL, 1, record, NULL, NULL), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_type_set_bases(NULL, 1, NULL, 0), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_drain_watch_requests(NULL, NULL, 0, &n), DW_ERR_NULL_POINTER);
  CHECK_STATUS(dw_get_adapter_stats(NULL, DW_KIND_DICT, &as), DW_ERR_NULL_POINTER);
}

int main(void) {
  test_statuses_and_errors();
  test_last_error_is_per_thread();
  test_graph_lifecycle();
  test_aspect_helpers();
  test_objects();
  test_units();
  test_cells_and_tickets();
  test_unregister_all();
  test_storm_counts_every_event();
  test_heap_bytes();
  test_events();
  test_watch_hook();
  test_dict_adapter();
  test_function_and_code_adapters();
  test_type_adapter();
  test_null_graph_everywhere();
  return check_summary("test_api");
}
