//! Worst fit: always the largest free block, on the theory that its
//! remainder stays large enough to be useful. A full scan per allocation.

use crate::allocator::list::List;
use crate::allocator::policy::free_list::{FitHeap, Rule, heap, size_of};
use crate::allocator::policy::tags::{Block, FreeBlock};

pub fn pick(list: &List<FreeBlock>, size: usize) -> Option<Block> {
    list.iter().map(FreeBlock::block).max_by_key(|&b| size_of(b)).filter(|&b| size_of(b) >= size)
}

pub type WorstFit = FitHeap;

pub const fn new() -> WorstFit {
    heap(Rule::Worst)
}
