//! The allocation policies, all behind [`Policy`].
//!
//! | name         | free blocks kept in                                      | search                   | where |
//! |--------------|----------------------------------------------------------|--------------------------|-------|
//! | `first-fit`  | one LIFO list                                            | first that fits          | [`index::fit`](crate::index::fit) |
//! | `next-fit`   | one LIFO list                                            | first after the last hit | [`index::fit`](crate::index::fit) |
//! | `best-fit`   | one LIFO list                                            | smallest that fits       | [`index::fit`](crate::index::fit) |
//! | `worst-fit`  | one LIFO list                                            | largest                  | [`index::fit`](crate::index::fit) |
//! | `segregated` | exact-size bins, then log-spaced bins                    | best fit in bin          | [`index::segregated`](crate::index::segregated) |
//! | `tlsf`       | two-level segregated lists + bitmaps                     | good fit, O(1)           | [`index::tlsf`](crate::index::tlsf) |
//! | `buddy`      | one list per power of two                                | split and merge          | [`buddy`] |
//! | `slab-tlsf`  | headerless slab runs for small sizes, TLSF for the rest  | O(1)                     | [`slab_tlsf`] |
//!
//! All but `buddy` share the boundary-tag block format of
//! [`tags`](crate::tags); they differ only in their free index, and
//! `Policy` is implemented once for all of them on
//! [`TagHeap`](crate::tags::TagHeap) ([`tagged`]). The four fits are one
//! index keyed by their [`Rule`], so [`AnyPolicy`] has one variant for them.
//! `slab-tlsf` is the default.

pub(crate) mod buddy;
pub(crate) mod slab_tlsf;
pub(crate) mod tagged;

use core::fmt;
use core::ptr::NonNull;

use crate::error::{BlockInfo, HeapError, Misuse, Totals};
use crate::index::{FitHeap, FreeList, Rule, SegregatedBins, SegregatedHeap, Tlsf, TlsfHeap};
use crate::pagemap::Owner;
use crate::region::Region;
use crate::tags::TagHeap;

/// What every policy does.
///
/// The heap manager ([`Heap`](crate::Heap)) owns the memory source and the
/// region list; it hands the policy fresh memory, routes each
/// pointer to it together with the region it lies in, and asks for memory
/// again when the policy cannot serve a request.
pub(crate) trait Policy {
    /// Takes fresh heap memory `[start, start + len)`, which is the end of
    /// `region` (the region after adding it): when `region.start < start`,
    /// the memory extends an existing region. Its pages are `owner`'s in
    /// the page map.
    ///
    /// # Safety
    ///
    /// The memory must be fresh, owned by the heap, page-aligned and a
    /// multiple of the page size long.
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize, owner: Owner);

    /// A block for `size` bytes at `align` (a power of two): its address and
    /// usable size, or `None` when the policy's memory cannot serve it.
    fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)>;

    /// The last resort once the heap cannot grow: serve the request from
    /// whatever memory is left, however poorly. Most policies have nothing
    /// better to offer than [`alloc`](Self::alloc).
    fn alloc_fallback(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        self.alloc(size, align)
    }

    /// Frees the block at `ptr`, which lies in `region`. Cheap checks catch
    /// invalid, misaligned and double frees.
    ///
    /// # Safety
    ///
    /// `region` must be the heap region containing `ptr`.
    unsafe fn free(&mut self, ptr: NonNull<u8>, region: Region) -> Result<Freed, Misuse>;

    /// The usable size of the block at `ptr`.
    ///
    /// # Safety
    ///
    /// As [`free`](Self::free).
    unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse>;

    /// Grows or shrinks the block at `ptr` where it stands; `Ok(None)` when
    /// it cannot.
    ///
    /// # Safety
    ///
    /// As [`free`](Self::free).
    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        new_size: usize,
    ) -> Result<Option<usize>, Misuse>;

    /// How many bytes of fresh memory make a retried `alloc(size, align)`
    /// succeed as well as `want` says: assuming they extend region `last`,
    /// or (for [`Growth::OwnRegion`]) form a region of their own.
    fn growth_hint(&self, size: usize, align: usize, last: Option<Region>, want: Growth) -> Option<usize>;

    /// When the free memory at the end of region `last` reaches
    /// `threshold` bytes, releases all of it but `keep` bytes, in whole
    /// pages; returns the bytes released, which the caller
    /// gives back to the source. Cheap when there is nothing to release:
    /// the front end asks after every free.
    ///
    /// # Safety
    ///
    /// `last` must be the heap's last region.
    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize) -> usize;

    /// Every block in address order, region by region.
    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError>;

    /// Verifies every invariant of the policy and returns what it counted.
    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError>;
}

/// What a free did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Freed {
    /// The usable size of the block freed.
    pub(crate) usable: usize,
    /// The size of the free block at the end of the region, if the free
    /// made or grew it; 0 otherwise. The front end trims only when this
    /// passes its threshold, so most frees cost no trimming check at all.
    pub(crate) top_free: usize,
}

/// How much memory a growth asks for, from the most to the least.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Growth {
    /// Enough even if the memory does not join the last region.
    OwnRegion,
    /// The least that serves the request the way the policy prefers (for
    /// slab-tlsf, room for a whole slab run).
    Preferred,
    /// The least that serves the request at all, through
    /// [`Policy::alloc_fallback`].
    Bare,
}

/// The policies by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    FirstFit,
    NextFit,
    BestFit,
    WorstFit,
    Segregated,
    Buddy,
    Tlsf,
    SlabTlsf,
}

impl PolicyKind {
    /// Every policy, in the order reports list them.
    pub const ALL: [PolicyKind; 8] = [
        PolicyKind::SlabTlsf,
        PolicyKind::Tlsf,
        PolicyKind::Segregated,
        PolicyKind::Buddy,
        PolicyKind::FirstFit,
        PolicyKind::NextFit,
        PolicyKind::BestFit,
        PolicyKind::WorstFit,
    ];

    /// The policy a first `tmalloc` call uses when nobody chose one.
    pub const DEFAULT: PolicyKind = PolicyKind::SlabTlsf;

    pub const fn name(self) -> &'static str {
        match self {
            PolicyKind::FirstFit => "first-fit",
            PolicyKind::NextFit => "next-fit",
            PolicyKind::BestFit => "best-fit",
            PolicyKind::WorstFit => "worst-fit",
            PolicyKind::Segregated => "segregated",
            PolicyKind::Buddy => "buddy",
            PolicyKind::Tlsf => "tlsf",
            PolicyKind::SlabTlsf => "slab-tlsf",
        }
    }

    /// The policy called `name`; `default` names the default policy.
    pub fn from_name(name: &[u8]) -> Option<PolicyKind> {
        if name == b"default" {
            return Some(PolicyKind::DEFAULT);
        }
        PolicyKind::ALL.into_iter().find(|k| k.name().as_bytes() == name)
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// One of the policies, chosen at run time. An enum rather than a trait
/// object: there is no heap to put a `Box` on.
#[allow(clippy::large_enum_variant, reason = "no heap to box into; an allocator holds one AnyPolicy")]
pub(crate) enum AnyPolicy {
    /// first-fit, next-fit, best-fit and worst-fit, by their rule.
    Fit(FitHeap),
    Segregated(SegregatedHeap),
    Buddy(buddy::Buddy),
    Tlsf(TlsfHeap),
    SlabTlsf(slab_tlsf::SlabTlsf),
}

macro_rules! dispatch {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            AnyPolicy::Fit($p) => $body,
            AnyPolicy::Segregated($p) => $body,
            AnyPolicy::Buddy($p) => $body,
            AnyPolicy::Tlsf($p) => $body,
            AnyPolicy::SlabTlsf($p) => $body,
        }
    };
}

impl AnyPolicy {
    pub(crate) fn new(kind: PolicyKind) -> AnyPolicy {
        match kind {
            PolicyKind::FirstFit => AnyPolicy::Fit(TagHeap::new(FreeList::new(Rule::First))),
            PolicyKind::NextFit => AnyPolicy::Fit(TagHeap::new(FreeList::new(Rule::Next))),
            PolicyKind::BestFit => AnyPolicy::Fit(TagHeap::new(FreeList::new(Rule::Best))),
            PolicyKind::WorstFit => AnyPolicy::Fit(TagHeap::new(FreeList::new(Rule::Worst))),
            PolicyKind::Segregated => AnyPolicy::Segregated(TagHeap::new(SegregatedBins::new())),
            PolicyKind::Buddy => AnyPolicy::Buddy(buddy::Buddy::new()),
            PolicyKind::Tlsf => AnyPolicy::Tlsf(TagHeap::new(Tlsf::new())),
            PolicyKind::SlabTlsf => AnyPolicy::SlabTlsf(slab_tlsf::SlabTlsf::new()),
        }
    }

    pub(crate) fn kind(&self) -> PolicyKind {
        match self {
            AnyPolicy::Fit(heap) => match heap.index.rule() {
                Rule::First => PolicyKind::FirstFit,
                Rule::Next => PolicyKind::NextFit,
                Rule::Best => PolicyKind::BestFit,
                Rule::Worst => PolicyKind::WorstFit,
            },
            AnyPolicy::Segregated(_) => PolicyKind::Segregated,
            AnyPolicy::Buddy(_) => PolicyKind::Buddy,
            AnyPolicy::Tlsf(_) => PolicyKind::Tlsf,
            AnyPolicy::SlabTlsf(_) => PolicyKind::SlabTlsf,
        }
    }
}

impl Policy for AnyPolicy {
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize, owner: Owner) {
        // SAFETY: forwarded from the caller.
        dispatch!(self, p => unsafe { Policy::add_memory(p, region, start, len, owner) })
    }

    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        dispatch!(self, p => Policy::alloc(p, size, align))
    }

    fn alloc_fallback(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        dispatch!(self, p => Policy::alloc_fallback(p, size, align))
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, region: Region) -> Result<Freed, Misuse> {
        // SAFETY: forwarded from the caller.
        dispatch!(self, p => unsafe { Policy::free(p, ptr, region) })
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        // SAFETY: forwarded from the caller.
        dispatch!(self, p => unsafe { Policy::usable_size(p, ptr, region) })
    }

    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        new_size: usize,
    ) -> Result<Option<usize>, Misuse> {
        // SAFETY: forwarded from the caller.
        dispatch!(self, p => unsafe { Policy::resize(p, ptr, region, new_size) })
    }

    fn growth_hint(&self, size: usize, align: usize, last: Option<Region>, want: Growth) -> Option<usize> {
        dispatch!(self, p => Policy::growth_hint(p, size, align, last, want))
    }

    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize) -> usize {
        // SAFETY: forwarded from the caller.
        dispatch!(self, p => unsafe { Policy::trim(p, last, threshold, keep) })
    }

    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        dispatch!(self, p => Policy::walk(p, regions, visit))
    }

    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError> {
        dispatch!(self, p => Policy::check(p, regions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in PolicyKind::ALL {
            assert_eq!(PolicyKind::from_name(kind.name().as_bytes()), Some(kind));
            assert_eq!(AnyPolicy::new(kind).kind(), kind);
        }
        assert_eq!(PolicyKind::from_name(b"default"), Some(PolicyKind::DEFAULT));
        assert_eq!(PolicyKind::from_name(b"best"), None);
    }
}
