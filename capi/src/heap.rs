//! The library's own heap use: its global allocator forwards to the system allocator
//! and keeps a count of the bytes live, which [`dw_heap_bytes`] reads.
//!
//! This is how a VM can tell what depwatch costs it in memory without trusting an
//! estimate: the count covers every allocation the library's Rust code makes (every
//! graph's maps, sets, adapters' handle tables, the C ABI's side tables, and the
//! per-thread error messages), and nothing else in the process. It is the size
//! requested, without the system allocator's own headers and rounding.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counted.
struct Counted;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, so it meets
// `GlobalAlloc`'s contract exactly when the caller does; the counter is only
// arithmetic on an atomic and never allocates.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout is non-zero-sized, as `GlobalAlloc::alloc` requires.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (so by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` and `layout` are as in `dealloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counted = Counted;

/// The bytes the library holds on the heap now, over every graph in the process and
/// the per-thread error messages: the sizes its Rust code asked the system allocator
/// for, without the allocator's own overhead. Unlike `dw_stats.bytes`, an estimate
/// of one graph's core structures, it is a count, and it includes the adapters'
/// handle tables and the C ABI's side tables. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dw_heap_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed) as u64
}
