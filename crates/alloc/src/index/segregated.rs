//! Segregated fit in the style of dlmalloc: exact-size bins for small
//! blocks, log-spaced bins for the rest, best fit inside a bin.
//!
//! ```text
//!   bins 0..=60    one per size: 24, 32, 40, … 504 bytes   (exact: the head fits)
//!   bins 61..      four per power of two from 512 bytes up  (scanned for the best fit)
//! ```
//!
//! A request takes the head of its exact bin when there is one; otherwise
//! the best fit in its own log-spaced bin; otherwise a block from the first
//! non-empty bin above (every block there is larger than the request).

use super::bins::Bins;
use super::fit::best_fit;
use crate::error::HeapError;
use crate::tags::{Block, FreeBlock, FreeIndex, MIN_BLOCK, TagHeap, check_indexed, front_block};

/// Exact bins for sizes below this.
const SMALL: usize = 512;
const SMALL_BINS: usize = (SMALL - MIN_BLOCK) / 8;
/// Bins per power of two above SMALL.
const PER_POWER: usize = 4;
/// Powers of two from 2^9 to 2^48; larger blocks share the last bin.
const POWERS: usize = 40;
const BINS: usize = SMALL_BINS + POWERS * PER_POWER;
const WORDS: usize = BINS.div_ceil(64);

/// The bin a block of `size` bytes belongs to.
#[inline]
pub(crate) fn bin_of(size: usize) -> usize {
    if size < SMALL {
        return (size - MIN_BLOCK) / 8;
    }
    let f = size.ilog2() as usize;
    if f >= 9 + POWERS {
        return BINS - 1;
    }
    SMALL_BINS + (f - 9) * PER_POWER + ((size >> (f - 2)) & (PER_POWER - 1))
}

/// The segregated free index.
pub(crate) struct SegregatedBins {
    bins: Bins<BINS, WORDS, FreeBlock>,
}

impl Default for SegregatedBins {
    fn default() -> Self {
        SegregatedBins::new()
    }
}

impl SegregatedBins {
    pub(crate) const fn new() -> SegregatedBins {
        SegregatedBins { bins: Bins::new() }
    }
}

impl FreeIndex for SegregatedBins {
    unsafe fn insert(&mut self, block: Block) {
        // SAFETY: forwarded from the caller.
        unsafe { self.bins.insert(bin_of(block.size()), FreeBlock::of(block)) }
    }

    unsafe fn remove(&mut self, block: Block) {
        // SAFETY: forwarded from the caller.
        unsafe { self.bins.remove(bin_of(block.size()), FreeBlock::of(block)) }
    }

    fn find(&mut self, size: usize) -> Option<Block> {
        let own = bin_of(size);
        if size < SMALL {
            if let Some(head) = front_block(self.bins.list(own)) {
                return Some(head);
            }
        } else if let Some(best) = best_fit(self.bins.list(own), size) {
            return Some(best);
        }
        let bin = self.bins.first_at_or_after(own + 1)?;
        best_fit(self.bins.list(bin), size)
    }

    fn check(&self) -> Result<(usize, usize), HeapError> {
        // SAFETY: the bins hold elements of free lists.
        self.bins.check(|e| check_indexed(unsafe { FreeBlock::block(e) }, MIN_BLOCK, usize::MAX), bin_of)
    }
}

/// The segregated policy's heap.
pub(crate) type SegregatedHeap = TagHeap<SegregatedBins>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_exact_then_four_per_power_of_two() {
        assert_eq!(bin_of(MIN_BLOCK), 0);
        assert_eq!(bin_of(MIN_BLOCK + 8), 1);
        assert_eq!(bin_of(504), SMALL_BINS - 1);
        assert_eq!(bin_of(512), SMALL_BINS);
        assert_eq!(bin_of(640), SMALL_BINS + 1);
        assert_eq!(bin_of(1023), SMALL_BINS + 3);
        assert_eq!(bin_of(1024), SMALL_BINS + 4);
        assert_eq!(bin_of(usize::MAX), BINS - 1);
        // Bins never decrease as sizes grow.
        let mut last = 0;
        for size in (32..1 << 22).step_by(8) {
            assert!(bin_of(size) >= last);
            last = bin_of(size);
        }
    }
}
