//! Free indexes: where a boundary-tag policy keeps its free blocks, and
//! which one an allocation gets. Each implements
//! [`FreeIndex`](crate::tags::FreeIndex) for [`TagHeap`](crate::tags::TagHeap).
//!
//! - [`fit`]: one LIFO list searched by a rule (first, next, best, worst).
//! - [`segregated`]: exact-size bins, then log-spaced bins, best fit in a bin.
//! - [`tlsf`]: two-level segregated fit, O(1).
//! - [`bins`]: the array of lists with a two-level bitmap that the last
//!   two share.

pub(crate) mod bins;
pub(crate) mod fit;
pub(crate) mod segregated;
pub(crate) mod tlsf;

pub(crate) use fit::{FitHeap, FreeList, Rule};
pub(crate) use segregated::{SegregatedBins, SegregatedHeap};
pub(crate) use tlsf::{Tlsf, TlsfHeap};
