//! The textbook explicit free list: every free block on one doubly linked
//! list, newest first (LIFO), found by a [`Fit`] rule. Coalescing is
//! immediate (the boundary tags of [`super::tags`]).
//!
//! The four fit policies differ only in the rule:
//! first-fit, next-fit, best-fit, worst-fit.

use crate::allocator::error::HeapError;
use crate::allocator::list::List;
use crate::allocator::policy::tags::{Block, FreeBlock, FreeIndex, MIN_BLOCK, check_indexed};

/// How a fit policy picks a free block.
pub trait Fit {
    /// A block of at least `size` bytes from `list`, or `None`.
    fn pick(&mut self, list: &List<FreeBlock>, size: usize) -> Option<Block>;

    /// Called before `block` leaves `list`, for rules that remember a position.
    fn forget(&mut self, _list: &List<FreeBlock>, _block: Block) {}
}

/// One free list searched by rule `F`.
pub struct FreeList<F: Fit> {
    pub list: List<FreeBlock>,
    pub fit: F,
}

impl<F: Fit> FreeList<F> {
    pub const fn new(fit: F) -> FreeList<F> {
        FreeList { list: List::new(), fit }
    }
}

/// The size of a listed free block.
#[inline]
pub fn size_of(block: Block) -> usize {
    // SAFETY: listed blocks are free blocks inside the heap.
    unsafe { block.size() }
}

impl<F: Fit> FreeIndex for FreeList<F> {
    unsafe fn insert(&mut self, block: Block) {
        // SAFETY: the caller vouches the block is free and unlisted.
        unsafe { self.list.push_front(FreeBlock::of(block)) }
    }

    unsafe fn remove(&mut self, block: Block) {
        self.fit.forget(&self.list, block);
        // SAFETY: the caller vouches the block is listed.
        unsafe { self.list.remove(FreeBlock::of(block)) }
    }

    fn find(&mut self, size: usize) -> Option<Block> {
        self.fit.pick(&self.list, size)
    }

    fn check(&self) -> Result<(usize, usize), HeapError> {
        self.list.check(self.list.len() + 1)?;
        let mut bytes = 0;
        for elem in self.list.iter() {
            bytes += check_indexed(FreeBlock::block(elem), MIN_BLOCK, usize::MAX)?;
        }
        Ok((self.list.len(), bytes))
    }
}
