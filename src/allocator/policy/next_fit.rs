//! Next fit (Knuth): first fit, but each search starts where the previous
//! one stopped, wrapping around. Spreads allocations over the heap instead
//! of crowding its front.

use core::ptr::NonNull;

use crate::allocator::list::List;
use crate::allocator::policy::free_list::{Fit, FreeList, size_of};
use crate::allocator::policy::tags::{Block, FreeBlock, TagHeap};

#[derive(Debug, Default)]
pub struct NextFitRule {
    /// Where the next search starts: the block after the last one picked.
    rover: Option<NonNull<FreeBlock>>,
}

// SAFETY: the rover points into the heap the policy belongs to, which one
// lock guards.
unsafe impl Send for NextFitRule {}

impl Fit for NextFitRule {
    fn pick(&mut self, list: &List<FreeBlock>, size: usize) -> Option<Block> {
        let start = self.rover.or_else(|| list.front())?;
        // From the rover to the end, then from the front up to the rover.
        // SAFETY: the rover is always a listed block (see `forget`).
        let tail = core::iter::successors(Some(start), |&e| unsafe { list.next(e) });
        let head = list.iter().take_while(|&e| e != start);
        let found = tail.chain(head).map(FreeBlock::block).find(|&b| size_of(b) >= size)?;
        self.rover = Some(FreeBlock::of(found));
        Some(found)
    }

    fn forget(&mut self, list: &List<FreeBlock>, block: Block) {
        if self.rover == Some(FreeBlock::of(block)) {
            // SAFETY: the block is still listed when forget is called.
            self.rover = unsafe { list.next(FreeBlock::of(block)) };
        }
    }
}

pub type NextFit = TagHeap<FreeList<NextFitRule>>;

pub const fn new() -> NextFit {
    TagHeap::new(FreeList::new(NextFitRule { rover: None }))
}
