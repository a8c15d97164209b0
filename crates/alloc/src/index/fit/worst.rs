//! Worst fit: always the largest free block, on the theory that its
//! remainder stays large enough to be useful. A full scan per allocation.

use crate::list::List;
use crate::tags::{Block, FreeBlock, blocks};

pub(crate) fn pick(list: &List<FreeBlock>, size: usize) -> Option<Block> {
    blocks(list).max_by_key(|&b| b.size()).filter(|&b| b.size() >= size)
}
