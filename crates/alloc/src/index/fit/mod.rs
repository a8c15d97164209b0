//! The textbook explicit free list: every free block on one doubly linked
//! list, newest first (LIFO), searched by a fit [`Rule`]. Coalescing is
//! immediate (the boundary tags of [`crate::tags`]).
//!
//! The four fit policies differ only in the rule, each in its own file:
//! first-fit, next-fit, best-fit, worst-fit. They share this one index
//! type, so the boundary-tag heap is compiled once for all four.

mod best;
mod first;
mod next;
mod worst;

/// The smallest block of a list that holds `size` bytes (segregated's
/// search inside a bin, too).
pub(crate) use best::pick as best_fit;

use core::ptr::NonNull;

use crate::error::{HeapError, ensure};
use crate::list::List;
use crate::tags::{Block, FreeBlock, FreeIndex, MIN_BLOCK, TagHeap, blocks, check_indexed};

/// How a fit policy picks a free block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    First,
    Next,
    Best,
    Worst,
}

/// One free list searched by a [`Rule`].
pub(crate) struct FreeList {
    list: List<FreeBlock>,
    rule: Rule,
    /// Where next fit's next search starts: the block after the last one
    /// it picked. Always `None` under the other rules.
    rover: Option<NonNull<FreeBlock>>,
}

// SAFETY: the rover points into the heap the policy belongs to, which one
// lock guards.
unsafe impl Send for FreeList {}

/// A boundary-tag heap over one free list: the type of all four fit policies.
pub(crate) type FitHeap = TagHeap<FreeList>;

impl FreeList {
    pub(crate) const fn new(rule: Rule) -> FreeList {
        FreeList { list: List::new(), rule, rover: None }
    }

    pub(crate) fn rule(&self) -> Rule {
        self.rule
    }
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
            Rule::First => first::pick(&self.list, size),
            Rule::Next => next::pick(&self.list, &mut self.rover, size),
            Rule::Best => best::pick(&self.list, size),
            Rule::Worst => worst::pick(&self.list, size),
        }
    }

    fn check(&self) -> Result<(usize, usize), HeapError> {
        self.list.check(self.list.len() + 1)?;
        if let Some(rover) = self.rover {
            let listed = self.list.iter().any(|e| e == rover);
            ensure(listed, "next fit's rover is not a listed free block", rover.as_ptr() as usize, 0, 1)?;
        }
        let mut bytes = 0;
        for block in blocks(&self.list) {
            bytes += check_indexed(block, MIN_BLOCK, usize::MAX)?;
        }
        Ok((self.list.len(), bytes))
    }
}
