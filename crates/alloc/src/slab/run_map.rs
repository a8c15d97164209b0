//! Which pages of the heap are slab runs: the page map's `RUN` entries.
//!
//! `tfree(p)` looks up `p`'s page: a `RUN` entry names which of its run's
//! four pages it is, and so where the run's header is; any other entry
//! means `p` is a tagged block. The answer lives outside the heap because
//! no word inside it could tell a slot from a tagged block: the 8 bytes
//! before a slot are the previous slot's data, and an entry of the page map
//! cannot be forged by what a program writes into its blocks. It covers
//! every address the heap can have, at any size.
//!
//! Runs sit on a grid of 16 KiB units that starts at the first region's
//! start, not at absolute 16 KiB boundaries: where ASLR puts the heap then
//! changes nothing about where runs go, and a run of the experiment is
//! repeatable.

use super::run::RUN;
use crate::pagemap::{self, Entry, LeafCache, Owner};
use crate::source::PAGE;

/// The heap's runs, as the page map records them.
pub(crate) struct RunMap {
    /// The address the grid starts at (0 until memory arrives).
    base: usize,
    /// The heap's number in the page map (`None` until memory arrives).
    owner: Option<Owner>,
    pages: LeafCache,
    /// How many runs are marked.
    marked: usize,
}

impl Default for RunMap {
    fn default() -> Self {
        RunMap::new()
    }
}

impl RunMap {
    pub(crate) const fn new() -> RunMap {
        RunMap { base: 0, owner: None, pages: LeafCache::new(), marked: 0 }
    }

    /// Sets the grid's base and the owner on the first call; later calls
    /// change nothing.
    pub(crate) fn place(&mut self, start: usize, owner: Owner) {
        if self.base == 0 {
            self.base = start;
            self.owner = Some(owner);
        }
    }

    /// The start of the run holding `addr`, if `addr` lies in one.
    #[inline]
    pub(crate) fn run_base(&self, addr: usize) -> Option<usize> {
        let page = self.pages.get(addr).run_page()?;
        Some((addr & !(PAGE - 1)) - page * PAGE)
    }

    /// The first point of the grid at or after `addr`.
    pub(crate) fn grid_at_or_after(&self, addr: usize) -> Option<usize> {
        Some(self.base + addr.checked_sub(self.base)?.div_ceil(RUN) * RUN)
    }

    /// How far `base` lies past a point of the grid: 0 on the grid.
    pub(crate) fn grid_offset(&self, base: usize) -> usize {
        base.wrapping_sub(self.base) % RUN
    }

    /// Marks the run starting at `base` (or unmarks it: its pages become
    /// plain heap pages again). Its pages are the heap's already, so their
    /// leaves exist and this cannot fail.
    pub(crate) fn mark(&mut self, base: usize, on: bool) {
        let owner = self.owner.expect("runs are carved from memory the heap got");
        for page in 0..RUN / PAGE {
            let entry = if on { Entry::run(owner, page) } else { Entry::heap(owner) };
            let _ = pagemap::set(base + page * PAGE, PAGE, entry);
        }
        if on {
            self.marked += 1;
        } else {
            self.marked -= 1;
        }
    }

    /// How many runs are marked.
    pub(crate) fn marked(&self) -> usize {
        self.marked
    }
}
