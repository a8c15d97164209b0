//! One block: the 4-byte header word, the footer of a free block, and the
//! link a free block carries for its index (the diagrams are in the
//! [module doc](super)).

use core::ptr::NonNull;

use crate::list::{Link, Linked, List};
use crate::source::align_up;

/// Bytes of header in front of every payload.
pub(crate) const HEADER: usize = 4;
/// Bytes of footer at the end of a free block.
pub(crate) const FOOTER: usize = 4;
/// Where a region's first block starts: 12 bytes in, so that its payload
/// (4 bytes further) is 16-byte aligned.
pub(crate) const FIRST_BLOCK: usize = 12;
/// The epilogue: a bare header at the end of a region.
pub(crate) const EPILOGUE: usize = HEADER;
/// The largest block: sizes live in 32-bit words. Free memory beyond it
/// stays in several adjacent free blocks.
pub(crate) const MAX_BLOCK: usize = 1 << 31;
/// Block sizes are multiples of this.
pub(crate) const GRANULE: usize = 8;
/// The smallest block: header, two links and a footer when free.
pub(crate) const MIN_BLOCK: usize = HEADER + 16 + FOOTER;
/// Bytes a region spends on its leading pad and epilogue.
pub(crate) const REGION_OVERHEAD: usize = 16;

/// Header flag: this block is in use.
pub(crate) const USED: usize = 0b001;
/// Header flag: the block before this one is in use (so there is no footer to read).
pub(crate) const PREV_USED: usize = 0b010;
/// Header flag: a used block with a meaning of the policy's own (slab-tlsf: a slab run).
pub(crate) const SPECIAL: usize = 0b100;
const FLAGS: usize = 0b111;

/// A block, by the address of its header.
///
/// Every `Block` names a header (or the epilogue) inside a live region of
/// its heap: [`Block::at`] and [`Block::from_payload`] are `unsafe` and
/// carry that contract, so reading the header is safe once the block
/// exists. Writing stays `unsafe`: a wrong header breaks the tiling that
/// every later walk relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block(NonNull<u8>);

impl Block {
    /// # Safety
    ///
    /// `addr` must be the header of a block (or epilogue) in a live region,
    /// and the region must outlive every use of the `Block`.
    #[inline]
    pub(crate) unsafe fn at(addr: usize) -> Block {
        // SAFETY: heap addresses are never null.
        Block(unsafe { NonNull::new_unchecked(addr as *mut u8) })
    }

    /// The block whose payload starts at `payload`.
    ///
    /// # Safety
    ///
    /// As [`at`](Self::at), for the header [`HEADER`] bytes before `payload`.
    #[inline]
    pub(crate) unsafe fn from_payload(payload: NonNull<u8>) -> Block {
        // SAFETY: the caller vouches the header is inside the region.
        Block(unsafe { payload.sub(HEADER) })
    }

    #[inline]
    pub(crate) fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    #[inline]
    pub(crate) fn payload(self) -> NonNull<u8> {
        // SAFETY: the payload follows the header inside the block.
        unsafe { self.0.add(HEADER) }
    }

    #[inline]
    fn word(self) -> *mut u32 {
        self.0.as_ptr().cast()
    }

    /// The raw header word.
    #[inline]
    pub(crate) fn header(self) -> usize {
        // SAFETY: headers are 4-aligned words inside a live region (the
        // contract of `at`).
        unsafe { self.word().read() as usize }
    }

    #[inline]
    pub(crate) fn size(self) -> usize {
        self.header() & !FLAGS
    }

    #[inline]
    pub(crate) fn is_used(self) -> bool {
        self.header() & USED != 0
    }

    #[inline]
    pub(crate) fn prev_used(self) -> bool {
        self.header() & PREV_USED != 0
    }

    #[inline]
    pub(crate) fn is_special(self) -> bool {
        self.header() & SPECIAL != 0
    }

    /// Writes the header.
    ///
    /// # Safety
    ///
    /// The block's first 8 bytes must be heap memory the caller may write,
    /// and the heap must tile again once the caller is done.
    #[inline]
    pub(crate) unsafe fn set_header(self, size: usize, flags: usize) {
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
    pub(crate) unsafe fn set_free(self, size: usize) {
        // SAFETY: the header and the last word of the block are inside it.
        unsafe {
            self.set_header(size, PREV_USED);
            self.0.add(size - FOOTER).cast::<u32>().write(size as u32);
        }
    }

    /// The footer: the last word of the block, which a free block sets to
    /// its size (for a used block, the caller's last bytes).
    #[inline]
    pub(crate) fn footer(self) -> usize {
        // SAFETY: the block's last word lies inside it, in the region.
        unsafe { self.0.add(self.size() - FOOTER).cast::<u32>().read() as usize }
    }

    /// The block that follows this one.
    ///
    /// # Safety
    ///
    /// The block must not be the epilogue, and its size must be the one the
    /// heap gave it (a used block found by [`TagHeap::used_block`] or a walk
    /// qualifies).
    ///
    /// [`TagHeap::used_block`]: super::TagHeap::used_block
    #[inline]
    pub(crate) unsafe fn next(self) -> Block {
        // SAFETY: a block is followed by a block or the epilogue, in the same region.
        Block(unsafe { self.0.add(self.size()) })
    }

    /// The free block that precedes this one, found through its footer.
    ///
    /// # Safety
    ///
    /// `prev_used()` must be false.
    #[inline]
    pub(crate) unsafe fn prev_free(self) -> Block {
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
    pub(crate) unsafe fn set_prev_used(self, used: bool) {
        let h = self.header();
        // SAFETY: forwarded.
        unsafe { self.word().write((if used { h | PREV_USED } else { h & !PREV_USED }) as u32) }
    }
}

/// A free block as a free index sees it: the header, then the list link.
/// Opaque: the link sits [`HEADER`] bytes in, 8-aligned because blocks
/// start 4 bytes before an 8-byte boundary, which no Rust struct layout
/// with a 4-byte field in front of a `Link` would give.
pub(crate) struct FreeBlock {
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
    /// The list element of a free block.
    #[inline]
    pub(crate) fn of(block: Block) -> NonNull<FreeBlock> {
        block.0.cast()
    }

    /// The block a list element is.
    ///
    /// # Safety
    ///
    /// `this` must be an element of a free index's list (put there by
    /// [`FreeIndex::insert`](super::FreeIndex::insert), whose contract is a
    /// free block of the heap).
    #[inline]
    pub(crate) unsafe fn block(this: NonNull<FreeBlock>) -> Block {
        Block(this.cast())
    }
}

/// The blocks on a free list, front to back. Every element got there
/// through [`FreeIndex::insert`](super::FreeIndex::insert), whose contract
/// is a free block of the heap: turning it back into a `Block` is sound.
#[inline]
pub(crate) fn blocks(list: &List<FreeBlock>) -> impl Iterator<Item = Block> + '_ {
    list.iter().map(|e| Block(e.cast()))
}

/// The first block on a free list.
#[inline]
pub(crate) fn front_block(list: &List<FreeBlock>) -> Option<Block> {
    list.front().map(|e| Block(e.cast()))
}

/// The block size that serves `size` bytes at `align`; `None` on overflow.
///
/// Blocks serving 16-byte (or larger) alignment are kept at multiples of 16,
/// so that carving one from a correctly placed block leaves the next block
/// correctly placed too.
#[inline]
pub(crate) fn block_size_for(size: usize, align: usize) -> Option<usize> {
    let granule = if align >= 16 { 16 } else { GRANULE };
    let size = align_up(size.checked_add(HEADER)?, granule)?;
    Some(size.max(MIN_BLOCK))
}
