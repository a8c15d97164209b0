//! The textbook explicit free list: every free block on one doubly linked
//! list, newest first (LIFO), searched by a fit [`Rule`]. Coalescing is
//! immediate (the boundary tags of [`super::tags`]).
//!
//! The four fit policies differ only in the rule, each in its own file:
//! first-fit, next-fit, best-fit, worst-fit. They share this one index
//! type, so the boundary-tag heap is compiled once for all four.

use core::ptr::NonNull;

use crate::allocator::error::{HeapError, ensure};
use crate::allocator::list::List;
use crate::allocator::policy::tags::{Block, FreeBlock, FreeIndex, MIN_BLOCK, TagHeap, check_indexed};
use crate::allocator::policy::{best_fit, first_fit, next_fit, worst_fit};

/// How a fit policy picks a free block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    First,
    Next,
    Best,
    Worst,
}

/// One free list searched by a [`Rule`].
pub struct FreeList {
    pub list: List<FreeBlock>,
    pub rule: Rule,
    /// Where next fit's next search starts: the block after the last one
    /// it picked. Always `None` under the other rules.
    pub rover: Option<NonNull<FreeBlock>>,
}

// SAFETY: the rover points into the heap the policy belongs to, which one
// lock guards.
unsafe impl Send for FreeList {}

/// A boundary-tag heap over one free list: the type of all four fit policies.
pub type FitHeap = TagHeap<FreeList>;

impl FreeList {
    pub const fn new(rule: Rule) -> FreeList {
        FreeList { list: List::new(), rule, rover: None }
    }
}

/// The heap of a fit policy.
pub const fn heap(rule: Rule) -> FitHeap {
    TagHeap::new(FreeList::new(rule))
}

/// The size of a listed free block.
#[inline]
pub fn size_of(block: Block) -> usize {
    // SAFETY: listed blocks are free blocks inside the heap.
    unsafe { block.size() }
}

impl FreeIndex for FreeList {
    unsafe fn insert(&mut self, block: Block) {
        // SAFETY: the caller vouches the block is free and unlisted.
        unsafe { self.list.push_front(FreeBlock::of(block)) }
    }

    unsafe fn remove(&mut self, block: Block) {
        if self.rover == Some(FreeBlock::of(block)) {
            // SAFETY: the block is still listed.
            self.rover = unsafe { self.list.next(FreeBlock::of(block)) };
        }
        // SAFETY: the caller vouches the block is listed.
        unsafe { self.list.remove(FreeBlock::of(block)) }
    }

    fn find(&mut self, size: usize) -> Option<Block> {
        match self.rule {
            Rule::First => first_fit::pick(&self.list, size),
            Rule::Next => next_fit::pick(&self.list, &mut self.rover, size),
            Rule::Best => best_fit::pick(&self.list, size),
            Rule::Worst => worst_fit::pick(&self.list, size),
        }
    }

    fn check(&self) -> Result<(usize, usize), HeapError> {
        self.list.check(self.list.len() + 1)?;
        if let Some(rover) = self.rover {
            let listed = self.list.iter().any(|e| e == rover);
            ensure(listed, "next fit's rover is not a listed free block", rover.as_ptr() as usize, 0, 1)?;
        }
        let mut bytes = 0;
        for elem in self.list.iter() {
            bytes += check_indexed(FreeBlock::block(elem), MIN_BLOCK, usize::MAX)?;
        }
        Ok((self.list.len(), bytes))
    }
}
