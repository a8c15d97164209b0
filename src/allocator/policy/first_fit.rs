//! First fit: the first free block on the list that is large enough.
//!
//! Cheap when a fit is near the front; the list is LIFO, so recently freed
//! blocks are tried first.

use crate::allocator::list::List;
use crate::allocator::policy::free_list::{FitHeap, Rule, heap, size_of};
use crate::allocator::policy::tags::{Block, FreeBlock};

pub fn pick(list: &List<FreeBlock>, size: usize) -> Option<Block> {
    list.iter().map(FreeBlock::block).find(|&b| size_of(b) >= size)
}

pub type FirstFit = FitHeap;

pub const fn new() -> FirstFit {
    heap(Rule::First)
}
