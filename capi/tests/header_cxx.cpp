// The header compiled as C++17 with -Wall -Wextra -Werror -pedantic, and used: a
// captureless lambda as the handler, the payload union, a few calls.
#include <cstdio>
#include <cstring>

#include "depwatch.h"

int main() {
  dw_graph *g = nullptr;
  if (dw_graph_new(nullptr, &g) != DW_OK) return 1;
  dw_object d = 0;
  if (dw_track(g, DW_KIND_DICT, 0x1000, &d) != DW_OK) return 1;
  dw_dep dep{d, dw_aspect_key(7), 2, "seven"};
  dw_payload p;
  p.u64 = 9;
  dw_unit u = 0;
  if (dw_register(g, &dep, 1, p, &u) != DW_OK) return 1;
  int fired = 0;
  dw_handler handler = [](void *ctx, dw_graph *, const dw_fire *fire) -> dw_verdict {
    *static_cast<int *>(ctx) += fire->payload->u64 == 9 && fire->hits[0].dependency.site == 2;
    return DW_INVALIDATE;
  };
  if (dw_notify(g, d, dw_aspect_key(7), "cxx", handler, &fired, nullptr) != DW_OK) return 1;
  bool valid = true;
  dw_is_valid(g, u, &valid);
  dw_graph_free(g);
  int ok = fired == 1 && !valid;
  std::printf("header_cxx: %d passed, %d failed\n", ok, !ok);
  return ok ? 0 : 1;
}
