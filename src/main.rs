//! The freestanding `tmalloc` executable: no libc, no crt1, no dynamic
//! loader. Everything lives in the workspace's crates; this file only
//! supplies what a `no_std`, `no_main` binary must define itself.

#![no_std]
#![no_main]

// `_start`, `memcpy` & co., running the command line.
tmalloc_rt::freestanding_runtime!(tmalloc_app::main);

/// The C ABI, kept in the debug binary (the one to read with gdb) even
/// though nothing in it calls these functions: gdb does (`print (void*)
/// tmalloc(64)`, `call tfree($1)`). The release binary, built for size,
/// leaves them out.
#[cfg(debug_assertions)]
#[used]
static C_ABI: tmalloc_alloc::global::capi::EntryPoints = tmalloc_alloc::global::capi::ENTRY_POINTS;

/// The block formats as numbers, which gdb's `tmalloc` commands read
/// (`gdb/tmalloc.py`), kept in the debug binary only.
#[cfg(debug_assertions)]
#[used]
static LAYOUT: &tmalloc_alloc::layout::Layout = &tmalloc_alloc::layout::TMALLOC_LAYOUT;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    tmalloc_rt::panic(info)
}
