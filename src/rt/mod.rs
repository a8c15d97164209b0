//! The runtime that libc would have given us: start-up, exit, fork, output,
//! and the panic path.

pub mod fmt;
pub mod fs;
pub mod io;
pub mod layout;
pub mod mapvec;
pub mod startup;

use core::panic::PanicInfo;

use crate::sys::{self, Errno, Forked};
pub use startup::Startup;

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
    exit(main(&startup))
}

/// Flushes the output streams and ends the process.
pub fn exit(code: i32) -> ! {
    flush_all();
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

/// The exit status of a process killed by SIGABRT, as a shell reports it.
pub const ABORT_EXIT_CODE: i32 = 128 + sys::signal::SIGABRT;

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
    let me = sys::getpid();
    let _ = sys::unblock_signal(sys::signal::SIGABRT);
    let _ = sys::kill(me, sys::signal::SIGABRT);
    // Still here: SIGABRT was caught or ignored. Restore its default action.
    let _ = sys::reset_signal_to_default(sys::signal::SIGABRT);
    let _ = sys::kill(me, sys::signal::SIGABRT);
    sys::exit_group(ABORT_EXIT_CODE)
}

/// `panicked at FILE:LINE: MESSAGE` followed by a newline.
pub fn write_panic_message(out: &mut impl core::fmt::Write, info: &PanicInfo<'_>) -> core::fmt::Result {
    match info.location() {
        Some(at) => write!(out, "panicked at {}:{}: ", at.file(), at.line())?,
        None => out.write_str("panicked: ")?,
    }
    writeln!(out, "{}", info.message())
}
