//! slab-tlsf, the default policy: headerless slab runs for small sizes,
//! TLSF over boundary tags for everything else.
//!
//! `tfree` is not told a block's size, so the size has to live somewhere.
//! A boundary tag keeps it in 8 bytes in front of every block; for the
//! 20-to-32-byte blocks of the experiment that is a quarter of the memory.
//! Here small blocks keep it once per *run* instead: a 16 KiB run holds
//! slots of one size class, and the run's header, found from any slot's
//! address by rounding down, names the class.
//!
//! ```text
//!   a unit of the heap's 16 KiB grid: the run, a used tag block marked SPECIAL
//!   ┌────┬─────┬──────────────────────────────────┬───────┬───────┬───────┬────
//!   │ 4  │ tag │ class link | free | magic, class │ slot  │ slot  │ slot  │ …
//!   │    │ 4 B │ bump, live                 40 B  │ used  │ free ─┼─► …   │
//!   └────┴─────┴──────────────────────────────────┴───────┴───────┴───────┴────
//!     0    4     8                                  48
//!     free slot: [ next free slot | key ]   used slot: the caller's bytes only
//! ```
//!
//! - Size classes: 16, 24 and 32 bytes, where a header costs the most (a
//!   quarter to a half of the block). 20- and 24-byte requests share 24-byte
//!   slots: nothing is lost that 8-byte alignment does not force. Requests
//!   needing 16-byte alignment use the 16 and 32 classes. Larger sizes go
//!   to TLSF: measured, more classes left more partly filled runs at the
//!   moment memory ran out (0.967 of a 10 MiB arena instead of 0.979 on
//!   the fragmenting workload) without making the steady state faster.
//! - Which addresses are runs is recorded outside the heap, one bit per
//!   16 KiB unit: reading the word in front of a pointer could not tell a
//!   slot from a tagged block, and a bitmap cannot be forged by the data
//!   in a block. The map covers 1 GiB from the first region; beyond it,
//!   small requests are served as tagged blocks.
//! - A class keeps its runs that have free slots on a list, the run with
//!   the latest free first, so holes fill before fresh slots are touched. A
//!   run that empties goes back to the tag heap (and can coalesce), unless
//!   it is the class's only run with free slots: then it is kept as the
//!   class's spare, until another run has a free slot again. (Keeping "the
//!   last run" instead kept the newest run, at the top of the heap, and the
//!   heap could never be trimmed.)
//! - A free slot holds a key derived from its address. Freeing a slot that
//!   carries the key triggers a scan of its run's free list: a double free
//!   is caught exactly, and user data that mimics the key costs one scan.
//! - A small request no run can serve takes a tagged block from a hole in
//!   the heap, but not from the top block: the top is where the next run
//!   comes from when the heap grows. Only once the heap cannot grow does a
//!   small request eat into the top.
//! - Everything else (larger, or more strictly aligned) goes to a TLSF heap
//!   of boundary tags, 8-byte granular, which also holds the runs.

use core::ptr::NonNull;

use crate::allocator::error::{BlockInfo, BlockState, HeapError, Misuse, Totals, ensure};
use crate::allocator::list::{Link, Linked, List};
use crate::allocator::policy::tags::{
    Block, EPILOGUE, FreeIndex, HEADER, MIN_BLOCK, SPECIAL, TagHeap, block_size_for, used_block_info,
};
use crate::allocator::policy::tlsf::Tlsf;
use crate::allocator::policy::{Freed, Growth, Policy, free_block_info, tag_growth_hint, tag_trim};
use crate::allocator::region::Region;

/// Bytes per run; runs start on multiples of it.
pub const RUN: usize = 16 * 1024;
/// Bytes of run header in front of the first slot.
pub const RUN_HEADER: usize = RUN_META + core::mem::size_of::<Run>();
/// Where in its unit a run's tag header is.
const RUN_TAG: usize = 4;
/// Where in its unit a run's bookkeeping ([`Run`]) is.
const RUN_META: usize = 8;
/// The slot sizes.
pub const CLASSES: [usize; 3] = [16, 24, 32];
/// The largest size served from a run.
pub const SLAB_MAX: usize = 32;
/// Class index by `(size + 7) / 8` for sizes up to SLAB_MAX.
const CLASS_OF_EIGHTHS: [u8; SLAB_MAX / 8 + 1] = [0, 0, 0, 1, 2];
/// Bitmap words for the run map: 65,536 units of 16 KiB, 1 GiB.
const MAP_WORDS: usize = 1024;
const MAP_SPAN: usize = MAP_WORDS * 64 * RUN;

const RUN_MAGIC: u32 = 0x51AB_51AB;
const SLOT_KEY: usize = 0x7A11_0C5E_ED5E_ED00;

/// A run's bookkeeping, 8 bytes into its unit: the run's tag header sits
/// at 4 (tag blocks start 4 bytes before an 8-byte boundary), so that to
/// the tag heap the run is an ordinary used block.
#[repr(C)]
pub struct Run {
    link: Link,
    /// First free slot, or 0.
    free: usize,
    magic: u32,
    class: u16,
    class_index: u8,
    _pad: u8,
    /// Offset of the first slot never handed out.
    bump: u32,
    /// Slots in use.
    live: u32,
}

// SAFETY: link and from_link use the same offset.
unsafe impl Linked for Run {
    #[inline]
    fn link(this: NonNull<Self>) -> NonNull<Link> {
        // SAFETY: projecting a field of a valid run pointer.
        unsafe { NonNull::new_unchecked(&raw mut (*this.as_ptr()).link) }
    }
    #[inline]
    unsafe fn from_link(link: NonNull<Link>) -> NonNull<Self> {
        // SAFETY: the caller vouches the link is a run's.
        unsafe { link.byte_sub(core::mem::offset_of!(Run, link)).cast() }
    }
}

/// The start of the grid unit a run occupies.
#[inline]
fn unit_base(run: NonNull<Run>) -> usize {
    run.as_ptr() as usize - RUN_META
}

fn run_magic(run: usize) -> u32 {
    RUN_MAGIC ^ (run >> 14) as u32
}

/// The class index serving `size` bytes at `align`, if a run can.
#[inline]
fn class_for(size: usize, align: usize) -> Option<usize> {
    if size > SLAB_MAX || align > 16 {
        return None;
    }
    let size = if align == 16 { (size + 15) & !15 } else { size };
    Some(CLASS_OF_EIGHTHS[size.div_ceil(8)] as usize)
}

/// The default policy.
pub struct SlabTlsf {
    tags: TagHeap<Tlsf>,
    /// Per class: runs with at least one free slot.
    classes: [List<Run>; CLASSES.len()],
    /// Per class: an empty run kept for the next allocation, while it is the
    /// class's only run with free slots.
    spare: [Option<NonNull<Run>>; CLASSES.len()],
    /// The address unit 0 of the run map stands for (0 until memory arrives).
    map_base: usize,
    /// The end of the last region: its top block is where new runs come
    /// from when the heap grows.
    top_end: usize,
    map: [u64; MAP_WORDS],
}

impl Default for SlabTlsf {
    fn default() -> Self {
        SlabTlsf::new()
    }
}

impl SlabTlsf {
    pub const fn new() -> SlabTlsf {
        SlabTlsf {
            tags: TagHeap::new(Tlsf::new()),
            classes: [const { List::new() }; CLASSES.len()],
            spare: [None; CLASSES.len()],
            map_base: 0,
            top_end: 0,
            map: [0; MAP_WORDS],
        }
    }

    /// The map unit of `addr`, if the map covers it.
    #[inline]
    fn unit(&self, addr: usize) -> Option<usize> {
        let offset = addr.checked_sub(self.map_base)?;
        (self.map_base != 0 && offset < MAP_SPAN).then_some(offset / RUN)
    }

    /// The run containing `addr`, if `addr` lies in one.
    #[inline]
    fn run_of(&self, addr: usize) -> Option<NonNull<Run>> {
        let unit = self.unit(addr)?;
        if self.map[unit / 64] & (1 << (unit % 64)) == 0 {
            return None;
        }
        // SAFETY: marked units start with a live run.
        Some(unsafe { NonNull::new_unchecked((self.run_start(unit) + RUN_META) as *mut Run) })
    }

    /// The address of map unit `unit`, where a run there starts.
    #[inline]
    fn run_start(&self, unit: usize) -> usize {
        self.map_base + unit * RUN
    }

    fn mark(&mut self, run: usize, on: bool) {
        let unit = self.unit(run).expect("runs are only made where the map reaches");
        if on {
            self.map[unit / 64] |= 1 << (unit % 64);
        } else {
            self.map[unit / 64] &= !(1 << (unit % 64));
        }
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
        let run = (base + RUN_META) as *mut Run;
        // SAFETY: the run block is ours; its first word (the tag) stays as carved.
        unsafe {
            (&raw mut (*run).link).write(Link::new());
            (&raw mut (*run).free).write(0);
            (&raw mut (*run).magic).write(run_magic(base));
            (&raw mut (*run).class).write(CLASSES[c] as u16);
            (&raw mut (*run).class_index).write(c as u8);
            (&raw mut (*run)._pad).write(0);
            (&raw mut (*run).bump).write(RUN_HEADER as u32);
            (&raw mut (*run).live).write(0);
        }
        self.mark(base, true);
        // SAFETY: the run address is inside the heap, never null.
        let run = unsafe { NonNull::new_unchecked(run) };
        // SAFETY: the run is fresh and on no list.
        unsafe { self.classes[c].push_front(run) };
        Some(run)
    }

    /// A small request no run can serve: a tagged block from a hole in the
    /// heap, but never from the top block. The top is where the next run
    /// comes from once the heap grows; spent on small tagged blocks (a
    /// header each, 24 bytes at least), it would never become one.
    fn small_in_a_hole(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        let need = block_size_for(size, align)?;
        let block = self.tags.index.find(need)?;
        // SAFETY: the index returns free blocks inside the heap.
        if block.addr() + unsafe { block.size() } + EPILOGUE == self.top_end {
            return None;
        }
        self.tags.alloc(size, align)
    }

    /// Which unit of the grid could hold a run carved from free block
    /// `block`: the first whose run block (from `RUN_TAG` into the unit)
    /// leaves either no gap in front or a gap that can stay a free block,
    /// lies wholly inside the block, and is under the run map. Returns the
    /// unit's start.
    fn run_window(&self, block: Block) -> Option<usize> {
        // SAFETY: the index returns free blocks inside the heap.
        let end = block.addr() + unsafe { block.size() };
        let unit = (block.addr().checked_sub(self.map_base + RUN_TAG)?).div_ceil(RUN);
        let mut base = self.run_start(unit);
        let gap = base + RUN_TAG - block.addr();
        if gap != 0 && gap < MIN_BLOCK {
            base += RUN;
        }
        (base + RUN_TAG + RUN <= end && self.unit(base).is_some()).then_some(base)
    }

    /// A slot of class `c`.
    #[inline]
    fn slab_alloc(&mut self, c: usize) -> Option<(NonNull<u8>, usize)> {
        let run = match self.classes[c].front() {
            Some(run) => run,
            None => self.new_run(c)?,
        };
        let class = CLASSES[c];
        // SAFETY: listed runs are live and have a free slot.
        unsafe {
            let r = run.as_ptr();
            let slot = if (*r).free != 0 {
                let slot = (*r).free;
                (*r).free = *(slot as *const usize);
                slot
            } else {
                let slot = unit_base(run) + (*r).bump as usize;
                (*r).bump += class as u32;
                slot
            };
            if (*r).live == 0 {
                self.spare[c] = None;
            }
            (*r).live += 1;
            // The key word becomes the caller's: clear it, so a later free
            // does not mistake it for a freed slot's.
            ((slot + 8) as *mut usize).write(0);
            if run_is_full(r) {
                self.classes[c].remove(run);
            }
            Some((NonNull::new_unchecked(slot as *mut u8), class))
        }
    }

    /// Validates `ptr` as a used slot of `run`; returns its class index.
    ///
    /// # Safety
    ///
    /// `run` must be a live run.
    unsafe fn used_slot(&self, run: NonNull<Run>, ptr: NonNull<u8>) -> Result<usize, Misuse> {
        let addr = ptr.as_ptr() as usize;
        if !addr.is_multiple_of(8) {
            return Err(Misuse::Misaligned);
        }
        // SAFETY: per the caller.
        let r = unsafe { run.as_ref() };
        let c = r.class_index as usize;
        let base = unit_base(run);
        if r.magic != run_magic(base) || c >= CLASSES.len() {
            return Err(Misuse::Corrupted);
        }
        let offset = addr - base;
        if offset < RUN_HEADER
            || !(offset - RUN_HEADER).is_multiple_of(CLASSES[c])
            || offset >= r.bump as usize
        {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: the slot lies inside the run, below the bump mark.
        if unsafe { ((addr + 8) as *const usize).read() } == SLOT_KEY ^ addr {
            let mut cursor = r.free;
            while cursor != 0 {
                if cursor == addr {
                    return Err(Misuse::DoubleFree);
                }
                // SAFETY: free slots of a live run hold the next free slot.
                cursor = unsafe { *(cursor as *const usize) };
            }
        }
        Ok(c)
    }

    /// Returns a slot to its run; releases the run when it empties.
    /// Returns the top block's size if a released run joined it, else 0.
    ///
    /// # Safety
    ///
    /// `ptr` must be a used slot of `run` of class `c` (see `used_slot`).
    #[inline]
    unsafe fn slab_free(&mut self, run: NonNull<Run>, ptr: NonNull<u8>, c: usize) -> usize {
        let addr = ptr.as_ptr() as usize;
        // SAFETY: per the caller.
        unsafe {
            let r = run.as_ptr();
            let was_full = run_is_full(r);
            (addr as *mut usize).write((*r).free);
            ((addr + 8) as *mut usize).write(SLOT_KEY ^ addr);
            (*r).free = addr;
            (*r).live -= 1;
            let mut top_free = 0;
            if was_full {
                self.classes[c].push_front(run);
                // A run with free slots again: a kept empty run is now spare.
                if let Some(spare) = self.spare[c].take() {
                    top_free = self.release_run(c, spare);
                }
            }
            if (*r).live == 0 {
                if self.classes[c].len() > 1 {
                    top_free = top_free.max(self.release_run(c, run));
                } else {
                    self.spare[c] = Some(run);
                }
            }
            top_free
        }
    }

    /// The tagged block whose payload is `ptr`, refusing a run itself: a
    /// pointer just past a run's tag is its header, never a block of the
    /// caller's (the run map would have routed a slot to `used_slot`).
    ///
    /// # Safety
    ///
    /// `ptr` must lie in `region`, which must be a region of this heap.
    unsafe fn tagged_block(&self, ptr: NonNull<u8>, region: Region) -> Result<Block, Misuse> {
        // SAFETY: forwarded from the caller.
        let block = unsafe { self.tags.used_block(ptr, region)? };
        // SAFETY: used_block returned a block inside the region.
        if unsafe { block.is_special() } { Err(Misuse::InvalidPointer) } else { Ok(block) }
    }

    /// Gives an empty run back to the tag heap, where it coalesces; returns
    /// what [`TagHeap::release`] does.
    ///
    /// # Safety
    ///
    /// `run` must be an empty run of class `c`, on its list.
    unsafe fn release_run(&mut self, c: usize, run: NonNull<Run>) -> usize {
        // SAFETY: per the caller.
        unsafe {
            self.classes[c].remove(run);
            let base = unit_base(run);
            self.mark(base, false);
            self.tags.release(Block::at(base + RUN_TAG))
        }
    }

    /// Reports the slots of a run as blocks, in address order.
    fn walk_run(run: NonNull<Run>, visit: &mut dyn FnMut(BlockInfo)) {
        // SAFETY: walked runs are live.
        let r = unsafe { run.as_ref() };
        let base = unit_base(run);
        let class = r.class as usize;
        let free = free_slots(r);
        visit(BlockInfo {
            addr: base + RUN_TAG,
            size: RUN_HEADER - RUN_TAG,
            usable: 0,
            state: BlockState::Meta,
        });
        let handed_out = (r.bump as usize - RUN_HEADER) / class;
        for i in 0..handed_out {
            let addr = base + RUN_HEADER + i * class;
            let is_free = free.get(i);
            let state = if is_free { BlockState::Free } else { BlockState::Used };
            visit(BlockInfo { addr, size: class, usable: if is_free { 0 } else { class }, state });
        }
        // SAFETY: the run's tag header holds its block size.
        let end = base + RUN_TAG + unsafe { Block::at(base + RUN_TAG).size() };
        let fresh = base + r.bump as usize;
        if fresh < end {
            visit(BlockInfo { addr: fresh, size: end - fresh, usable: 0, state: BlockState::Free });
        }
    }

    /// Checks one run: header, free list, counts, map bit.
    fn check_run(&self, block: Block) -> Result<(), HeapError> {
        let base = block.addr() - RUN_TAG;
        // SAFETY: walked blocks are inside the heap.
        let size = unsafe { block.size() };
        let offset = base.wrapping_sub(self.map_base);
        ensure(offset.is_multiple_of(RUN), "run off the run grid", base, offset % RUN, 0)?;
        ensure((RUN..RUN + MIN_BLOCK).contains(&size), "run of the wrong size", base, size, RUN)?;
        ensure(self.run_of(base).is_some(), "run missing from the run map", base, 0, 1)?;
        // SAFETY: a SPECIAL block of this heap is a run.
        let r = unsafe { &*((base + RUN_META) as *const Run) };
        ensure(
            r.magic == run_magic(base),
            "run magic overwritten",
            base,
            r.magic as usize,
            run_magic(base) as usize,
        )?;
        let c = r.class_index as usize;
        ensure(
            c < CLASSES.len() && CLASSES[c] == r.class as usize,
            "run class inconsistent",
            base,
            r.class as usize,
            c,
        )?;
        let class = r.class as usize;
        let bump = r.bump as usize;
        ensure(
            (RUN_HEADER..=RUN).contains(&bump) && (bump - RUN_HEADER).is_multiple_of(class),
            "run bump mark off the slot grid",
            base,
            bump,
            RUN_HEADER,
        )?;
        let handed_out = (bump - RUN_HEADER) / class;
        let mut seen = SlotSet::default();
        let mut cursor = r.free;
        let mut free_count = 0;
        while cursor != 0 {
            let offset = cursor.wrapping_sub(base);
            ensure(
                offset >= RUN_HEADER && offset < bump && (offset - RUN_HEADER).is_multiple_of(class),
                "free slot outside its run's slots",
                cursor,
                offset,
                RUN_HEADER,
            )?;
            let i = (offset - RUN_HEADER) / class;
            ensure(!seen.get(i), "free slot listed twice (a cycle?)", cursor, i, 0)?;
            seen.set(i);
            // SAFETY: a free slot of the run.
            let key = unsafe { ((cursor + 8) as *const usize).read() };
            ensure(
                key == SLOT_KEY ^ cursor,
                "free slot key overwritten (use after free?)",
                cursor,
                key,
                SLOT_KEY ^ cursor,
            )?;
            free_count += 1;
            // SAFETY: as above.
            cursor = unsafe { *(cursor as *const usize) };
        }
        ensure(
            r.live as usize + free_count == handed_out,
            "run live count off",
            base,
            r.live as usize + free_count,
            handed_out,
        )
    }
}

/// Whether a run has no slot to give.
///
/// # Safety
///
/// `r` must be a live run.
#[inline]
unsafe fn run_is_full(r: *const Run) -> bool {
    // SAFETY: per the caller.
    unsafe { (*r).free == 0 && (*r).bump as usize + (*r).class as usize > RUN }
}

/// Which slots of a run are free, for walks and checks (at most 1,021).
#[derive(Default)]
struct SlotSet([u64; RUN / 16 / 64]);

impl SlotSet {
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
}

fn free_slots(r: &Run) -> SlotSet {
    let base = r as *const Run as usize - RUN_META;
    let mut set = SlotSet::default();
    let mut cursor = r.free;
    let mut steps = 0;
    let slots = base + RUN_HEADER..base + r.bump as usize;
    // A corrupted list ends the walk here; check() reports it.
    while slots.contains(&cursor) && steps < RUN / 16 {
        set.set((cursor - base - RUN_HEADER) / r.class as usize);
        // SAFETY: free slots of a live run hold the next free slot.
        cursor = unsafe { *(cursor as *const usize) };
        steps += 1;
    }
    set
}

impl Policy for SlabTlsf {
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize) {
        if self.map_base == 0 {
            // Units count from the first region's start, not from absolute
            // 16 KiB boundaries: where ASLR puts the heap then changes
            // nothing about where runs go, and a run is repeatable.
            self.map_base = start;
        }
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
            // SAFETY: the map says `run` is a live run.
            unsafe {
                let c = self.used_slot(run, ptr)?;
                let top_free = self.slab_free(run, ptr, c);
                return Ok(Freed { usable: CLASSES[c], top_free });
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe {
            let block = self.tagged_block(ptr, region)?;
            let usable = block.size() - HEADER;
            Ok(Freed { usable, top_free: self.tags.release(block) })
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        if let Some(run) = self.run_of(ptr.as_ptr() as usize) {
            // SAFETY: the map says `run` is a live run.
            return unsafe { self.used_slot(run, ptr).map(|c| CLASSES[c]) };
        }
        // SAFETY: forwarded from the caller.
        unsafe { Ok(self.tagged_block(ptr, region)?.size() - HEADER) }
    }

    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        new_size: usize,
    ) -> Result<Option<usize>, Misuse> {
        if let Some(run) = self.run_of(ptr.as_ptr() as usize) {
            // SAFETY: the map says `run` is a live run.
            let c = unsafe { self.used_slot(run, ptr)? };
            return Ok((new_size <= CLASSES[c]).then_some(CLASSES[c]));
        }
        // SAFETY: forwarded from the caller.
        unsafe {
            let block = self.tagged_block(ptr, region)?;
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

    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize, page: usize) -> usize {
        // SAFETY: forwarded from the caller.
        let released = unsafe { tag_trim(&mut self.tags, last, threshold, keep, page) };
        self.top_end = last.end - released;
        released
    }

    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        self.tags.walk(regions, &mut |block| {
            // SAFETY: walk visits blocks inside the regions.
            let (used, special) = unsafe { (block.is_used(), block.is_special()) };
            if special {
                // SAFETY: a SPECIAL block is a run.
                SlabTlsf::walk_run(
                    unsafe { NonNull::new_unchecked((block.addr() - RUN_TAG + RUN_META) as *mut Run) },
                    visit,
                );
            } else if used {
                visit(used_block_info(block));
            } else {
                visit(free_block_info(block));
            }
        })
    }

    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError> {
        let mut runs = 0;
        let totals = self.tags.check(regions, &mut |block, totals| {
            // SAFETY: check passes used blocks inside the regions.
            if unsafe { block.is_special() } {
                self.check_run(block)?;
                runs += 1;
                // SAFETY: a checked run.
                SlabTlsf::walk_run(
                    unsafe { NonNull::new_unchecked((block.addr() - RUN_TAG + RUN_META) as *mut Run) },
                    &mut |b| totals.count(&b),
                );
            } else {
                totals.count(&used_block_info(block));
            }
            Ok(())
        })?;
        let marked: usize = self.map.iter().map(|w| w.count_ones() as usize).sum();
        ensure(marked == runs, "run map marks differ from runs found", 0, marked, runs)?;
        for (c, list) in self.classes.iter().enumerate() {
            list.check(runs + 1)?;
            if let Some(spare) = self.spare[c] {
                // SAFETY: the spare is a live run.
                let live = unsafe { spare.as_ref().live };
                ensure(
                    live == 0 && list.len() == 1,
                    "a spare run that is not the class's only free run",
                    spare.as_ptr() as usize,
                    list.len(),
                    1,
                )?;
            }
            for run in list.iter() {
                // SAFETY: listed runs are live.
                let r = unsafe { run.as_ref() };
                ensure(
                    r.class_index as usize == c,
                    "run on another class's list",
                    run.as_ptr() as usize,
                    r.class_index as usize,
                    c,
                )?;
                // SAFETY: as above.
                let full = unsafe { run_is_full(r) };
                ensure(!full, "full run on its class's list", run.as_ptr() as usize, 1, 0)?;
            }
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_small_sizes_without_waste_at_8_byte_alignment() {
        assert_eq!(RUN_HEADER, 48);
        for size in 0..=SLAB_MAX {
            let c = class_for(size, 8).unwrap();
            let class = CLASSES[c];
            assert!(class >= size.max(1), "size {size} in class {class}");
            if size > 16 {
                assert!(
                    class - size < if size <= 64 { 8 } else { 16 },
                    "size {size} wastes {}",
                    class - size
                );
            }
            let c16 = class_for(size, 16).unwrap();
            assert_eq!(CLASSES[c16] % 16, 0, "16-aligned requests get 16-multiple slots");
            assert!(CLASSES[c16] >= size);
        }
        assert_eq!(CLASSES[class_for(20, 8).unwrap()], 24);
        assert_eq!(CLASSES[class_for(24, 8).unwrap()], 24);
        assert_eq!(CLASSES[class_for(32, 8).unwrap()], 32);
        assert_eq!(class_for(SLAB_MAX + 1, 8), None);
        assert_eq!(class_for(16, 32), None);
    }
}
