//! slab-tlsf, the default policy: the [slabs](crate::slab) for blocks of
//! up to 32 bytes, TLSF over boundary tags for everything else; the runs
//! themselves are used blocks of the TLSF heap.
//!
//! - A small request takes a slot from its class's runs; with none, a new
//!   run is carved out of the tag heap on the [`RunMap`]'s grid (a free
//!   block of one run may hold one; a block of two runs always does).
//! - A small request no run can serve takes a tagged block from a hole in
//!   the heap, but not from the top block: the top is where the next run
//!   comes from when the heap grows. Only once the heap cannot grow does a
//!   small request eat into the top (`alloc_fallback`).
//! - Runs are found through the page map, which covers every address: a
//!   heap of any size has its slab runs.
//! - Everything else (larger, or more strictly aligned) goes to the TLSF
//!   heap, 8-byte granular.

use core::ptr::NonNull;

use super::tagged::{tag_growth_hint, tag_trim};
use super::{Freed, Growth, Policy};
use crate::error::{BlockInfo, HeapError, Misuse, Totals, ensure};
use crate::index::Tlsf;
use crate::pagemap::Owner;
use crate::region::Region;
use crate::slab::run::{run_at, run_of_block, unit_base};
use crate::slab::{CLASSES, Emptied, RUN, RUN_TAG, Run, RunMap, Slabs, class_for};
use crate::tags::{
    Block, EPILOGUE, FreeIndex, HEADER, MIN_BLOCK, SPECIAL, TagHeap, block_size_for, free_block_info,
    used_block_info,
};

/// The default policy.
pub(crate) struct SlabTlsf {
    tags: TagHeap<Tlsf>,
    slabs: Slabs,
    /// The end of the last region: its top block is where new runs come
    /// from when the heap grows.
    top_end: usize,
    map: RunMap,
}

impl Default for SlabTlsf {
    fn default() -> Self {
        SlabTlsf::new()
    }
}

impl SlabTlsf {
    pub(crate) const fn new() -> SlabTlsf {
        SlabTlsf { tags: TagHeap::new(Tlsf::new()), slabs: Slabs::new(), top_end: 0, map: RunMap::new() }
    }

    /// The run containing `addr`, if `addr` lies in one.
    #[inline]
    fn run_of(&self, addr: usize) -> Option<NonNull<Run>> {
        // SAFETY: marked units start with a live run.
        self.map.run_base(addr).map(|base| unsafe { run_at(base) })
    }

    /// A slot of class `c`, from a new run if the class has none to give.
    #[inline]
    fn slab_alloc(&mut self, c: usize) -> Option<(NonNull<u8>, usize)> {
        let slot = match self.slabs.alloc(c) {
            Some(slot) => slot,
            None => {
                let run = self.new_run(c)?;
                // SAFETY: the run is fresh, empty, of class c and on no list.
                unsafe { self.slabs.adopt(c, run) };
                self.slabs.alloc(c)?
            }
        };
        Some((slot, CLASSES[c]))
    }

    /// Carves a new run for class `c` out of the tag heap.
    fn new_run(&mut self, c: usize) -> Option<NonNull<Run>> {
        // A free block holding an aligned RUN window, with any gap in front
        // big enough to stay a free block: a block of one run may hold one;
        // a block of two runs always does.
        let (block, base) = [RUN, 2 * RUN + MIN_BLOCK].into_iter().find_map(|size| {
            let block = self.tags.index.find(size)?;
            let base = self.run_window(block)?;
            Some((block, base))
        })?;
        // SAFETY: the run block lies in the free block, with a valid front gap.
        unsafe { self.tags.carve_at(block, base + RUN_TAG, RUN, SPECIAL) };
        self.map.mark(base, true);
        // SAFETY: the run block was just carved for us.
        Some(unsafe { Run::init(base, CLASSES[c], c) })
    }

    /// A small request no run can serve: a tagged block from a hole in the
    /// heap, but never from the top block. The top is where the next run
    /// comes from once the heap grows; spent on small tagged blocks (a
    /// header each, 24 bytes at least), it would never become one.
    fn small_in_a_hole(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        let need = block_size_for(size, align)?;
        let block = self.tags.index.find(need)?;
        if block.addr() + block.size() + EPILOGUE == self.top_end {
            return None;
        }
        self.tags.alloc(size, align)
    }

    /// Which unit of the grid could hold a run carved from free block
    /// `block`: the first whose run block (from `RUN_TAG` into the unit)
    /// leaves either no gap in front or a gap that can stay a free block,
    /// and lies wholly inside the block. Returns the unit's start.
    fn run_window(&self, block: Block) -> Option<usize> {
        let end = block.addr() + block.size();
        let mut base = self.map.grid_at_or_after(block.addr().checked_sub(RUN_TAG)?)?;
        let gap = base + RUN_TAG - block.addr();
        if gap != 0 && gap < MIN_BLOCK {
            base += RUN;
        }
        (base + RUN_TAG + RUN <= end).then_some(base)
    }

    /// Gives emptied runs back to the tag heap, where they coalesce;
    /// returns the top block's size if one joined it, else 0.
    ///
    /// # Safety
    ///
    /// The runs must be empty live runs of this heap, on no list.
    unsafe fn release_runs(&mut self, emptied: Emptied) -> usize {
        let mut top_free = 0;
        for run in [emptied.spare, emptied.run].into_iter().flatten() {
            let base = unit_base(run);
            self.map.mark(base, false);
            // SAFETY: per the caller, the run's tag block is a used block of the heap.
            top_free = top_free.max(unsafe { self.tags.release(Block::at(base + RUN_TAG)) });
        }
        top_free
    }
}

impl Policy for SlabTlsf {
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize, owner: Owner) {
        self.map.place(start, owner);
        self.top_end = region.end;
        // SAFETY: forwarded from the caller.
        unsafe { self.tags.add_memory(start, len, region.start < start) }
    }

    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        match class_for(size, align) {
            Some(c) => self.slab_alloc(c).or_else(|| self.small_in_a_hole(size, align)),
            None => self.tags.alloc(size, align),
        }
    }

    fn alloc_fallback(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        self.alloc(size, align).or_else(|| self.tags.alloc(size, align))
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, region: Region) -> Result<Freed, Misuse> {
        if let Some(run) = self.run_of(ptr.as_ptr() as usize) {
            // SAFETY: the map says `run` is a live run; used_slot validated the slot.
            unsafe {
                let c = Run::used_slot(run, ptr)?;
                let emptied = self.slabs.free(run, ptr, c);
                let top_free = self.release_runs(emptied);
                return Ok(Freed { usable: CLASSES[c], top_free });
            }
        }
        // SAFETY: forwarded from the caller (used_block refuses a run's own
        // header as not the caller's block).
        let block = unsafe { self.tags.used_block(ptr, region)? };
        let usable = block.size() - HEADER;
        // SAFETY: used_block validated a used block of this heap.
        Ok(Freed { usable, top_free: unsafe { self.tags.release(block) } })
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        if let Some(run) = self.run_of(ptr.as_ptr() as usize) {
            // SAFETY: the map says `run` is a live run.
            return unsafe { Run::used_slot(run, ptr).map(|c| CLASSES[c]) };
        }
        // SAFETY: forwarded from the caller.
        Ok(unsafe { self.tags.used_block(ptr, region)? }.size() - HEADER)
    }

    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        new_size: usize,
    ) -> Result<Option<usize>, Misuse> {
        if let Some(run) = self.run_of(ptr.as_ptr() as usize) {
            // SAFETY: the map says `run` is a live run.
            let c = unsafe { Run::used_slot(run, ptr)? };
            return Ok((new_size <= CLASSES[c]).then_some(CLASSES[c]));
        }
        // SAFETY: forwarded from the caller; used_block validated the block.
        unsafe {
            let block = self.tags.used_block(ptr, region)?;
            Ok(self.tags.resize(block, new_size))
        }
    }

    fn growth_hint(&self, size: usize, align: usize, last: Option<Region>, want: Growth) -> Option<usize> {
        if class_for(size, align).is_some() && want != Growth::Bare {
            // Room for an aligned run: a free block of 2 runs always holds one.
            // Only when even that is refused does a small request fall back
            // to a tagged block.
            return tag_growth_hint(&self.tags, 2 * RUN + MIN_BLOCK, 8, last, want);
        }
        tag_growth_hint(&self.tags, size, align, last, want)
    }

    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize) -> usize {
        // SAFETY: forwarded from the caller.
        let released = unsafe { tag_trim(&mut self.tags, last, threshold, keep) };
        self.top_end = last.end - released;
        released
    }

    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        self.tags.walk(regions, &mut |block| {
            if block.is_special() {
                // SAFETY: a SPECIAL block is a run.
                unsafe { Run::walk(run_of_block(block), block, visit) };
            } else if block.is_used() {
                visit(used_block_info(block));
            } else {
                visit(free_block_info(block));
            }
        })
    }

    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError> {
        let mut runs = 0;
        let totals = self.tags.check(regions, &mut |block, totals| {
            if block.is_special() {
                let base = block.addr() - RUN_TAG;
                let offset = self.map.grid_offset(base);
                ensure(offset == 0, "run off the run grid", base, offset, 0)?;
                ensure(self.run_of(base).is_some(), "run missing from the run map", base, 0, 1)?;
                let run = Run::check(block)?;
                runs += 1;
                // SAFETY: a checked run.
                unsafe { Run::walk(run, block, &mut |b| totals.count(&b)) };
            } else {
                totals.count(&used_block_info(block));
            }
            Ok(())
        })?;
        let marked = self.map.marked();
        ensure(marked == runs, "run map marks differ from runs found", 0, marked, runs)?;
        self.slabs.check(runs)?;
        Ok(totals)
    }
}
