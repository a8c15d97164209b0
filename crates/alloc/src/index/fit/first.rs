//! First fit: the first free block on the list that is large enough.
//!
//! Cheap when a fit is near the front; the list is LIFO, so recently freed
//! blocks are tried first.

use crate::list::List;
use crate::tags::{Block, FreeBlock, blocks};

pub(crate) fn pick(list: &List<FreeBlock>, size: usize) -> Option<Block> {
    blocks(list).find(|&b| b.size() >= size)
}
