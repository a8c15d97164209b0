//! Every boundary-tag policy is a [`TagHeap`] over its own free index:
//! first-fit, next-fit, best-fit, worst-fit, segregated and tlsf. This is
//! their one `Policy` implementation, and what slab-tlsf borrows from it.

use core::ptr::NonNull;

use super::{Freed, Growth, Policy};
use crate::error::{BlockInfo, HeapError, Misuse, Totals};
use crate::pagemap::Owner;
use crate::region::Region;
use crate::source::PAGE;
use crate::tags::{
    FreeIndex, GRANULE, HEADER, MIN_BLOCK, REGION_OVERHEAD, TagHeap, block_size_for, free_block_info,
    used_block_info,
};

impl<I: FreeIndex> Policy for TagHeap<I> {
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize, _owner: Owner) {
        // SAFETY: forwarded from the caller.
        unsafe { TagHeap::add_memory(self, start, len, region.start < start) }
    }

    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        TagHeap::alloc(self, size, align)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, region: Region) -> Result<Freed, Misuse> {
        // SAFETY: forwarded from the caller.
        let block = unsafe { self.used_block(ptr, region)? };
        let usable = block.size() - HEADER;
        // SAFETY: used_block validated a used block of this heap.
        Ok(Freed { usable, top_free: unsafe { self.release(block) } })
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        // SAFETY: forwarded from the caller.
        Ok(unsafe { self.used_block(ptr, region)? }.size() - HEADER)
    }

    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        new_size: usize,
    ) -> Result<Option<usize>, Misuse> {
        // SAFETY: forwarded; used_block validated the block.
        unsafe {
            let block = self.used_block(ptr, region)?;
            Ok(TagHeap::resize(self, block, new_size))
        }
    }

    fn growth_hint(&self, size: usize, align: usize, last: Option<Region>, want: Growth) -> Option<usize> {
        tag_growth_hint(self, size, align, last, want)
    }

    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { tag_trim(self, last, threshold, keep) }
    }

    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        TagHeap::walk(self, regions, &mut |block| {
            if block.is_used() {
                visit(used_block_info(block));
            } else {
                visit(free_block_info(block));
            }
        })
    }

    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError> {
        TagHeap::check(self, regions, &mut |block, totals| {
            totals.count(&used_block_info(block));
            Ok(())
        })
    }
}

/// Fresh memory a tag heap needs for `alloc(size, align)` to succeed.
pub(crate) fn tag_growth_hint<I: FreeIndex>(
    heap: &TagHeap<I>,
    size: usize,
    align: usize,
    last: Option<Region>,
    want: Growth,
) -> Option<usize> {
    let mut need = block_size_for(size, align)?;
    if align > GRANULE {
        need = need.checked_add(align + MIN_BLOCK)?;
    }
    match last {
        Some(last) if want != Growth::OwnRegion => {
            // The new memory merges with a free top block.
            // SAFETY: `last` is a region of this heap.
            let top = unsafe { heap.top(last) }.map_or(0, |b| b.size());
            Some(need.saturating_sub(top).max(MIN_BLOCK))
        }
        _ => need.checked_add(REGION_OVERHEAD),
    }
}

/// Gives back whole pages from the free top block of a tag heap.
///
/// # Safety
///
/// `last` must be the heap's last region.
pub(crate) unsafe fn tag_trim<I: FreeIndex>(
    heap: &mut TagHeap<I>,
    last: Region,
    threshold: usize,
    keep: usize,
) -> usize {
    // SAFETY: per the caller.
    let Some(top) = (unsafe { heap.top(last) }) else { return 0 };
    let size = top.size();
    if size < threshold {
        return 0;
    }
    let keep = keep.max(MIN_BLOCK);
    let len = size.saturating_sub(keep) / PAGE * PAGE;
    if len > 0 {
        // SAFETY: len < size - MIN_BLOCK, and the top block is free.
        unsafe { heap.cut_top(last, len) };
    }
    len
}
