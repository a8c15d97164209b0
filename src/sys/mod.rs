//! The kernel boundary: the only module with `asm!` and system call numbers.
//!
//! - [`raw`]: the `syscall` instruction, `syscall0` to `syscall6`.
//! - [`calls`]: typed wrappers returning `Result<_, Errno>`.
//! - [`mem`]: `memcpy` and friends, as x86 string instructions.
//! - `start`: the `_start` entry point, emitted into the binary by
//!   [`freestanding_runtime!`](crate::freestanding_runtime).
//!
//! Everything above this module talks to the kernel through [`calls`].

pub mod calls;
pub mod mem;
pub mod raw;
mod start;

pub use calls::*;
pub use syscalls::Errno;
