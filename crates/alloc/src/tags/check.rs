//! Walking a tag heap and checking its invariants: the tiling, the flags,
//! the footers, and the free index against the free blocks walked.

use super::block::{Block, EPILOGUE, FIRST_BLOCK, GRANULE, HEADER, MAX_BLOCK, MIN_BLOCK, PREV_USED, USED};
use super::heap::{FreeIndex, TagHeap};
use crate::error::{BlockInfo, BlockState, HeapError, Totals, ensure};
use crate::region::Region;

impl<I: FreeIndex> TagHeap<I> {
    /// Walks every block of every region in address order, checking the tag
    /// invariants on the way: blocks tile each region exactly, `PREV_USED`
    /// mirrors the previous block, free blocks have matching footers and are
    /// never adjacent, and each region ends with its epilogue.
    pub(crate) fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(Block)) -> Result<(), HeapError> {
        for region in regions {
            let mut at = region.start + FIRST_BLOCK;
            let mut prev_used = true;
            let mut prev_size = 0;
            loop {
                ensure(at + HEADER <= region.end, "block runs past its region", at, at + HEADER, region.end)?;
                // SAFETY: `at` is inside the region, as just checked.
                let block = unsafe { Block::at(at) };
                let (header, size) = (block.header(), block.size());
                ensure(
                    (header & PREV_USED != 0) == prev_used,
                    "PREV_USED disagrees with the previous block",
                    at,
                    (header & PREV_USED) >> 1,
                    prev_used as usize,
                )?;
                if size == 0 {
                    ensure(
                        at == region.end - EPILOGUE,
                        "epilogue before the end of its region",
                        at,
                        at,
                        region.end - EPILOGUE,
                    )?;
                    ensure(header & USED != 0, "epilogue not marked used", at, header, USED)?;
                    break;
                }
                ensure(size >= MIN_BLOCK && size % GRANULE == 0, "bad block size", at, size, MIN_BLOCK)?;
                ensure(
                    at + size <= region.end - EPILOGUE,
                    "block overlaps the epilogue",
                    at,
                    at + size,
                    region.end - EPILOGUE,
                )?;
                let used = header & USED != 0;
                if !used {
                    ensure(
                        prev_used || prev_size + size > MAX_BLOCK,
                        "two adjacent free blocks",
                        at,
                        prev_size,
                        size,
                    )?;
                    let footer = block.footer();
                    ensure(footer == size, "footer disagrees with header", at, footer, size)?;
                }
                visit(block);
                prev_used = used;
                prev_size = size;
                at += size;
            }
        }
        Ok(())
    }

    /// Walks the heap and cross-checks it with the free index: the free
    /// blocks walked are exactly as many, and as large, as those indexed.
    /// Used blocks are reported through `used`, which maps a used block to
    /// what the caller sees (a policy may keep several in one, as slab runs do).
    pub(crate) fn check(
        &self,
        regions: &[Region],
        used: &mut dyn FnMut(Block, &mut Totals) -> Result<(), HeapError>,
    ) -> Result<Totals, HeapError> {
        let mut totals = Totals::default();
        let (mut free_blocks, mut free_bytes) = (0, 0);
        let mut failure = Ok(());
        self.walk(regions, &mut |block| {
            if failure.is_err() {
                return;
            }
            if block.is_used() {
                failure = used(block, &mut totals);
            } else {
                let size = block.size();
                free_blocks += 1;
                free_bytes += size;
                totals.count(&BlockInfo { addr: block.addr(), size, usable: 0, state: BlockState::Free });
            }
        })?;
        failure?;
        let (count, bytes) = self.index.check()?;
        ensure(count == free_blocks, "free blocks walked and indexed differ", 0, count, free_blocks)?;
        ensure(bytes == free_bytes, "free bytes walked and indexed differ", 0, bytes, free_bytes)?;
        Ok(totals)
    }
}

/// The usual view of a used block: its payload and usable size.
pub(crate) fn used_block_info(block: Block) -> BlockInfo {
    let size = block.size();
    BlockInfo {
        addr: block.payload().as_ptr() as usize,
        size,
        usable: size - HEADER,
        state: BlockState::Used,
    }
}

/// Checks that an indexed block is free and has the size its bin promises.
pub(crate) fn check_indexed(block: Block, min: usize, max: usize) -> Result<usize, HeapError> {
    let (header, size) = (block.header(), block.size());
    ensure(header & USED == 0, "a used block is in the free index", block.addr(), header, 0)?;
    ensure(size >= min && size < max, "a free block is in the wrong bin", block.addr(), size, min)?;
    Ok(size)
}

/// A free block as a walk reports it.
pub(crate) fn free_block_info(block: Block) -> BlockInfo {
    BlockInfo { addr: block.addr(), size: block.size(), usable: 0, state: BlockState::Free }
}
