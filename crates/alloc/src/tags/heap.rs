//! The boundary-tag heap: carving blocks out of free ones, and coalescing
//! them back on free. Which free block an allocation gets is the
//! [`FreeIndex`]'s business.

use core::ptr::NonNull;

use super::block::{
    Block, EPILOGUE, FIRST_BLOCK, GRANULE, HEADER, MAX_BLOCK, MIN_BLOCK, PREV_USED, REGION_OVERHEAD, SPECIAL,
    USED, block_size_for,
};
use crate::error::{HeapError, Misuse};
use crate::region::Region;
use crate::source::align_up;

/// Where a policy keeps its free blocks and how it picks one.
pub(crate) trait FreeIndex {
    /// Adds a free block (header and footer already written).
    ///
    /// # Safety
    ///
    /// `block` must be free and in no index.
    unsafe fn insert(&mut self, block: Block);

    /// Removes a free block.
    ///
    /// # Safety
    ///
    /// `block` must be in this index.
    unsafe fn remove(&mut self, block: Block);

    /// A free block of at least `size` bytes, left in the index; `None` if
    /// the policy finds none.
    fn find(&mut self, size: usize) -> Option<Block>;

    /// Checks the index's own structure; returns how many blocks and bytes
    /// it holds.
    fn check(&self) -> Result<(usize, usize), HeapError>;
}

/// A boundary-tag heap over a policy's free index.
pub(crate) struct TagHeap<I: FreeIndex> {
    pub(crate) index: I,
}

impl<I: FreeIndex> TagHeap<I> {
    pub(crate) const fn new(index: I) -> TagHeap<I> {
        TagHeap { index }
    }

    /// Takes fresh memory `[start, start + len)`. With `extends`, it follows
    /// the last region directly and replaces its epilogue.
    ///
    /// # Safety
    ///
    /// The memory must be fresh heap memory of the caller's; `start` and
    /// `len` multiples of 16; `extends` true only if the last region ends at
    /// `start`.
    pub(crate) unsafe fn add_memory(&mut self, start: usize, len: usize, extends: bool) {
        // SAFETY: per the caller, the memory and (if extends) the old epilogue are ours.
        unsafe {
            let (block, size, prev_used) = if extends {
                let epilogue = Block::at(start - EPILOGUE);
                (epilogue, len, epilogue.prev_used())
            } else {
                (Block::at(start + FIRST_BLOCK), len - REGION_OVERHEAD, true)
            };
            Block::at(start + len - EPILOGUE).set_header(0, USED);
            // Free memory comes in blocks of at most MAX_BLOCK.
            let (mut at, mut left, mut prev) = (block.addr(), size, prev_used);
            while left > 0 {
                let piece = if left > MAX_BLOCK { MAX_BLOCK / 2 } else { left };
                let b = Block::at(at);
                b.set_header(piece, USED | if prev { PREV_USED } else { 0 });
                Block::at(at + piece).set_prev_used(true);
                let _ = self.release(b);
                prev = false;
                at += piece;
                left -= piece;
            }
        }
    }

    /// Allocates a block for `size` bytes at `align` (a power of two);
    /// returns the payload and its usable size.
    pub(crate) fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        let need = block_size_for(size, align)?;
        let block = self.index.find(need)?;
        if align <= GRANULE || (block.payload().as_ptr() as usize).is_multiple_of(align) {
            // SAFETY: the index returned a free block of at least `need` bytes.
            return Some(unsafe { self.carve(block, need) });
        }
        // The payload is misplaced for `align`: find room for a leading free
        // block of at least MIN_BLOCK bytes in front of an aligned payload.
        let roomy = need.checked_add(align)?.checked_add(MIN_BLOCK)?;
        let block = self.index.find(roomy)?;
        let payload = block.payload().as_ptr() as usize;
        let mut aligned = align_up(payload, align)?;
        while aligned != payload && aligned - payload < MIN_BLOCK {
            aligned += align;
        }
        // SAFETY: `block` is free, indexed, and holds the gap plus `need`.
        let used = unsafe { self.carve_at(block, aligned - HEADER, need, 0) };
        Some((used.payload(), used.size() - HEADER))
    }

    /// Takes `need` bytes from the front of free block `block`, returns the
    /// payload and usable size; a remainder of at least MIN_BLOCK stays free.
    ///
    /// # Safety
    ///
    /// `block` must be free, indexed, at least `need` bytes.
    #[inline]
    pub(crate) unsafe fn carve(&mut self, block: Block, need: usize) -> (NonNull<u8>, usize) {
        // SAFETY: per the caller.
        unsafe {
            let used = self.carve_at(block, block.addr(), need, 0);
            (used.payload(), used.size() - HEADER)
        }
    }

    /// Carves a used block `[at, at + size)` out of free block `block`, with
    /// extra header `flags`. What is left in front stays free; so does what
    /// is left behind, unless it is smaller than MIN_BLOCK, in which case
    /// the used block absorbs it.
    ///
    /// # Safety
    ///
    /// `block` must be free and indexed; `[at, at + size)` must lie inside
    /// it, 8-aligned, with `at - block` either 0 or at least MIN_BLOCK.
    #[inline]
    pub(crate) unsafe fn carve_at(&mut self, block: Block, at: usize, size: usize, flags: usize) -> Block {
        // SAFETY: per the caller; every header written lies inside `block`.
        unsafe {
            self.index.remove(block);
            let total = block.size();
            let front = at - block.addr();
            debug_assert!(front == 0 || front >= MIN_BLOCK);
            let mut size = size;
            let mut back = total - front - size;
            if back < MIN_BLOCK {
                size += back;
                back = 0;
            }
            if front > 0 {
                block.set_free(front);
                self.index.insert(block);
            }
            let used = Block::at(at);
            used.set_header(size, USED | flags | if front > 0 { 0 } else { PREV_USED });
            if back > 0 {
                let rest = Block::at(at + size);
                rest.set_free(back);
                self.index.insert(rest);
            } else {
                used.next().set_prev_used(true);
            }
            used
        }
    }

    /// The caller's used block whose payload is `ptr`, after cheap checks:
    /// not a free block, not one the policy keeps for itself (`SPECIAL`).
    ///
    /// # Safety
    ///
    /// `ptr` must lie inside `region`, at least [`HEADER`] bytes in.
    pub(crate) unsafe fn used_block(&self, ptr: NonNull<u8>, region: Region) -> Result<Block, Misuse> {
        let addr = ptr.as_ptr() as usize;
        if !addr.is_multiple_of(GRANULE) {
            return Err(Misuse::Misaligned);
        }
        if addr < region.start + FIRST_BLOCK + HEADER || addr >= region.end - EPILOGUE {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: the header word lies inside the region (checked above).
        let header = unsafe { ptr.sub(HEADER).cast::<u32>().read() } as usize;
        let size = header & !(USED | PREV_USED | SPECIAL);
        let block_addr = addr - HEADER;
        let fits =
            size >= MIN_BLOCK && size.is_multiple_of(GRANULE) && size <= region.end - EPILOGUE - block_addr;
        if !fits {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: a header whose size tiles the region from here: a block.
        let block = unsafe { Block::from_payload(ptr) };
        if block.is_special() {
            // The policy's own block (slab-tlsf: a run): a pointer just past
            // its tag is its header, never a block of the caller's.
            return Err(Misuse::InvalidPointer);
        }
        if !block.is_used() {
            // A free block's header: a second free, unless the word only
            // happens to look like one.
            return Err(if block.footer() == size { Misuse::DoubleFree } else { Misuse::InvalidPointer });
        }
        // SAFETY: the block lies inside the region, so its successor does too.
        if !unsafe { block.next() }.prev_used() {
            return Err(Misuse::Corrupted);
        }
        Ok(block)
    }

    /// Frees a used block: marks it free, merges it with free neighbours,
    /// and indexes the result. Returns the size of the merged block if it
    /// is now the last of its region (the top, which trimming may give
    /// back), else 0: the caller learns it without looking.
    ///
    /// # Safety
    ///
    /// `block` must be a used block of this heap (see [`used_block`](Self::used_block)).
    #[inline]
    pub(crate) unsafe fn release(&mut self, block: Block) -> usize {
        // SAFETY: per the caller; neighbours are blocks of the same region.
        unsafe {
            let mut start = block;
            let mut size = block.size();
            let mut prev_used = block.prev_used();
            let next = block.next();
            if !next.is_used() && size + next.size() <= MAX_BLOCK {
                self.index.remove(next);
                size += next.size();
            }
            if !prev_used {
                let prev = block.prev_free();
                if prev.size() + size <= MAX_BLOCK {
                    self.index.remove(prev);
                    start = prev;
                    size += prev.size();
                    prev_used = prev.prev_used();
                }
            }
            start.set_free(size);
            if !prev_used {
                // Only past MAX_BLOCK do free neighbours stay apart.
                start.set_prev_used(false);
            }
            let after = start.next();
            after.set_prev_used(false);
            self.index.insert(start);
            if after.size() == 0 { size } else { 0 }
        }
    }

    /// Resizes a used block where it stands: shrinks it (freeing the tail)
    /// or grows it into a free successor. Returns the new usable size, or
    /// `None` if it cannot grow in place.
    ///
    /// # Safety
    ///
    /// `block` must be a used block of this heap.
    pub(crate) unsafe fn resize(&mut self, block: Block, new_size: usize) -> Option<usize> {
        let need = block_size_for(new_size, GRANULE)?;
        // SAFETY: per the caller; the successor is a block of the same region.
        unsafe {
            let size = block.size();
            let prev = block.header() & (PREV_USED | SPECIAL);
            if need <= size {
                if size - need >= MIN_BLOCK {
                    block.set_header(need, USED | prev);
                    let tail = Block::at(block.addr() + need);
                    tail.set_header(size - need, USED | PREV_USED);
                    let _ = self.release(tail);
                    return Some(need - HEADER);
                }
                return Some(size - HEADER);
            }
            let next = block.next();
            if next.is_used() || size + next.size() < need {
                return None;
            }
            self.index.remove(next);
            let total = size + next.size();
            if total - need >= MIN_BLOCK {
                block.set_header(need, USED | prev);
                let rest = Block::at(block.addr() + need);
                rest.set_free(total - need);
                self.index.insert(rest);
                Some(need - HEADER)
            } else {
                block.set_header(total, USED | prev);
                block.next().set_prev_used(true);
                Some(total - HEADER)
            }
        }
    }

    /// The free block at the end of `last`, if any.
    ///
    /// # Safety
    ///
    /// `last` must be a region of this heap.
    pub(crate) unsafe fn top(&self, last: Region) -> Option<Block> {
        // SAFETY: the epilogue is the last word of the region.
        unsafe {
            let epilogue = Block::at(last.end - EPILOGUE);
            (!epilogue.prev_used()).then(|| epilogue.prev_free())
        }
    }

    /// Gives up the last `len` bytes of region `last`, which must be free
    /// and leave either nothing or at least MIN_BLOCK of the top block.
    ///
    /// # Safety
    ///
    /// `last` must be the heap's last region and `len` at most the size of
    /// its free top block.
    pub(crate) unsafe fn cut_top(&mut self, last: Region, len: usize) {
        // SAFETY: per the caller; the new epilogue lies inside the old top block.
        unsafe {
            let top = self.top(last).expect("the caller checked the top block is free");
            let keep = top.size() - len;
            debug_assert!(keep == 0 || keep >= MIN_BLOCK);
            self.index.remove(top);
            if keep == 0 {
                top.set_header(0, USED | PREV_USED);
            } else {
                top.set_free(keep);
                self.index.insert(top);
                Block::at(top.addr() + keep).set_header(0, USED);
            }
        }
    }
}
