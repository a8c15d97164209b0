//! The block formats as numbers, for debuggers: gdb's `tmalloc` commands
//! read [`TMALLOC_LAYOUT`] from the debug binary (which keeps it with a
//! `#[used]` reference) instead of declaring the constants again.
//! Field names are what `gdb/tmalloc.py` looks up; the values come from
//! the modules that define each format.

use crate::policy::buddy;
use crate::{large, slab, tags};

/// Every constant gdb needs to read a heap.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Boundary tags ([`crate::tags`]).
    pub tag_header: u64,
    pub tag_first_block: u64,
    pub tag_min_block: u64,
    pub tag_used: u64,
    pub tag_prev_used: u64,
    pub tag_special: u64,
    /// Buddy headers ([`crate::policy::buddy`]).
    pub buddy_magic: u64,
    pub buddy_used: u64,
    pub buddy_free: u64,
    pub buddy_min_order: u64,
    pub buddy_max_order: u64,
    /// Slab runs ([`crate::slab`]).
    pub run: u64,
    pub run_tag: u64,
    pub run_meta: u64,
    pub run_header: u64,
    pub run_magic: u64,
    pub slot_key: u64,
    pub classes: [u64; slab::CLASSES.len()],
    /// Large blocks ([`crate::large`]).
    pub large_header: u64,
}

pub const LAYOUT: Layout = Layout {
    tag_header: tags::HEADER as u64,
    tag_first_block: tags::FIRST_BLOCK as u64,
    tag_min_block: tags::MIN_BLOCK as u64,
    tag_used: tags::USED as u64,
    tag_prev_used: tags::PREV_USED as u64,
    tag_special: tags::SPECIAL as u64,
    buddy_magic: buddy::MAGIC,
    buddy_used: buddy::USED,
    buddy_free: buddy::FREE,
    buddy_min_order: buddy::MIN_ORDER as u64,
    buddy_max_order: buddy::MAX_ORDER as u64,
    run: slab::RUN as u64,
    run_tag: slab::RUN_TAG as u64,
    run_meta: slab::RUN_META as u64,
    run_header: slab::RUN_HEADER as u64,
    run_magic: slab::run::RUN_MAGIC as u64,
    slot_key: slab::SLOT_KEY as u64,
    classes: {
        let mut classes = [0; slab::CLASSES.len()];
        let mut i = 0;
        while i < classes.len() {
            classes[i] = slab::CLASSES[i] as u64;
            i += 1;
        }
        classes
    },
    large_header: large::HEADER as u64,
};

/// [`LAYOUT`] under a name gdb finds. Nothing in the program reads it, so
/// a binary keeps it only if it asks to (the release binary does not).
#[unsafe(no_mangle)]
pub static TMALLOC_LAYOUT: Layout = LAYOUT;
