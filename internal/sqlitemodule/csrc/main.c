// The SQLite side module's translation unit: go-sqlite3-wasm's build/main.c
// (v6.7.35401) without the ext/misc extensions (decimal, ieee754, regexp,
// series, uint), whose sources are in neither the mattn/go-sqlite3 module
// nor any other source reachable from the build machine; Hearth calls none
// of their SQL functions. Everything else is as upstream: the amalgamation,
// go-sqlite3-wasm's bindings, and libc-gen's libc with the TLSF allocator
// (patched by go_more_core.patch to take memory from Go).

// Amalgamation
#include "sqlite3.c"
// Bindings
#include "func.c"
#include "hooks.c"
#include "pointer.c"
#include "stmt.c"
#include "text.c"
#include "time.c"
#include "vfs.c"
#include "vtab.c"
// Libc
#include "libc.c"
#include "malloc_tlsf.c"

static int malloc_good_size_(int size) { return malloc_good_size(size); }

void _initialize() {
  init_allocator();

  static sqlite3_mem_methods mem_methods;
  sqlite3_config(SQLITE_CONFIG_GETMALLOC, &mem_methods);

  mem_methods.xRoundup = malloc_good_size_;
  sqlite3_config(SQLITE_CONFIG_MALLOC, &mem_methods);

  sqlite3_initialize();
  sqlite3_auto_extension((void (*)(void))sqlite3_time_init);
}
