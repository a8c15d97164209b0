//! The kernel boundary: the only crate with `asm!` and system call numbers.
//!
//! - [`raw`]: the `syscall` instruction, `syscall0` to `syscall6`.
//! - [`calls`]: typed wrappers returning `Result<_, Errno>`, re-exported
//!   here; everything above this crate talks to the kernel through them.
//! - [`mem`]: the byte primitives behind `memcpy` and friends, as x86
//!   string instructions.
//! - [`entry_point!`]: the `_start` entry point, emitted into the one
//!   binary that asks for it.
//! - [`stack`]: a call made on a stack of our own.

#![no_std]

#[cfg(test)]
extern crate std;

pub mod calls;
mod entry;
pub mod mem;
pub mod raw;
pub mod stack;

pub use calls::*;
pub use syscalls::Errno;
