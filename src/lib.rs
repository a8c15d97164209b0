//! tmalloc: `malloc` from scratch, in a `no_std`, no-libc, static x86_64
//! Linux binary that talks to the kernel only through the `syscall`
//! instruction.
//!
//! - [`sys`]: the kernel boundary, the only module with `asm!`.
//! - [`allocator`]: tmalloc itself: policies, memory sources, the C ABI.
//! - [`rt`]: what libc would have provided: start-up, output, exit, panic.
//! - [`trace`]: recorded allocation traces (CS:APP `.rep`, valgrind logs).
//! - [`workload`]: what the experiment asks of an allocator.
//! - [`cli`]: the command line.
//!
//! Everything here is ordinary library code, tested on the host by
//! `cargo test`; `src/main.rs` is the thin freestanding binary on top.

#![no_std]

#[cfg(test)]
extern crate std;

pub mod allocator;
pub mod cli;
pub mod experiment;
pub mod inspect;
pub mod rt;
pub mod sync;
pub mod sys;
pub mod test_fault;
pub mod trace;
pub mod workload;
