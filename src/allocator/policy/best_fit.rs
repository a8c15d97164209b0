//! Best fit: the smallest free block that is large enough; an exact fit
//! ends the search early. Leaves the least remainder, at the price of a
//! full scan.

use crate::allocator::list::List;
use crate::allocator::policy::free_list::{FitHeap, Rule, heap, size_of};
use crate::allocator::policy::tags::{Block, FreeBlock};

pub fn pick(list: &List<FreeBlock>, size: usize) -> Option<Block> {
    let mut best: Option<(Block, usize)> = None;
    for block in list.iter().map(FreeBlock::block) {
        let s = size_of(block);
        if s == size {
            return Some(block);
        }
        if s > size && best.is_none_or(|(_, b)| s < b) {
            best = Some((block, s));
        }
    }
    best.map(|(b, _)| b)
}

pub type BestFit = FitHeap;

pub const fn new() -> BestFit {
    heap(Rule::Best)
}
