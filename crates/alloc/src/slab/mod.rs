//! Slabs: headerless slots of a few small size classes, in 16 KiB runs.
//!
//! `tfree` is not told a block's size, so the size has to live somewhere.
//! A boundary tag keeps it in a 4-byte header in front of every block (and
//! rounds the block to 8 bytes); for the 20-to-32-byte blocks of the
//! experiment that is a sixth to a third of the memory. Here small blocks
//! keep it once per *run* instead: a run holds slots of one class, and the
//! run's header, found from any slot's address through the [`RunMap`],
//! names the class.
//!
//! - [`run`]: one run's layout and its slots.
//! - [`run_map`]: which units of the heap's grid are runs.
//! - This module: the classes, and each class's runs with free slots.
//!
//! Classes: 16, 24 and 32 bytes, where a header costs the most. 20- and
//! 24-byte requests share 24-byte slots: nothing is lost that 8-byte
//! alignment does not force. Requests needing 16-byte alignment use the 16
//! and 32 classes. More classes were measured and dropped: each leaves a
//! partly filled run when memory runs out, which cost more than the
//! headers they saved (README, "Targets").
//!
//! A class keeps its runs that have free slots on a list, the run with the
//! latest free first, so holes fill before fresh slots are touched. A run
//! that empties goes back to the heap it came from (where it can
//! coalesce), unless it is the class's only run with free slots: then it
//! is kept as the class's spare, until another run has a free slot again.
//! (Keeping "the last run" instead kept the newest run, at the top of the
//! heap, and the heap could never be trimmed.)

pub(crate) mod run;
pub(crate) mod run_map;

use core::ptr::NonNull;

use crate::error::{HeapError, ensure};
use crate::list::List;
pub(crate) use run::{RUN, RUN_HEADER, RUN_META, RUN_TAG, Run, SLOT_KEY};
pub(crate) use run_map::RunMap;

/// The slot sizes.
pub(crate) const CLASSES: [usize; 3] = [16, 24, 32];
/// The largest size served from a run.
pub(crate) const SLAB_MAX: usize = 32;
/// Class index by `(size + 7) / 8` for sizes up to SLAB_MAX.
const CLASS_OF_EIGHTHS: [u8; SLAB_MAX / 8 + 1] = [0, 0, 0, 1, 2];

/// The class index serving `size` bytes at `align`, if a run can.
#[inline]
pub(crate) fn class_for(size: usize, align: usize) -> Option<usize> {
    if size > SLAB_MAX || align > 16 {
        return None;
    }
    let size = if align == 16 { (size + 15) & !15 } else { size };
    Some(CLASS_OF_EIGHTHS[size.div_ceil(8)] as usize)
}

/// Runs that emptied on a free and must go back to the heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Emptied {
    /// The class's spare, released because another run has a free slot again.
    pub(crate) spare: Option<NonNull<Run>>,
    /// The run the slot went back to.
    pub(crate) run: Option<NonNull<Run>>,
}

/// Each class's runs with free slots, and its spare.
pub(crate) struct Slabs {
    /// Per class: runs with at least one free slot.
    classes: [List<Run>; CLASSES.len()],
    /// Per class: an empty run kept for the next allocation, while it is the
    /// class's only run with free slots.
    spare: [Option<NonNull<Run>>; CLASSES.len()],
}

impl Default for Slabs {
    fn default() -> Self {
        Slabs::new()
    }
}

impl Slabs {
    pub(crate) const fn new() -> Slabs {
        Slabs { classes: [const { List::new() }; CLASSES.len()], spare: [None; CLASSES.len()] }
    }

    /// A slot of class `c`, if a run of the class has one.
    #[inline]
    pub(crate) fn alloc(&mut self, c: usize) -> Option<NonNull<u8>> {
        let run = self.classes[c].front()?;
        // SAFETY: listed runs are live and have a free slot.
        unsafe {
            if run.as_ref().live() == 0 {
                self.spare[c] = None;
            }
            let slot = Run::take_slot(run);
            if run.as_ref().is_full() {
                self.classes[c].remove(run);
            }
            Some(slot)
        }
    }

    /// Takes a fresh run of class `c` onto the class's list.
    ///
    /// # Safety
    ///
    /// `run` must be a live, empty run of class `c`, on no list.
    pub(crate) unsafe fn adopt(&mut self, c: usize, run: NonNull<Run>) {
        // SAFETY: per the caller.
        unsafe { self.classes[c].push_front(run) }
    }

    /// Returns a slot to its run. Runs that emptied leave their lists, and
    /// the caller gives them back to the heap.
    ///
    /// # Safety
    ///
    /// `ptr` must be a used slot of `run`, of class `c` (see [`Run::used_slot`]).
    #[inline]
    pub(crate) unsafe fn free(&mut self, run: NonNull<Run>, ptr: NonNull<u8>, c: usize) -> Emptied {
        let mut emptied = Emptied::default();
        // SAFETY: per the caller.
        unsafe {
            let was_full = run.as_ref().is_full();
            Run::put_slot(run, ptr);
            if was_full {
                self.classes[c].push_front(run);
                // A run with free slots again: a kept empty run is now spare.
                if let Some(spare) = self.spare[c].take() {
                    self.classes[c].remove(spare);
                    emptied.spare = Some(spare);
                }
            }
            if run.as_ref().live() == 0 {
                if self.classes[c].len() > 1 {
                    self.classes[c].remove(run);
                    emptied.run = Some(run);
                } else {
                    self.spare[c] = Some(run);
                }
            }
        }
        emptied
    }

    /// Checks the lists and spares against `runs`, the number of runs in
    /// the heap.
    pub(crate) fn check(&self, runs: usize) -> Result<(), HeapError> {
        for (c, list) in self.classes.iter().enumerate() {
            list.check(runs + 1)?;
            if let Some(spare) = self.spare[c] {
                // SAFETY: the spare is a live run.
                let live = unsafe { spare.as_ref().live() };
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
                    r.class_index() == c,
                    "run on another class's list",
                    run.as_ptr() as usize,
                    r.class_index(),
                    c,
                )?;
                ensure(!r.is_full(), "full run on its class's list", run.as_ptr() as usize, 1, 0)?;
            }
        }
        Ok(())
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
