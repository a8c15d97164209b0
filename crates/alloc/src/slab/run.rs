//! One slab run: a 16 KiB used block of the tag heap, marked `SPECIAL`,
//! holding headerless slots of one size class.
//!
//! ```text
//!   a unit of the heap's 16 KiB grid: the run, a used tag block marked SPECIAL
//!   ┌────┬─────┬──────────────────────────────────┬───────┬───────┬───────┬────
//!   │ 4  │ tag │ class link | free | magic, class │ slot  │ slot  │ slot  │ …
//!   │    │ 4 B │ bump, live                 40 B  │ used  │ free ─┼─► …   │
//!   └────┴─────┴──────────────────────────────────┴───────┴───────┴───────┴────
//!     0    4     8                                  48 (first slot)
//!     (the unit's first 4 bytes are the end of the block before it)
//!     free slot: [ next free slot | key = KEY ^ address ]   used slot: the caller's bytes only
//! ```
//!
//! - Slots below the bump mark have been handed out at least once; the free
//!   ones among them form a list through their first word. Slots above it
//!   are fresh.
//! - A free slot holds a key derived from its address. Freeing a slot that
//!   carries the key triggers a scan of its run's free list: a double free
//!   is caught exactly, and user data that mimics the key costs one scan,
//!   never a false abort.

use core::ptr::NonNull;

use crate::error::{BlockInfo, BlockState, HeapError, Misuse, ensure};
use crate::list::{Link, Linked};
use crate::tags::{Block, MIN_BLOCK};

/// Bytes per run; runs start on multiples of it from the grid's base.
pub(crate) const RUN: usize = 16 * 1024;
/// Where in its unit a run's tag header is: tag blocks start 4 bytes
/// before an 8-byte boundary.
pub(crate) const RUN_TAG: usize = 4;
/// Where in its unit a run's bookkeeping ([`Run`]) is.
pub(crate) const RUN_META: usize = 8;
/// Bytes of run header in front of the first slot.
pub(crate) const RUN_HEADER: usize = RUN_META + core::mem::size_of::<Run>();

/// A run's magic, mixed with its unit number (address >> 14).
pub(crate) const RUN_MAGIC: u32 = 0x51AB_51AB;
/// What a free slot's second word holds, mixed with the slot's address.
pub(crate) const SLOT_KEY: usize = 0x7A11_0C5E_ED5E_ED00;

/// A run's bookkeeping, [`RUN_META`] bytes into its unit: to the tag heap
/// the run is an ordinary used block whose header sits at [`RUN_TAG`].
#[repr(C)]
pub(crate) struct Run {
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
pub(crate) fn unit_base(run: NonNull<Run>) -> usize {
    run.as_ptr() as usize - RUN_META
}

/// The run whose unit starts at `base`.
///
/// # Safety
///
/// A live run must start at `base`.
#[inline]
pub(crate) unsafe fn run_at(base: usize) -> NonNull<Run> {
    // SAFETY: heap addresses are never null.
    unsafe { NonNull::new_unchecked((base + RUN_META) as *mut Run) }
}

/// The run a `SPECIAL` tag block is.
///
/// # Safety
///
/// `block` must be a run's tag block.
#[inline]
pub(crate) unsafe fn run_of_block(block: Block) -> NonNull<Run> {
    // SAFETY: per the caller.
    unsafe { run_at(block.addr() - RUN_TAG) }
}

fn run_magic(base: usize) -> u32 {
    RUN_MAGIC ^ (base >> 14) as u32
}

impl Run {
    /// Writes the bookkeeping of a fresh run of `class` (index `c`) at the
    /// unit starting at `base`, leaving its tag header as carved.
    ///
    /// # Safety
    ///
    /// `[base + RUN_META, base + RUN)` must be a used tag block's payload
    /// the caller owns.
    pub(crate) unsafe fn init(base: usize, class: usize, c: usize) -> NonNull<Run> {
        // SAFETY: per the caller.
        unsafe {
            let run = run_at(base);
            run.as_ptr().write(Run {
                link: Link::new(),
                free: 0,
                magic: run_magic(base),
                class: class as u16,
                class_index: c as u8,
                _pad: 0,
                bump: RUN_HEADER as u32,
                live: 0,
            });
            run
        }
    }

    pub(crate) fn class_index(&self) -> usize {
        self.class_index as usize
    }

    pub(crate) fn live(&self) -> usize {
        self.live as usize
    }

    /// Whether the run has no slot to give.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.free == 0 && self.bump as usize + self.class as usize > RUN
    }

    /// Hands out a slot: the latest freed, else the next fresh one.
    ///
    /// # Safety
    ///
    /// The run must be live and not full.
    #[inline]
    pub(crate) unsafe fn take_slot(run: NonNull<Run>) -> NonNull<u8> {
        // SAFETY: per the caller: a live run's free slots hold the next free
        // slot, and the slot at the bump mark lies inside the run.
        unsafe {
            let r = run.as_ptr();
            let slot = if (*r).free != 0 {
                let slot = (*r).free;
                (*r).free = *(slot as *const usize);
                slot
            } else {
                let slot = unit_base(run) + (*r).bump as usize;
                (*r).bump += (*r).class as u32;
                slot
            };
            (*r).live += 1;
            // The key word becomes the caller's: clear it, so a later free
            // does not mistake it for a freed slot's.
            ((slot + 8) as *mut usize).write(0);
            NonNull::new_unchecked(slot as *mut u8)
        }
    }

    /// Takes a slot back: onto the free list, keyed.
    ///
    /// # Safety
    ///
    /// `slot` must be a used slot of the live run `run` (see [`Run::used_slot`]).
    #[inline]
    pub(crate) unsafe fn put_slot(run: NonNull<Run>, slot: NonNull<u8>) {
        let addr = slot.as_ptr() as usize;
        // SAFETY: per the caller; the slot's first two words are ours again.
        unsafe {
            let r = run.as_ptr();
            (addr as *mut usize).write((*r).free);
            ((addr + 8) as *mut usize).write(SLOT_KEY ^ addr);
            (*r).free = addr;
            (*r).live -= 1;
        }
    }

    /// Validates `ptr` as a used slot of `run`; returns its class index.
    ///
    /// # Safety
    ///
    /// `run` must be a live run.
    pub(crate) unsafe fn used_slot(run: NonNull<Run>, ptr: NonNull<u8>) -> Result<usize, Misuse> {
        let addr = ptr.as_ptr() as usize;
        if !addr.is_multiple_of(8) {
            return Err(Misuse::Misaligned);
        }
        // SAFETY: per the caller.
        let r = unsafe { run.as_ref() };
        let c = r.class_index as usize;
        let base = unit_base(run);
        if r.magic != run_magic(base) || c >= super::CLASSES.len() {
            return Err(Misuse::Corrupted);
        }
        let offset = addr - base;
        if offset < RUN_HEADER
            || !(offset - RUN_HEADER).is_multiple_of(super::CLASSES[c])
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

    /// Reports the run's header and slots as blocks, in address order.
    ///
    /// # Safety
    ///
    /// `run` must be a live run whose tag block is `block`.
    pub(crate) unsafe fn walk(run: NonNull<Run>, block: Block, visit: &mut dyn FnMut(BlockInfo)) {
        // SAFETY: per the caller.
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
        let end = base + RUN_TAG + block.size();
        let fresh = base + r.bump as usize;
        if fresh < end {
            visit(BlockInfo { addr: fresh, size: end - fresh, usable: 0, state: BlockState::Free });
        }
    }

    /// Checks one run's own invariants: size, magic, class, bump mark, free
    /// list and counts. Returns the run.
    pub(crate) fn check(block: Block) -> Result<NonNull<Run>, HeapError> {
        let base = block.addr() - RUN_TAG;
        let size = block.size();
        ensure((RUN..RUN + MIN_BLOCK).contains(&size), "run of the wrong size", base, size, RUN)?;
        // SAFETY: a SPECIAL block of this size is a run's (read only, checked next).
        let run = unsafe { run_of_block(block) };
        // SAFETY: the run's header lies inside its block.
        let r = unsafe { run.as_ref() };
        ensure(
            r.magic == run_magic(base),
            "run magic overwritten",
            base,
            r.magic as usize,
            run_magic(base) as usize,
        )?;
        let c = r.class_index as usize;
        let classes = &super::CLASSES;
        ensure(
            c < classes.len() && classes[c] == r.class as usize,
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
        )?;
        Ok(run)
    }
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
