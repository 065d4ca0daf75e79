/* The classic invalidation scenarios, in C, as a VM would drive them. Handles stand
 * for object addresses; key hashes for the VM's string hashes. */
#include "common.h"

#define LEN UINT64_C(0x6c656e)
#define PRINT UINT64_C(0x7072696e74)
#define LIMIT UINT64_C(0x4c494d4954)
#define METHOD UINT64_C(0x6d6574686f64)

/* A module global is rebound: the unit that inlined its value dies, with the key's
 * name, the site and the label in the hit; a unit on another global survives. */
static void scenario_global_rebind(void) {
  dw_graph *g = new_graph(0);
  dw_object globals;
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0x1000, &globals));
  dw_dep d = dep(globals, dw_aspect_key(LIMIT), 3);
  d.name = "LIMIT";
  dw_unit f, other;
  CHECK_OK(dw_register(g, &d, 1, pay(1), &f));
  other = reg1(g, globals, dw_aspect_key(PRINT), 0, 2);
  recorder r = {0};
  dw_values v = {0x10, 0x20, true, true};
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_MODIFIED, 0x1000, LIMIT, &v, record, &r, NULL));
  CHECK(r.fired == 1 && r.units[0] == f && r.first_site[0] == 3);
  CHECK(strcmp(r.label[0], "dict.MODIFIED") == 0 && strcmp(r.name[0], "LIMIT") == 0);
  CHECK(!valid(g, f) && valid(g, other));
  uint64_t version;
  CHECK_OK(dw_version(g, globals, &version));
  CHECK(version == 1);
  CHECK_OK(dw_graph_free(g));
}

/* A unit calls builtin `len`: it depends on `len` being absent from globals (site 0)
 * and on builtins["len"] (site 1). Defining a global `len` shadows the builtin. */
static void scenario_builtins_shadowing(void) {
  dw_graph *g = new_graph(0);
  dw_object globals, builtins;
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0x1000, &globals));
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0x2000, &builtins));
  dw_dep deps[2] = {dep(globals, dw_aspect_key(LEN), 0), dep(builtins, dw_aspect_key(LEN), 1)};
  dw_unit calls_len, calls_print;
  CHECK_OK(dw_register(g, deps, 2, pay(1), &calls_len));
  dw_dep p = dep(builtins, dw_aspect_key(PRINT), 0);
  CHECK_OK(dw_register(g, &p, 1, pay(2), &calls_print));
  recorder r = {0};
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_ADDED, 0x1000, LEN, NULL, record, &r, NULL));
  CHECK(r.fired == 1 && r.units[0] == calls_len && r.first_site[0] == 0);
  CHECK(strcmp(r.label[0], "dict.ADDED") == 0);
  CHECK(!valid(g, calls_len) && valid(g, calls_print));
  /* Replacing builtins.print hits only the print caller. */
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_MODIFIED, 0x2000, PRINT, NULL, record, &r, NULL));
  CHECK(r.fired == 2 && !valid(g, calls_print));
  CHECK_OK(dw_graph_free(g));
}

/* class Base: method; class Sub(Base). A cache on Sub for `method` (found on Base)
 * dies when Base.method changes; a cache on an unrelated class survives. */
static void scenario_class_attr_with_subclass(void) {
  dw_graph *g = new_graph(DW_CONFIG_WATCH_REQUESTS);
  uint64_t base = 0xba5e, sub = 0x5ab, other = 0x07e;
  CHECK_OK(dw_type_set_bases(g, sub, &base, 1));
  dw_object s, o;
  CHECK_OK(dw_track_handle(g, DW_KIND_TYPE, sub, &s));
  CHECK_OK(dw_track_handle(g, DW_KIND_TYPE, other, &o));
  dw_unit cache = reg1(g, s, dw_aspect_key(METHOD), 0, 1);
  dw_unit unrelated = reg1(g, o, dw_aspect_key(METHOD), 0, 2);
  dw_unit other_attr = reg1(g, s, dw_aspect_key(0x1234), 0, 3);
  recorder r = {0};
  uint64_t method = METHOD;
  CHECK_OK(dw_type_modified(g, base, &method, record, &r, NULL));
  CHECK(r.fired == 1 && r.units[0] == cache);
  CHECK(!valid(g, cache) && valid(g, unrelated) && valid(g, other_attr));
  /* CPython gives no attribute name: a whole-type event on Base hits all of Sub's. */
  CHECK_OK(dw_type_modified(g, base, NULL, record, &r, NULL));
  CHECK(r.fired == 2 && !valid(g, other_attr) && valid(g, unrelated));
  CHECK_OK(dw_graph_free(g));
}

/* A dict dies and a new one is allocated at the same address: its ID is new, the old
 * units are gone, and a unit on the new dict is not hit by anything aimed at the old. */
static void scenario_death_and_address_reuse(void) {
  dw_graph *g = new_graph(0);
  dw_object old_id, new_id;
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0xadd7, &old_id));
  dw_unit old_unit = reg1(g, old_id, dw_aspect_key(1), 0, 1);
  recorder r = {0};
  CHECK_OK(dw_dict_event(g, DW_DICT_EVENT_DEALLOCATED, 0xadd7, 0, NULL, record, &r, NULL));
  CHECK(r.fired == 1 && r.terminal[0] && !valid(g, old_unit));
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, 0xadd7, &new_id));
  CHECK(new_id != old_id);
  dw_unit new_unit = reg1(g, new_id, dw_aspect_key(1), 0, 2);
  uint64_t v;
  CHECK_STATUS(dw_version(g, old_id, &v), DW_ERR_STALE_OBJECT);
  CHECK_STATUS(dw_notify(g, old_id, dw_aspect_key(1), "x", record, &r, NULL), DW_ERR_STALE_OBJECT);
  CHECK(valid(g, new_unit) && r.fired == 1);
  dw_dep stale = dep(old_id, dw_aspect_key(1), 0);
  dw_unit x;
  CHECK_STATUS(dw_register(g, &stale, 1, pay(3), &x), DW_ERR_STALE_OBJECT);
  /* Slot reuse: with a tiny retirement limit, IDs still never alias. */
  dw_config c = dw_config_default();
  c.max_slot_reuse = 2;
  dw_graph *g2 = NULL;
  CHECK_OK(dw_graph_new(&c, &g2));
  dw_object seen[12];
  for (int i = 0; i < 12; i++) {
    seen[i] = track(g2, DW_KIND_DICT, 0xadd7);
    for (int j = 0; j < i; j++) CHECK(seen[j] != seen[i]);
    CHECK_OK(dw_destroy(g2, seen[i], record, &r, NULL));
  }
  dw_stats st;
  CHECK_OK(dw_graph_stats(g2, &st));
  CHECK(st.retired_slots > 0);
  CHECK_OK(dw_graph_free(g2));
  CHECK_OK(dw_graph_free(g));
}

/* Patching one site: the handler patches the hit site to a deopt and answers
 * DW_PATCHED. The unit stays valid, loses only the hit edge, and a second event on
 * the patched key does not fire it again. */
static void scenario_patch_one_site(void) {
  dw_graph *g = new_graph(0);
  dw_object globals = track(g, DW_KIND_DICT, 0x1000);
  dw_dep deps[2] = {dep(globals, dw_aspect_key(LEN), 7), dep(globals, dw_aspect_key(PRINT), 9)};
  dw_unit u;
  CHECK_OK(dw_register(g, deps, 2, pay(1), &u));
  recorder r = {0};
  r.answer = DW_PATCHED;
  dw_report rep;
  CHECK_OK(dw_notify(g, globals, dw_aspect_key(LEN), "dict.MODIFIED", record, &r, &rep));
  CHECK(r.fired == 1 && r.first_site[0] == 7 && rep.patched == 1);
  CHECK(valid(g, u));
  size_t n;
  dw_dependency left[4];
  CHECK_OK(dw_dependencies(g, u, left, 4, &n));
  CHECK(n == 1 && left[0].site == 9 && left[0].aspect.key == PRINT);
  CHECK_OK(dw_notify(g, globals, dw_aspect_key(LEN), "dict.MODIFIED", record, &r, &rep));
  CHECK(r.fired == 1 && rep.fired == 0);
  r.answer = DW_INVALIDATE;
  CHECK_OK(dw_notify(g, globals, dw_aspect_key(PRINT), "dict.MODIFIED", record, &r, &rep));
  CHECK(r.fired == 2 && !valid(g, u));
  CHECK_OK(dw_graph_free(g));
}

/* A batch: two writes to one dict fire a unit depending on both once, with both
 * causes; a type event fanned out to a subclass is one batch too. */
static void scenario_batch(void) {
  dw_graph *g = new_graph(0);
  dw_object a = track(g, DW_KIND_DICT, 1), b = track(g, DW_KIND_DICT, 2);
  dw_dep deps[2] = {dep(a, dw_aspect_key(1), 0), dep(b, dw_aspect_key(2), 1)};
  dw_unit u;
  CHECK_OK(dw_register(g, deps, 2, pay(1), &u));
  recorder r = {0};
  dw_report rep;
  CHECK_OK(dw_begin_batch(g));
  CHECK_OK(dw_begin_batch(g)); /* nested */
  CHECK_OK(dw_notify(g, a, dw_aspect_key(1), "first", record, &r, &rep));
  CHECK_OK(dw_end_batch(g, record, &r, &rep));
  CHECK(rep.deferred && r.fired == 0);
  CHECK_OK(dw_notify(g, b, dw_aspect_key(2), "second", record, &r, &rep));
  CHECK(!valid(g, u)); /* pending */
  CHECK_OK(dw_end_batch(g, record, &r, &rep));
  CHECK(r.fired == 1 && r.n_hits[0] == 2 && r.n_causes[0] == 2 && rep.invalidated == 1);
  CHECK(strcmp(r.label[0], "first") == 0);
  CHECK_OK(dw_graph_free(g));
}

/* The compile race: a compiler takes a ticket, reads globals["LIMIT"], and meanwhile
 * the program writes it. Registering the finished unit is refused; a recompile under
 * a fresh ticket succeeds. */
static void scenario_compile_race(void) {
  dw_graph *g = new_graph(0);
  dw_object globals = track(g, DW_KIND_DICT, 0x1000);
  dw_ticket t;
  CHECK_OK(dw_take_ticket(g, &t));
  recorder r = {0};
  CHECK_OK(dw_notify(g, globals, dw_aspect_key(LIMIT), "dict.MODIFIED", record, &r, NULL));
  dw_dep d = dep(globals, dw_aspect_key(LIMIT), 0);
  dw_unit u = 0;
  CHECK_STATUS(dw_register_with_ticket(g, t, &d, 1, pay(1), &u), DW_ERR_STALE_TICKET);
  CHECK(u == 0);
  CHECK_OK(dw_take_ticket(g, &t));
  CHECK_OK(dw_register_with_ticket(g, t, &d, 1, pay(1), &u));
  CHECK(valid(g, u));
  /* An object tracked after the ticket cannot be vouched for. */
  dw_ticket t2;
  CHECK_OK(dw_take_ticket(g, &t2));
  dw_object late = track(g, DW_KIND_DICT, 0x2000);
  dw_dep dl = dep(late, dw_aspect_whole(), 0);
  CHECK_STATUS(dw_register_with_ticket(g, t2, &dl, 1, pay(2), &u), DW_ERR_STALE_TICKET);
  CHECK_OK(dw_graph_free(g));
}

/* A storm: a global rebound over and over stops being speculated on. After
 * storm_threshold effective invalidations, new dependencies on the key are refused;
 * other keys are unaffected; reset_stability lifts it. */
static void scenario_storm(void) {
  dw_config c = dw_config_default();
  c.storm_threshold = 3;
  dw_graph *g = NULL;
  CHECK_OK(dw_graph_new(&c, &g));
  dw_object globals = track(g, DW_KIND_DICT, 0x1000);
  recorder r = {0};
  for (int i = 0; i < 3; i++) {
    reg1(g, globals, dw_aspect_key(LIMIT), 0, (uint64_t)i);
    CHECK_OK(dw_notify(g, globals, dw_aspect_key(LIMIT), "dict.MODIFIED", record, &r, NULL));
  }
  CHECK(r.fired == 3);
  bool stable = true;
  CHECK_OK(dw_is_stable(g, globals, dw_aspect_key(LIMIT), &stable));
  CHECK(!stable);
  CHECK_OK(dw_is_stable(g, globals, dw_aspect_key(LEN), &stable));
  CHECK(stable);
  dw_dep d = dep(globals, dw_aspect_key(LIMIT), 0);
  dw_unit u;
  CHECK_STATUS(dw_register(g, &d, 1, pay(9), &u), DW_ERR_UNSTABLE);
  reg1(g, globals, dw_aspect_key(LEN), 0, 10);
  CHECK_OK(dw_reset_stability(g, globals, dw_aspect_key(LIMIT)));
  CHECK_OK(dw_register(g, &d, 1, pay(9), &u));
  CHECK_OK(dw_graph_free(g));
}

/* Reentrant calls from a handler: while a unit fires, the handler registers a
 * replacement, notifies another object (delivered after this fire, by the same outer
 * call), unregisters a third unit, feeds a dict deallocation through the adapter (as
 * CPython's executor teardown can), and is refused freeing the graph. */
typedef struct reentry {
  dw_object other, replacement_dep;
  dw_unit to_unregister, replacement;
  uint64_t dying_dict;
  int calls;
  dw_status free_status, unregister_status, register_status, notify_status, dict_status;
  dw_status self_unregister_status, payload_status;
  dw_report inner;
  recorder after;
} reentry;

static dw_verdict reenter(void *ctx, dw_graph *g, const dw_fire *fire) {
  reentry *e = (reentry *)ctx;
  e->calls++;
  if (e->calls > 1) return record(&e->after, g, fire);
  e->free_status = dw_graph_free(g);
  e->self_unregister_status = dw_unregister(g, fire->unit, NULL);
  dw_payload p;
  e->payload_status = dw_payload_get(g, fire->unit, &p);
  dw_dep d = dep(e->replacement_dep, dw_aspect_key(1), 0);
  e->register_status = dw_register(g, &d, 1, pay(100), &e->replacement);
  e->unregister_status = dw_unregister(g, e->to_unregister, NULL);
  e->notify_status = dw_notify(g, e->other, dw_aspect_whole(), "inner", reenter, e, &e->inner);
  e->dict_status = dw_dict_event(g, DW_DICT_EVENT_DEALLOCATED, e->dying_dict, 0, NULL, reenter, e, NULL);
  return DW_INVALIDATE;
}

static void scenario_reentrancy(void) {
  dw_graph *g = new_graph(0);
  dw_object a = track(g, DW_KIND_DICT, 1);
  reentry e;
  memset(&e, 0, sizeof e);
  e.other = track(g, DW_KIND_DICT, 2);
  e.replacement_dep = track(g, DW_KIND_DICT, 3);
  e.dying_dict = 0xdead;
  dw_object dying;
  CHECK_OK(dw_track_handle(g, DW_KIND_DICT, e.dying_dict, &dying));
  dw_unit first = reg1(g, a, dw_aspect_key(1), 0, 1);
  dw_unit on_other = reg1(g, e.other, dw_aspect_key(5), 0, 2);
  dw_unit on_dying = reg1(g, dying, dw_aspect_key(5), 0, 3);
  e.to_unregister = reg1(g, a, dw_aspect_key(2), 0, 4);
  dw_report rep;
  CHECK_OK(dw_notify(g, a, dw_aspect_key(1), "outer", reenter, &e, &rep));
  CHECK(e.free_status == DW_ERR_REENTRANT);
  CHECK(e.self_unregister_status == DW_ERR_UNIT_FIRING);
  CHECK(e.payload_status == DW_ERR_UNIT_FIRING);
  CHECK(e.register_status == DW_OK && valid(g, e.replacement));
  CHECK(e.unregister_status == DW_OK && !valid(g, e.to_unregister));
  CHECK(e.notify_status == DW_OK && e.inner.deferred && e.inner.fired == 0);
  CHECK(e.dict_status == DW_OK);
  /* The outer call delivered the inner events' fires after the first. */
  CHECK(e.calls == 3 && e.after.fired == 2);
  CHECK(rep.fired == 3 && rep.invalidated == 3);
  CHECK(!valid(g, first) && !valid(g, on_other) && !valid(g, on_dying));
  CHECK(strcmp(e.after.label[0], "inner") == 0 && strcmp(e.after.label[1], "destroyed") == 0 && e.after.terminal[1]);
  dw_object looked;
  CHECK_STATUS(dw_lookup_handle(g, DW_KIND_DICT, e.dying_dict, &looked), DW_ERR_NOT_TRACKED);
  size_t pending = 99;
  CHECK_OK(dw_pending_fires(g, &pending));
  CHECK(pending == 0);
  CHECK_OK(dw_graph_free(g));
}

int main(void) {
  scenario_global_rebind();
  scenario_builtins_shadowing();
  scenario_class_attr_with_subclass();
  scenario_death_and_address_reuse();
  scenario_patch_one_site();
  scenario_batch();
  scenario_compile_race();
  scenario_storm();
  scenario_reentrancy();
  return check_summary("test_scenarios");
}
