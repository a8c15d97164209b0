//! Next fit (Knuth): first fit, but each search starts where the previous
//! one stopped, wrapping around. Spreads allocations over the heap instead
//! of crowding its front.
//!
//! Where the search resumes is the free list's `rover`, which
//! [`FreeList`](super::FreeList) moves on when the block it points at
//! leaves the list.

use core::ptr::NonNull;

use crate::list::List;
use crate::tags::{Block, FreeBlock};

pub(crate) fn pick(
    list: &List<FreeBlock>,
    rover: &mut Option<NonNull<FreeBlock>>,
    size: usize,
) -> Option<Block> {
    let start = rover.or_else(|| list.front())?;
    // From the rover to the end, then from the front up to the rover.
    // SAFETY: the rover is always a listed block (FreeList::remove moves it on).
    let tail = core::iter::successors(Some(start), |&e| unsafe { list.next(e) });
    let head = list.iter().take_while(|&e| e != start);
    // SAFETY: both halves walk elements of the free list.
    let found = tail.chain(head).map(|e| unsafe { FreeBlock::block(e) }).find(|&b| b.size() >= size)?;
    *rover = Some(FreeBlock::of(found));
    Some(found)
}
