//! Boundary tags: the block format shared by the free-list, segregated,
//! TLSF and slab-tlsf policies.
//!
//! ```text
//!            used block                          free block
//!  block ──► ┌──────────────────────────┐        ┌──────────────────────────┐
//!            │ size | SPECIAL|PREV|USED │ 4 B    │ size |    0   |PREV| 0   │ 4 B
//!  payload ► ├──────────────────────────┤        ├──────────────────────────┤ (8-aligned)
//!            │                          │        │ next free          8 B   │
//!            │ the caller's bytes       │        │ prev free          8 B   │
//!            │ (size - 4 of them)       │        │ ...                      │
//!            │                          │        │ footer: size       4 B   │
//!  next ───► └──────────────────────────┘        └──────────────────────────┘
//! ```
//!
//! - `size` counts the whole block, header included; it is a multiple of 8
//!   and at least [`MIN_BLOCK`] (24), so its low three bits hold flags.
//!   Blocks start 4 bytes before an 8-byte boundary, so payloads are
//!   8-aligned behind a 4-byte header: half the time the header fits in
//!   bytes that rounding to 8 would have wasted anyway.
//! - Only free blocks have a footer. A used block tells its successor so
//!   through the successor's `PREV_USED` bit, and coalescing reads the
//!   footer only when that bit is clear (dlmalloc's trick: used blocks pay
//!   4 bytes of metadata, not 8).
//! - Free blocks are kept coalesced: no two are ever adjacent, unless
//!   together they would pass [`MAX_BLOCK`] (2 GiB), the most a 32-bit size
//!   word holds with room to spare.
//!
//! A region of heap memory is laid out as
//!
//! ```text
//!  start         start+12                                    end-4     end
//!  ┌─────────────┬──────────┬──────────┬─────────┬──────────┬──────────┐
//!  │ (unused 12) │ block    │ block    │   ...   │ block    │ epilogue │
//!  └─────────────┴──────────┴──────────┴─────────┴──────────┴──────────┘
//! ```
//!
//! The first block starts 12 bytes in, so that its payload is 16-byte
//! aligned, and stays so for blocks sized in multiples of 16. The epilogue
//! is a header of size 0, marked used: walks stop there and coalescing
//! never runs off the end. When the next growth of a contiguous source
//! follows the region, the epilogue becomes the header of the new free
//! block.
//!
//! Where the free blocks are kept, and which one an allocation gets, is the
//! policy's [`FreeIndex`].

use core::ptr::NonNull;

use crate::allocator::error::{BlockInfo, BlockState, HeapError, Misuse, Totals, ensure};
use crate::allocator::list::{Link, Linked};
use crate::allocator::region::Region;
use crate::allocator::source::align_up;

/// Bytes of header in front of every payload.
pub const HEADER: usize = 4;
/// Bytes of footer at the end of a free block.
pub const FOOTER: usize = 4;
/// Where a region's first block starts: 12 bytes in, so that its payload
/// (4 bytes further) is 16-byte aligned.
pub const FIRST_BLOCK: usize = 12;
/// The epilogue: a bare header at the end of a region.
pub const EPILOGUE: usize = HEADER;
/// The largest block: sizes live in 32-bit words. Free memory beyond it
/// stays in several adjacent free blocks.
pub const MAX_BLOCK: usize = 1 << 31;
/// Block sizes are multiples of this.
pub const GRANULE: usize = 8;
/// The smallest block: header, two links and a footer when free.
pub const MIN_BLOCK: usize = HEADER + 16 + FOOTER;
/// Bytes a region spends on its leading pad and epilogue.
pub const REGION_OVERHEAD: usize = 16;

/// Header flag: this block is in use.
pub const USED: usize = 0b001;
/// Header flag: the block before this one is in use (so there is no footer to read).
pub const PREV_USED: usize = 0b010;
/// Header flag: a used block with a meaning of the policy's own (slab-tlsf: a slab run).
pub const SPECIAL: usize = 0b100;
const FLAGS: usize = 0b111;

/// A block, by the address of its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block(NonNull<u8>);

impl Block {
    /// # Safety
    ///
    /// `addr` must be the header of a block (or epilogue) in a live region.
    #[inline]
    pub unsafe fn at(addr: usize) -> Block {
        // SAFETY: heap addresses are never null.
        Block(unsafe { NonNull::new_unchecked(addr as *mut u8) })
    }

    #[inline]
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The block whose payload starts at `payload`.
    ///
    /// # Safety
    ///
    /// `payload` must lie at least [`HEADER`] bytes into a region.
    #[inline]
    pub unsafe fn from_payload(payload: NonNull<u8>) -> Block {
        // SAFETY: the caller vouches the header is inside the region.
        Block(unsafe { payload.sub(HEADER) })
    }

    #[inline]
    pub fn payload(self) -> NonNull<u8> {
        // SAFETY: the payload follows the header inside the block.
        unsafe { self.0.add(HEADER) }
    }

    #[inline]
    fn word(self) -> *mut u32 {
        self.0.as_ptr().cast()
    }

    /// The raw header word.
    ///
    /// # Safety
    ///
    /// The block must lie in a live region (true of every `Block` made by
    /// this module).
    #[inline]
    pub unsafe fn header(self) -> usize {
        // SAFETY: headers are 4-aligned words inside the region.
        unsafe { self.word().read() as usize }
    }

    /// # Safety
    ///
    /// As [`header`](Self::header).
    #[inline]
    pub unsafe fn size(self) -> usize {
        // SAFETY: forwarded.
        unsafe { self.header() & !FLAGS }
    }

    /// # Safety
    ///
    /// As [`header`](Self::header).
    #[inline]
    pub unsafe fn is_used(self) -> bool {
        // SAFETY: forwarded.
        unsafe { self.header() & USED != 0 }
    }

    /// # Safety
    ///
    /// As [`header`](Self::header).
    #[inline]
    pub unsafe fn prev_used(self) -> bool {
        // SAFETY: forwarded.
        unsafe { self.header() & PREV_USED != 0 }
    }

    /// # Safety
    ///
    /// As [`header`](Self::header).
    #[inline]
    pub unsafe fn is_special(self) -> bool {
        // SAFETY: forwarded.
        unsafe { self.header() & SPECIAL != 0 }
    }

    /// Writes the header.
    ///
    /// # Safety
    ///
    /// The block's first 8 bytes must be heap memory the caller may write.
    #[inline]
    pub unsafe fn set_header(self, size: usize, flags: usize) {
        debug_assert!(size.is_multiple_of(GRANULE) && size <= MAX_BLOCK && flags & !FLAGS == 0);
        // SAFETY: forwarded.
        unsafe { self.word().write((size | flags) as u32) }
    }

    /// Marks the block free with `size`: header (previous block used, as the
    /// coalescing invariant says) and footer.
    ///
    /// # Safety
    ///
    /// All `size` bytes must be heap memory the caller may write.
    #[inline]
    pub unsafe fn set_free(self, size: usize) {
        // SAFETY: the header and the last word of the block are inside it.
        unsafe {
            self.set_header(size, PREV_USED);
            self.0.add(size - FOOTER).cast::<u32>().write(size as u32);
        }
    }

    /// The footer of a free block.
    ///
    /// # Safety
    ///
    /// The block must be free.
    #[inline]
    pub unsafe fn footer(self) -> usize {
        // SAFETY: a free block ends with its footer.
        unsafe { self.0.add(self.size() - FOOTER).cast::<u32>().read() as usize }
    }

    /// The block that follows this one.
    ///
    /// # Safety
    ///
    /// The block must not be the epilogue.
    #[inline]
    pub unsafe fn next(self) -> Block {
        // SAFETY: a block is followed by a block or the epilogue, in the same region.
        Block(unsafe { self.0.add(self.size()) })
    }

    /// The free block that precedes this one, found through its footer.
    ///
    /// # Safety
    ///
    /// `prev_used()` must be false.
    #[inline]
    pub unsafe fn prev_free(self) -> Block {
        // SAFETY: the previous block is free, so the word before us is its footer.
        unsafe {
            let size = self.0.sub(FOOTER).cast::<u32>().read() as usize;
            Block(self.0.sub(size))
        }
    }

    /// Sets or clears `PREV_USED`.
    ///
    /// # Safety
    ///
    /// As [`set_header`](Self::set_header).
    #[inline]
    pub unsafe fn set_prev_used(self, used: bool) {
        // SAFETY: forwarded.
        unsafe {
            let h = self.header();
            self.word().write((if used { h | PREV_USED } else { h & !PREV_USED }) as u32);
        }
    }
}

/// A free block as a free index sees it: the header, then the list link.
/// Opaque: the link sits [`HEADER`] bytes in, 8-aligned because blocks
/// start 4 bytes before an 8-byte boundary, which no Rust struct layout
/// with a 4-byte field in front of a `Link` would give.
pub struct FreeBlock {
    _opaque: [u8; 0],
}

// SAFETY: link and from_link use the same offset, HEADER.
unsafe impl Linked for FreeBlock {
    #[inline]
    fn link(this: NonNull<Self>) -> NonNull<Link> {
        // SAFETY: the link follows the header inside the block.
        unsafe { this.byte_add(HEADER).cast() }
    }

    #[inline]
    unsafe fn from_link(link: NonNull<Link>) -> NonNull<Self> {
        // SAFETY: the caller vouches the link is inside a FreeBlock.
        unsafe { link.byte_sub(HEADER).cast() }
    }
}

impl FreeBlock {
    #[inline]
    pub fn of(block: Block) -> NonNull<FreeBlock> {
        block.0.cast()
    }

    #[inline]
    pub fn block(this: NonNull<FreeBlock>) -> Block {
        Block(this.cast())
    }
}

/// The block size that serves `size` bytes at `align`; `None` on overflow.
///
/// Blocks serving 16-byte (or larger) alignment are kept at multiples of 16,
/// so that carving one from a correctly placed block leaves the next block
/// correctly placed too.
#[inline]
pub fn block_size_for(size: usize, align: usize) -> Option<usize> {
    let granule = if align >= 16 { 16 } else { GRANULE };
    let size = align_up(size.checked_add(HEADER)?, granule)?;
    Some(size.max(MIN_BLOCK))
}

/// Where a policy keeps its free blocks and how it picks one.
pub trait FreeIndex {
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
pub struct TagHeap<I: FreeIndex> {
    pub index: I,
}

impl<I: FreeIndex> TagHeap<I> {
    pub const fn new(index: I) -> TagHeap<I> {
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
    pub unsafe fn add_memory(&mut self, start: usize, len: usize, extends: bool) {
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
    pub fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
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
        // SAFETY: carve_at returns a used block.
        Some((used.payload(), unsafe { used.size() } - HEADER))
    }

    /// Takes `need` bytes from the front of free block `block`, returns the
    /// payload and usable size; a remainder of at least MIN_BLOCK stays free.
    ///
    /// # Safety
    ///
    /// `block` must be free, indexed, at least `need` bytes.
    #[inline]
    pub unsafe fn carve(&mut self, block: Block, need: usize) -> (NonNull<u8>, usize) {
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
    pub unsafe fn carve_at(&mut self, block: Block, at: usize, size: usize, flags: usize) -> Block {
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

    /// The used block whose payload is `ptr`, after cheap checks.
    ///
    /// # Safety
    ///
    /// `ptr` must lie inside `region`, at least [`HEADER`] bytes in.
    pub unsafe fn used_block(&self, ptr: NonNull<u8>, region: Region) -> Result<Block, Misuse> {
        let addr = ptr.as_ptr() as usize;
        if !addr.is_multiple_of(GRANULE) {
            return Err(Misuse::Misaligned);
        }
        if addr < region.start + FIRST_BLOCK + HEADER || addr >= region.end - EPILOGUE {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: the header word lies inside the region (checked above).
        unsafe {
            let block = Block::from_payload(ptr);
            let header = block.header();
            let size = header & !FLAGS;
            let fits = size >= MIN_BLOCK
                && size.is_multiple_of(GRANULE)
                && size <= region.end - EPILOGUE - block.addr();
            if header & USED == 0 {
                // A free block's header: a second free, unless the word only
                // happens to look like one.
                return Err(if fits && block.footer() == size {
                    Misuse::DoubleFree
                } else {
                    Misuse::InvalidPointer
                });
            }
            if !fits {
                return Err(Misuse::InvalidPointer);
            }
            if !block.next().prev_used() {
                return Err(Misuse::Corrupted);
            }
            Ok(block)
        }
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
    pub unsafe fn release(&mut self, block: Block) -> usize {
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
    pub unsafe fn resize(&mut self, block: Block, new_size: usize) -> Option<usize> {
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
    pub unsafe fn top(&self, last: Region) -> Option<Block> {
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
    pub unsafe fn cut_top(&mut self, last: Region, len: usize) {
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

    /// Walks every block of every region in address order, checking the tag
    /// invariants on the way: blocks tile each region exactly, `PREV_USED`
    /// mirrors the previous block, free blocks have matching footers and are
    /// never adjacent, and each region ends with its epilogue.
    pub fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(Block)) -> Result<(), HeapError> {
        for region in regions {
            let mut at = region.start + FIRST_BLOCK;
            let mut prev_used = true;
            let mut prev_size = 0;
            loop {
                ensure(at + HEADER <= region.end, "block runs past its region", at, at + HEADER, region.end)?;
                // SAFETY: `at` is inside the region, as just checked.
                let block = unsafe { Block::at(at) };
                // SAFETY: as above.
                let (header, size) = unsafe { (block.header(), block.size()) };
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
                    // SAFETY: a free block of this size lies inside the region.
                    let footer = unsafe { block.footer() };
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
    pub fn check(
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
            // SAFETY: walk only visits blocks inside the regions.
            if unsafe { block.is_used() } {
                failure = used(block, &mut totals);
            } else {
                // SAFETY: as above.
                let size = unsafe { block.size() };
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
pub fn used_block_info(block: Block) -> BlockInfo {
    // SAFETY: callers pass blocks from a walk.
    let size = unsafe { block.size() };
    BlockInfo {
        addr: block.payload().as_ptr() as usize,
        size,
        usable: size - HEADER,
        state: BlockState::Used,
    }
}

/// Checks that an indexed block is free and has the size its bin promises.
pub fn check_indexed(block: Block, min: usize, max: usize) -> Result<usize, HeapError> {
    // SAFETY: indexed blocks are free blocks inside the heap.
    let (header, size) = unsafe { (block.header(), block.size()) };
    ensure(header & USED == 0, "a used block is in the free index", block.addr(), header, 0)?;
    ensure(size >= min && size < max, "a free block is in the wrong bin", block.addr(), size, min)?;
    Ok(size)
}
