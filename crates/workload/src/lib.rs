//! The workloads: what the experiment and the benchmarks ask of an
//! allocator. They are generic over [`Allocator`] and never know which
//! allocator they drive; given the same seed, every allocator sees the same
//! stream of requests up to its own first failure.
//!
//! - [`consume_memory`]: the original experiment. Allocate 3 times out of 4,
//!   free once, until an allocation fails; count the successful calls.
//! - [`replay`]: a recorded trace, operation by operation, each block
//!   filled with a pattern and checked.
//! - [`steady`]: a fixed live set, one random block replaced per step: the
//!   speed of alloc + free in a warm heap.
//! - [`trace`]: recorded allocation traces, decoded for [`replay`].

#![no_std]

#[cfg(test)]
extern crate std;

pub mod consume_memory;
pub mod replay;
pub mod steady;
pub mod trace;

use core::alloc::Layout;
use core::ptr::NonNull;

use tmalloc_alloc::{Source, Tmalloc};

/// What a workload needs from an allocator.
pub trait Allocator {
    /// A block for `layout`, or `None` when memory is exhausted.
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>>;

    /// Frees a block from `alloc` with the same layout.
    ///
    /// # Safety
    ///
    /// `ptr` must be a live block from this allocator, allocated with `layout`.
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout);

    /// Resizes a block from `alloc` to `new_size` bytes, keeping its
    /// alignment and its first `min(old, new)` bytes; `None` when memory is
    /// exhausted, and the block is untouched. By default a move: alloc,
    /// copy, free.
    ///
    /// # Safety
    ///
    /// `ptr` must be a live block from this allocator, allocated with `layout`.
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        let new = self.alloc(Layout::from_size_align(new_size, layout.align()).ok()?)?;
        // SAFETY: both blocks are live and distinct, each holds the bytes copied.
        unsafe {
            core::ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), layout.size().min(new_size));
            self.free(ptr, layout);
        }
        Some(new)
    }
}

impl<S: Source> Allocator for Tmalloc<S> {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        Tmalloc::alloc(self, layout.size(), layout.align())
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, _layout: Layout) {
        // tmalloc needs no size: that is the point of the exercise.
        if let Err(what) = self.try_free(Some(ptr)) {
            tmalloc_alloc::misuse("tfree", ptr, what);
        }
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // tmalloc's own: in place when the neighbour allows.
        match self.try_realloc(ptr, new_size, layout.align()) {
            Ok(new) => new,
            Err(what) => tmalloc_alloc::misuse("trealloc", ptr, what),
        }
    }
}

/// A uniformly random integer below `n` (n > 0) from one 64-bit draw, by
/// Lemire's multiply-shift: no modulo bias worth measuring, no division.
#[inline]
pub fn below(draw: u64, n: u64) -> u64 {
    ((draw as u128 * n as u128) >> 64) as u64
}
