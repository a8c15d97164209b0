//! TLSF, two-level segregated fit (Masmano et al., 2004): O(1) allocation
//! and free with boundary tags.
//!
//! Free blocks are binned by a two-level index of their size: the first
//! level is the power of two, the second splits each power into 16 equal
//! ranges. Below 256 bytes, bins are exact 8-byte sizes.
//!
//! ```text
//!   size    fl  sl   bin range
//!   32..255  0  n    [8n, 8n + 8)            exact sizes
//!   256..   f-7  s   [2^f + s·2^(f-4), 2^f + (s+1)·2^(f-4))   f = ⌊log2 size⌋
//! ```
//!
//! A search rounds the request up to the next bin boundary, so that any
//! block in a bin at or above it fits, and takes the first non-empty bin
//! (two bit scans, [`Bins`]). Before that, the head of the request's own bin
//! is tried (a likely exact fit); after it fails, that bin is scanned in
//! full, so memory is not grown while a fitting block exists.

use super::bins::Bins;
use crate::error::HeapError;
use crate::tags::{Block, FreeBlock, FreeIndex, MIN_BLOCK, TagHeap, blocks, check_indexed, front_block};

/// Exact 8-byte bins below this size.
const SMALL: usize = 256;
const SMALL_BINS: usize = SMALL / 8;
const SL_BITS: u32 = 4;
const SL_COUNT: usize = 1 << SL_BITS;
/// Powers of two from 2^8 to 2^47: blocks of 128 TiB and more share the last.
const LEVELS: usize = 40;
const BINS: usize = SMALL_BINS + LEVELS * SL_COUNT;
const WORDS: usize = BINS.div_ceil(64);

/// The bin a block of `size` bytes belongs to.
#[inline]
pub(crate) fn bin_of(size: usize) -> usize {
    if size < SMALL {
        return size / 8;
    }
    let f = (size.ilog2() as usize).min(8 + LEVELS - 1);
    let sl = if f == size.ilog2() as usize {
        (size >> (f - SL_BITS as usize)) & (SL_COUNT - 1)
    } else {
        SL_COUNT - 1
    };
    SMALL_BINS + (f - 8) * SL_COUNT + sl
}

/// The first bin whose every block holds at least `size` bytes.
#[inline]
fn first_bin_all_fit(size: usize) -> usize {
    if size < SMALL {
        // Exact bins: the next one up holds only larger blocks.
        return size.div_ceil(8);
    }
    let bin = bin_of(size);
    // A size on a bin's lower boundary is served by that bin; otherwise by the next.
    let f = size.ilog2() as usize;
    let step = 1usize << (f - SL_BITS as usize);
    if size.is_multiple_of(step) && f < 8 + LEVELS { bin } else { bin + 1 }
}

/// The TLSF free index.
pub(crate) struct Tlsf {
    bins: Bins<BINS, WORDS, FreeBlock>,
}

impl Default for Tlsf {
    fn default() -> Self {
        Tlsf::new()
    }
}

impl Tlsf {
    pub(crate) const fn new() -> Tlsf {
        Tlsf { bins: Bins::new() }
    }
}

impl FreeIndex for Tlsf {
    #[inline]
    unsafe fn insert(&mut self, block: Block) {
        // SAFETY: forwarded from the caller.
        unsafe { self.bins.insert(bin_of(block.size()), FreeBlock::of(block)) }
    }

    #[inline]
    unsafe fn remove(&mut self, block: Block) {
        // SAFETY: forwarded from the caller.
        unsafe { self.bins.remove(bin_of(block.size()), FreeBlock::of(block)) }
    }

    #[inline]
    fn find(&mut self, size: usize) -> Option<Block> {
        let own = bin_of(size);
        if let Some(head) = front_block(self.bins.list(own))
            && head.size() >= size
        {
            return Some(head);
        }
        if let Some(bin) = self.bins.first_at_or_after(first_bin_all_fit(size)) {
            return front_block(self.bins.list(bin));
        }
        // Last resort before the heap grows: a fitting block in the own bin.
        blocks(self.bins.list(own)).find(|&b| b.size() >= size)
    }

    fn check(&self) -> Result<(usize, usize), HeapError> {
        // SAFETY: the bins hold elements of free lists.
        self.bins.check(|e| check_indexed(unsafe { FreeBlock::block(e) }, MIN_BLOCK, usize::MAX), bin_of)
    }
}

/// The tlsf policy's heap.
pub(crate) type TlsfHeap = TagHeap<Tlsf>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_exact_below_256_then_sixteen_per_power_of_two() {
        assert_eq!(bin_of(32), 4);
        assert_eq!(bin_of(248), 31);
        assert_eq!(bin_of(256), SMALL_BINS);
        assert_eq!(bin_of(256 + 15), SMALL_BINS);
        assert_eq!(bin_of(256 + 16), SMALL_BINS + 1);
        assert_eq!(bin_of(511), SMALL_BINS + 15);
        assert_eq!(bin_of(512), SMALL_BINS + 16);
        assert_eq!(bin_of(usize::MAX), BINS - 1);
    }

    #[test]
    fn every_block_from_the_first_all_fit_bin_up_is_large_enough() {
        // The lower bound of each bin: the smallest block size mapping to it.
        let mut low = std::vec![usize::MAX; BINS];
        for size in (32..1 << 20).step_by(8).rev() {
            low[bin_of(size)] = size;
        }
        for size in (32..200_000).step_by(8) {
            let bin = first_bin_all_fit(size);
            assert!(low[bin] >= size, "size {size}: bin {bin} starts at {}", low[bin]);
            // ... and it is the first such bin: the one before holds smaller blocks.
            let before = low[bin - 1];
            assert!(
                before == usize::MAX || before < size,
                "size {size}: bin {} (from {before}) would do",
                bin - 1
            );
        }
    }
}
