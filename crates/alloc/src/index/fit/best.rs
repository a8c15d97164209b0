//! Best fit: the smallest free block that is large enough; an exact fit
//! ends the search early. Leaves the least remainder, at the price of a
//! full scan.

use crate::list::List;
use crate::tags::{Block, FreeBlock, blocks};

pub(crate) fn pick(list: &List<FreeBlock>, size: usize) -> Option<Block> {
    let mut best: Option<(Block, usize)> = None;
    for block in blocks(list) {
        let s = block.size();
        if s == size {
            return Some(block);
        }
        if s > size && best.is_none_or(|(_, b)| s < b) {
            best = Some((block, s));
        }
    }
    best.map(|(b, _)| b)
}
