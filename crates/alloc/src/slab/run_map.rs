//! Which units of the heap's grid are slab runs: one bit per 16 KiB unit.
//!
//! `tfree(p)` tests the bit of `p`'s unit: set means the unit's start is a
//! run header; clear means `p` is a tagged block. The map lives outside the
//! heap because no word inside it could tell a slot from a tagged block:
//! the 8 bytes before a slot are the previous slot's data, and a bitmap
//! cannot be forged by what a program writes into its blocks.
//!
//! Units count from the first region's start, not from absolute 16 KiB
//! boundaries: where ASLR puts the heap then changes nothing about where
//! runs go, and a run of the experiment is repeatable.

use super::run::RUN;

/// Bitmap words: 65,536 units of 16 KiB, 1 GiB from the grid's base.
const MAP_WORDS: usize = 1024;
const MAP_SPAN: usize = MAP_WORDS * 64 * RUN;

/// The run map.
pub(crate) struct RunMap {
    /// The address unit 0 stands for (0 until memory arrives).
    base: usize,
    words: [u64; MAP_WORDS],
}

impl Default for RunMap {
    fn default() -> Self {
        RunMap::new()
    }
}

impl RunMap {
    pub(crate) const fn new() -> RunMap {
        RunMap { base: 0, words: [0; MAP_WORDS] }
    }

    /// Sets the grid's base on the first call; later calls change nothing.
    pub(crate) fn place(&mut self, start: usize) {
        if self.base == 0 {
            self.base = start;
        }
    }

    /// The unit of `addr`, if the map covers it.
    #[inline]
    fn unit(&self, addr: usize) -> Option<usize> {
        let offset = addr.checked_sub(self.base)?;
        (self.base != 0 && offset < MAP_SPAN).then_some(offset / RUN)
    }

    /// The start of the unit holding `addr`, if `addr` lies in a run.
    #[inline]
    pub(crate) fn run_base(&self, addr: usize) -> Option<usize> {
        let unit = self.unit(addr)?;
        (self.words[unit / 64] & (1 << (unit % 64)) != 0).then_some(self.base + unit * RUN)
    }

    /// The first point of the grid at or after `addr` (covered or not).
    pub(crate) fn grid_at_or_after(&self, addr: usize) -> Option<usize> {
        Some(self.base + addr.checked_sub(self.base)?.div_ceil(RUN) * RUN)
    }

    /// Whether the map covers the unit starting at `base`.
    pub(crate) fn covers(&self, base: usize) -> bool {
        self.unit(base).is_some()
    }

    /// How far `base` lies past a point of the grid: 0 on the grid.
    pub(crate) fn grid_offset(&self, base: usize) -> usize {
        base.wrapping_sub(self.base) % RUN
    }

    /// Marks or clears the unit starting at `base`.
    pub(crate) fn mark(&mut self, base: usize, on: bool) {
        let unit = self.unit(base).expect("runs are only made where the map reaches");
        if on {
            self.words[unit / 64] |= 1 << (unit % 64);
        } else {
            self.words[unit / 64] &= !(1 << (unit % 64));
        }
    }

    /// How many units are marked.
    pub(crate) fn marked(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}
