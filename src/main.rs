//! The freestanding `tmalloc` executable: no libc, no crt1, no dynamic
//! loader. All logic lives in the library; this file only supplies what a
//! `no_std`, `no_main` binary must define itself.

#![no_std]
#![no_main]

// `_start`, `memcpy` & co., running `tmalloc::cli::main`.
tmalloc::freestanding_runtime!(tmalloc::cli::main);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    tmalloc::rt::panic(info)
}
