//! Replaying a recorded trace ([`crate::trace`]): every operation, in order,
//! through one allocator.
//!
//! Two modes, for two different questions:
//!
//! - **timed**: nothing but the allocator's own calls, so the time per
//!   operation is the allocator's;
//! - **checked**: each block is filled with a pattern derived from its
//!   identity and checked when it is freed or resized, and the heap's
//!   footprint is sampled after every operation that can grow it.
//!
//! Every request is replayed as `malloc` would serve it: aligned to 16
//! bytes, or to what the trace asked for if more.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use tmalloc_alloc::pattern;

use super::Allocator;
use crate::trace::{Op, OpKind};

/// The alignment `malloc` guarantees on x86_64.
pub use tmalloc_alloc::global::MALLOC_ALIGN;

/// A block live in the replay, indexed by [`Op::slot`].
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    ptr: *mut u8,
    layout: Layout,
    /// What the block's pattern derives from: the index of the operation
    /// that allocated it, unique to the block.
    seed: u64,
}

impl Slot {
    pub const EMPTY: Slot = Slot { ptr: ptr::null_mut(), layout: Layout::new::<u8>(), seed: 0 };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Timed,
    Checked,
}

/// Why a replay stopped before the end of the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The allocator returned NULL at this operation (0-based).
    OutOfMemory { op: u64 },
    /// A block's contents had changed when this operation freed or resized it.
    ContentsChanged { op: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Operations completed.
    pub ops: u64,
    /// The largest footprint sampled (checked mode; 0 when timed).
    pub peak_footprint: u64,
    pub failure: Option<Failure>,
}

/// Replays `ops` through `alloc`. `slots` holds at least the trace's slot
/// count, all [`Slot::EMPTY`]; `footprint` reads the bytes the allocator
/// holds from the kernel.
///
/// Blocks still live at the end stay allocated: the caller's process ends
/// soon after, as the traced program's did.
pub fn replay<A: Allocator + ?Sized>(
    alloc: &mut A,
    ops: &[Op],
    slots: &mut [Slot],
    mode: Mode,
    footprint: impl Fn(&A) -> u64,
) -> Outcome {
    let checked = mode == Mode::Checked;
    let mut peak_footprint = 0;
    for (i, op) in ops.iter().enumerate() {
        let index = i as u64;
        let slot = &mut slots[op.slot as usize];
        let stop = |failure| Outcome { ops: index, peak_footprint, failure: Some(failure) };
        let Ok(size) = usize::try_from(op.size) else { return stop(Failure::OutOfMemory { op: index }) };
        match op.kind {
            OpKind::Alloc => {
                let align = MALLOC_ALIGN.max(1 << op.align_log2);
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    return stop(Failure::OutOfMemory { op: index });
                };
                let Some(p) = alloc.alloc(layout) else { return stop(Failure::OutOfMemory { op: index }) };
                *slot = Slot { ptr: p.as_ptr(), layout, seed: index };
                if checked {
                    // SAFETY: the block was just allocated with `layout`.
                    unsafe { fill(slot, 0) };
                }
            }
            OpKind::Free => {
                // SAFETY: the slot holds a live block of this allocator (the
                // trace decoder only frees live slots).
                if checked && !unsafe { intact(slot, slot.layout.size()) } {
                    return stop(Failure::ContentsChanged { op: index });
                }
                // SAFETY: as above; the slot is emptied with it.
                unsafe { alloc.free(NonNull::new_unchecked(slot.ptr), slot.layout) };
                *slot = Slot::EMPTY;
            }
            OpKind::Realloc => {
                let old = slot.layout;
                // SAFETY: the slot holds a live block of this allocator.
                if checked && !unsafe { intact(slot, old.size()) } {
                    return stop(Failure::ContentsChanged { op: index });
                }
                let Ok(layout) = Layout::from_size_align(size, old.align()) else {
                    return stop(Failure::OutOfMemory { op: index });
                };
                // SAFETY: as above, with the layout it was allocated with.
                let Some(p) = (unsafe { alloc.realloc(NonNull::new_unchecked(slot.ptr), old, size) }) else {
                    return stop(Failure::OutOfMemory { op: index });
                };
                slot.ptr = p.as_ptr();
                slot.layout = layout;
                // SAFETY: the resized block holds `size` bytes, the first
                // `min(old, size)` of them carried over by the allocator.
                if checked && !unsafe { intact(slot, old.size().min(size)) } {
                    return stop(Failure::ContentsChanged { op: index });
                }
                if checked && size > old.size() {
                    // SAFETY: as above.
                    unsafe { fill(slot, old.size()) };
                }
            }
        }
        if checked && op.kind != OpKind::Free {
            peak_footprint = peak_footprint.max(footprint(alloc));
        }
    }
    Outcome { ops: ops.len() as u64, peak_footprint, failure: None }
}

/// Frees every block a replay left live, and empties the slots.
pub fn drain<A: Allocator + ?Sized>(alloc: &mut A, slots: &mut [Slot]) {
    for slot in slots.iter_mut().filter(|s| !s.ptr.is_null()) {
        // SAFETY: a non-empty slot holds a live block of this allocator.
        unsafe { alloc.free(NonNull::new_unchecked(slot.ptr), slot.layout) };
        *slot = Slot::EMPTY;
    }
}

/// Writes the pattern into bytes `from..` of the slot's block.
///
/// # Safety
///
/// The slot holds a live block of `slot.layout.size()` bytes.
unsafe fn fill(slot: &Slot, from: usize) {
    // SAFETY: per the caller.
    unsafe { pattern::fill(NonNull::new_unchecked(slot.ptr), from, slot.layout.size(), slot.seed) }
}

/// Whether the first `len` bytes of the slot's block still hold its pattern.
///
/// # Safety
///
/// The slot holds a live block of at least `len` bytes.
unsafe fn intact(slot: &Slot, len: usize) -> bool {
    // SAFETY: per the caller.
    unsafe { pattern::intact(NonNull::new_unchecked(slot.ptr), len, slot.seed) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmalloc_alloc::testing::TestMemory;
    use tmalloc_alloc::{Arena, PolicyKind, Tmalloc};

    fn arena_heap(len: usize) -> (Tmalloc<Arena>, TestMemory) {
        let memory = TestMemory::new(len);
        (Tmalloc::new(PolicyKind::DEFAULT, memory.arena()), memory)
    }

    fn op(kind: OpKind, slot: u32, size: u64, align_log2: u8) -> Op {
        Op { size, slot, kind, align_log2 }
    }

    #[test]
    fn replays_allocs_reallocs_and_frees_keeping_contents() {
        let (mut heap, _memory) = arena_heap(1 << 20);
        let ops = [
            op(OpKind::Alloc, 0, 100, 0),
            op(OpKind::Alloc, 1, 24, 7),
            op(OpKind::Realloc, 0, 5000, 0),
            op(OpKind::Realloc, 1, 3, 0),
            op(OpKind::Free, 0, 0, 0),
            op(OpKind::Alloc, 0, 0, 0),
        ];
        let mut slots = [Slot::EMPTY; 2];
        let out = replay(&mut heap, &ops, &mut slots, Mode::Checked, |h| {
            tmalloc_alloc::Source::counters(h.source()).total_bytes() as u64
        });
        assert_eq!(out, Outcome { ops: 6, peak_footprint: out.peak_footprint, failure: None });
        assert!(out.peak_footprint >= 5000);
        assert_eq!(slots[1].ptr as usize % 128, 0, "the trace's alignment is kept through realloc");
        assert_eq!(heap.check().unwrap().used_blocks, 2);
    }

    #[test]
    fn a_changed_byte_and_a_refusal_stop_the_replay() {
        let (mut heap, _memory) = arena_heap(1 << 20);
        let mut slots = [Slot::EMPTY; 1];
        let alloc = [op(OpKind::Alloc, 0, 40, 0)];
        replay(&mut heap, &alloc, &mut slots, Mode::Checked, |_| 0);
        // SAFETY: byte 39 is inside the 40-byte block.
        unsafe { *slots[0].ptr.add(39) ^= 1 };
        let free = [op(OpKind::Free, 0, 0, 0)];
        let out = replay(&mut heap, &free, &mut slots, Mode::Checked, |_| 0);
        assert_eq!(out.failure, Some(Failure::ContentsChanged { op: 0 }));
        let huge = [op(OpKind::Alloc, 0, 1 << 40, 0), op(OpKind::Free, 0, 0, 0)];
        let out = replay(&mut heap, &huge, &mut [Slot::EMPTY], Mode::Timed, |_| 0);
        assert_eq!(out, Outcome { ops: 0, peak_footprint: 0, failure: Some(Failure::OutOfMemory { op: 0 }) });
    }
}
