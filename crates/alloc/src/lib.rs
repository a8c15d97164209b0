//! tmalloc, the allocator: `malloc` from scratch, with eight policies, over
//! the program break, `mmap`, or an arena the caller hands over. `no_std`;
//! it depends only on the kernel boundary (`tmalloc-sys`) and a lock
//! (`tmalloc-sync`).
//!
//! ```text
//!   tmalloc / tfree / …        the process-wide heap, Rust and C (global/)
//!          │
//!   Tmalloc<S: Source>         front end: size threshold, misuse, counters (front.rs)
//!     ├── LargeBlocks          ≥ 128 KiB: one mapping per block (large.rs)
//!     └── Heap<S>              the heap manager: growth, trim (heap.rs)
//!           ├── AnyPolicy      one of the policies (policy/)
//!           │     ├── tags/    the boundary-tag block format and heap
//!           │     ├── index/   free indexes: fit lists, segregated bins, TLSF
//!           │     └── slab/    slab runs for small sizes (slab-tlsf)
//!           ├── Regions        the address ranges the heap owns (region.rs)
//!           └── S: Source      brk, mmap chunks or an arena (source.rs),
//!                              the only way to the kernel
//! ```
//!
//! ```
//! use tmalloc_alloc::{Tmalloc, Brk, PolicyKind};
//!
//! let mut heap = Tmalloc::new(PolicyKind::SlabTlsf, Brk::new());
//! # let _ = heap.check();
//! ```
//!
//! Layouts and invariants are drawn in each module's documentation;
//! `INTERNALS.md` gathers them.

#![no_std]

#[cfg(test)]
extern crate std;

mod error;
mod front;
pub mod global;
mod heap;
mod index;
mod large;
pub mod layout;
pub mod list;
mod pagemap;
pub mod pattern;
mod policy;
mod region;
mod report;
mod slab;
mod source;
mod tags;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{BlockInfo, BlockState, HeapError, Misuse, Totals};
pub use front::{MMAP_THRESHOLD, Stats, Tmalloc};
pub use heap::{GROW_STEP, TOP_PAD, growth_ladder};
pub use large::{SPARE_BYTES, SPARES};
pub use pagemap::overhead as page_map_overhead;
pub use policy::PolicyKind;
pub use region::Region;
pub use report::misuse;
pub use source::{Arena, Brk, HeapSource, MmapHeap, PAGE, RESERVATION, Source, SourceCounters, align_up};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
