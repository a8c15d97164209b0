//! The freestanding `tmalloc` executable: no libc, no crt1, no dynamic
//! loader. All logic lives in the library; this file only supplies what a
//! `no_std`, `no_main` binary must define itself.

#![no_std]
#![no_main]

// `_start`, `memcpy` & co., running `tmalloc::cli::main`.
tmalloc::freestanding_runtime!(tmalloc::cli::main);

/// The C ABI, kept in the debug binary (the one to read with gdb) even
/// though nothing in it calls these functions: gdb does (`print (void*)
/// tmalloc(64)`, `call tfree($1)`). The release binary, built for size,
/// leaves them out.
#[cfg(debug_assertions)]
#[used]
static C_ABI: tmalloc::allocator::api::capi::EntryPoints = tmalloc::allocator::api::capi::ENTRY_POINTS;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    tmalloc::rt::panic(info)
}
