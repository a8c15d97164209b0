//! The runtime that libc would have given tmalloc's binary: start-up, exit,
//! fork, output and formatting, files, child processes, number parsing,
//! collections in mappings of their own, and the panic path. It never
//! allocates from tmalloc: everything here lives on the stack, in static
//! memory, or in `mmap`s (`mapvec`), so that the heap being measured is
//! the only heap.
//!
//! - [`startup`]: what the kernel hands a new process (argv, envp, auxv).
//! - [`io`], [`fmt`]: buffered stdout/stderr and `print!`; number formats.
//! - [`fs`], [`lines`]: files and pipes read with `read(2)`; lines of any file.
//! - [`process`]: work in a forked child under a limit, and its report.
//! - [`parse`]: numbers and sizes in text.
//! - [`mapvec`], [`keys`]: a growable array and a hash map in mappings.
//! - [`stack`]: room on the stack for a child's work, mapped under a small limit.
//! - [`image`]: the binary's own segments, from `linker.ld`'s symbols.
//! - [`freestanding_runtime!`]: `_start` and the C symbols, for the binary.

#![no_std]

#[cfg(test)]
extern crate std;

mod entry;
pub mod fmt;
pub mod fs;
pub mod image;
pub mod io;
pub mod keys;
pub mod lines;
pub mod mapvec;
pub mod parse;
pub mod process;
pub mod stack;
pub mod startup;

/// The kernel boundary, for [`freestanding_runtime!`]'s expansion.
#[doc(hidden)]
pub use tmalloc_sys as __sys;

use core::panic::PanicInfo;

use fmt::ErrnoText;
pub use startup::Startup;
use tmalloc_sys::{self as sys, Errno, Forked};

/// The exit status of a panic, as Rust's std uses.
pub const PANIC_EXIT_CODE: i32 = 101;

/// What `__libc_start_main` does: read the initial stack, run `main`, exit
/// with its result.
///
/// # Safety
///
/// Called once, from `_start`, with the kernel's initial stack pointer.
pub unsafe fn start(initial_sp: *const usize, main: fn(&Startup) -> i32) -> ! {
    // SAFETY: the caller passes the kernel's initial stack, which lives as
    // long as the process.
    let startup = unsafe { Startup::from_stack(initial_sp) };
    if let Err(e) = io::guard_standard_descriptors() {
        eprintln!("tmalloc: cannot open /dev/null: {}", ErrnoText(e));
        sys::exit_group(1);
    }
    exit(main(&startup))
}

/// Flushes the output streams and ends the process. If writing to stdout
/// failed, here or in a child ([`process::run_in_child`]), says so once on
/// stderr, as coreutils do, and a successful exit becomes status 1.
pub fn exit(code: i32) -> ! {
    flush_all();
    let code = match io::STDOUT.error() {
        Some(e) => {
            eprintln!("tmalloc: write error on stdout: {}", ErrnoText(e));
            if code == 0 { 1 } else { code }
        }
        None => code,
    };
    sys::exit_group(code)
}

/// Flushes the output streams, then forks: otherwise bytes buffered before
/// the fork would be printed by both processes.
pub fn fork() -> Result<Forked, Errno> {
    flush_all();
    sys::fork()
}

/// Writes out everything buffered on stdout and stderr.
pub fn flush_all() {
    io::STDOUT.flush();
    io::STDERR.flush();
}

/// The panic handler's body: `panicked at FILE:LINE: MESSAGE` on stderr,
/// exit status 101. The binary's `#[panic_handler]` calls it.
pub fn panic(info: &PanicInfo<'_>) -> ! {
    // Flush what the program printed so far, so the message comes after it,
    // unless the panic interrupted a writer that holds the lock.
    io::STDOUT.try_flush();
    io::STDERR.try_flush();
    // Format into a buffer of our own: the panic may have come from inside
    // the stream machinery.
    let mut buffer = io::Buffer::<512>::new();
    let mut out = io::BufWriter::new(sys::Fd::STDERR, &mut buffer);
    let _ = write_panic_message(&mut out, info);
    let _ = out.flush();
    sys::exit_group(PANIC_EXIT_CODE)
}

/// Prints `tmalloc: MESSAGE` on stderr and ends the process with SIGABRT,
/// as `abort(3)` does: for allocator misuse, where carrying on would
/// corrupt memory.
pub fn abort(message: core::fmt::Arguments<'_>) -> ! {
    use core::fmt::Write as _;
    io::STDOUT.try_flush();
    io::STDERR.try_flush();
    let mut buffer = io::Buffer::<256>::new();
    let mut out = io::BufWriter::new(sys::Fd::STDERR, &mut buffer);
    let _ = writeln!(out, "tmalloc: {message}");
    let _ = out.flush();
    sys::abort()
}

/// `panicked at FILE:LINE: MESSAGE` followed by a newline.
pub fn write_panic_message(out: &mut impl core::fmt::Write, info: &PanicInfo<'_>) -> core::fmt::Result {
    match info.location() {
        Some(at) => write!(out, "panicked at {}:{}: ", at.file(), at.line())?,
        None => out.write_str("panicked: ")?,
    }
    writeln!(out, "{}", info.message())
}
