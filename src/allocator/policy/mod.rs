//! The allocation policies, one file each, all behind [`Policy`].
//!
//! | name         | file              | free blocks kept in                        | search            |
//! |--------------|-------------------|--------------------------------------------|-------------------|
//! | `first-fit`  | `first_fit.rs`    | one LIFO list                              | first that fits   |
//! | `next-fit`   | `next_fit.rs`     | one LIFO list                              | first after the last hit |
//! | `best-fit`   | `best_fit.rs`     | one LIFO list                              | smallest that fits|
//! | `worst-fit`  | `worst_fit.rs`    | one LIFO list                              | largest           |
//! | `segregated` | `segregated.rs`   | exact-size bins, then log-spaced bins      | best fit in bin   |
//! | `buddy`      | `buddy.rs`        | one list per power of two                  | split and merge   |
//! | `tlsf`       | `tlsf.rs`         | two-level segregated lists + bitmaps       | good fit, O(1)    |
//! | `slab-tlsf`  | `slab_tlsf.rs`    | headerless slab runs for small sizes, TLSF for the rest | O(1) |
//!
//! All but `buddy` share the boundary-tag block format of [`tags`]; they
//! differ only in their [`FreeIndex`](tags::FreeIndex), and `Policy` is
//! implemented once for all of them on [`TagHeap`](tags::TagHeap).
//! `slab-tlsf` is the default.

pub mod best_fit;
pub mod bins;
pub mod buddy;
pub mod first_fit;
pub mod free_list;
pub mod next_fit;
pub mod segregated;
pub mod slab_tlsf;
pub mod tags;
pub mod tlsf;
pub mod worst_fit;

use core::fmt;
use core::ptr::NonNull;

use crate::allocator::error::{BlockInfo, HeapError, Misuse, Totals};
use crate::allocator::region::Region;
use tags::{Block, FreeIndex, HEADER, MIN_BLOCK, REGION_OVERHEAD, TagHeap, block_size_for, used_block_info};

/// What every policy does.
///
/// The front end ([`Tmalloc`](crate::allocator::Tmalloc)) owns the memory
/// source and the region list; it hands the policy fresh memory, routes each
/// pointer to it together with the region it lies in, and asks for memory
/// again when the policy cannot serve a request.
pub trait Policy {
    /// Takes fresh heap memory `[start, start + len)`, which is the end of
    /// `region` (the region after adding it): when `region.start < start`,
    /// the memory extends an existing region.
    ///
    /// # Safety
    ///
    /// The memory must be fresh, owned by the heap, page-aligned and a
    /// multiple of the page size long.
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize);

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
    /// multiples of `page`; returns the bytes released, which the caller
    /// gives back to the source. Cheap when there is nothing to release:
    /// the front end asks after every free.
    ///
    /// # Safety
    ///
    /// `last` must be the heap's last region.
    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize, page: usize) -> usize;

    /// Every block in address order, region by region.
    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError>;

    /// Verifies every invariant of the policy and returns what it counted.
    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError>;
}

/// What a free did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freed {
    /// The usable size of the block freed.
    pub usable: usize,
    /// The size of the free block at the end of the region, if the free
    /// made or grew it; 0 otherwise. The front end trims only when this
    /// passes its threshold, so most frees cost no trimming check at all.
    pub top_free: usize,
}

/// How much memory a growth asks for, from the most to the least.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Growth {
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

// Every boundary-tag policy is a TagHeap over its own free index.
impl<I: FreeIndex> Policy for TagHeap<I> {
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { TagHeap::add_memory(self, start, len, region.start < start) }
    }

    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        TagHeap::alloc(self, size, align)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, region: Region) -> Result<Freed, Misuse> {
        // SAFETY: forwarded; used_block validated the block.
        unsafe {
            let block = self.used_block(ptr, region)?;
            let usable = block.size() - HEADER;
            Ok(Freed { usable, top_free: self.release(block) })
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        // SAFETY: forwarded; used_block validated the block.
        unsafe { Ok(self.used_block(ptr, region)?.size() - HEADER) }
    }

    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        new_size: usize,
    ) -> Result<Option<usize>, Misuse> {
        // SAFETY: forwarded; used_block validated the block.
        unsafe {
            let block = self.used_block(ptr, region)?;
            Ok(TagHeap::resize(self, block, new_size))
        }
    }

    fn growth_hint(&self, size: usize, align: usize, last: Option<Region>, want: Growth) -> Option<usize> {
        tag_growth_hint(self, size, align, last, want)
    }

    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize, page: usize) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { tag_trim(self, last, threshold, keep, page) }
    }

    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        TagHeap::walk(self, regions, &mut |block| {
            // SAFETY: walk visits blocks inside the regions.
            if unsafe { block.is_used() } {
                visit(used_block_info(block));
            } else {
                visit(free_block_info(block));
            }
        })
    }

    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError> {
        TagHeap::check(self, regions, &mut |block, totals| {
            totals.count(&used_block_info(block));
            Ok(())
        })
    }
}

/// A free tag block as a walk reports it.
pub fn free_block_info(block: Block) -> BlockInfo {
    // SAFETY: callers pass blocks from a walk.
    let size = unsafe { block.size() };
    BlockInfo { addr: block.addr(), size, usable: 0, state: crate::allocator::error::BlockState::Free }
}

/// Fresh memory a tag heap needs for `alloc(size, align)` to succeed.
pub fn tag_growth_hint<I: FreeIndex>(
    heap: &TagHeap<I>,
    size: usize,
    align: usize,
    last: Option<Region>,
    want: Growth,
) -> Option<usize> {
    let mut need = block_size_for(size, align)?;
    if align > tags::GRANULE {
        need = need.checked_add(align + MIN_BLOCK)?;
    }
    match last {
        Some(last) if want != Growth::OwnRegion => {
            // The new memory merges with a free top block.
            // SAFETY: `last` is a region of this heap.
            let top = unsafe { heap.top(last) }.map_or(0, |b| {
                // SAFETY: as above.
                unsafe { b.size() }
            });
            Some(need.saturating_sub(top).max(MIN_BLOCK))
        }
        _ => need.checked_add(REGION_OVERHEAD),
    }
}

/// Gives back whole pages from the free top block of a tag heap.
///
/// # Safety
///
/// `last` must be the heap's last region.
pub unsafe fn tag_trim<I: FreeIndex>(
    heap: &mut TagHeap<I>,
    last: Region,
    threshold: usize,
    keep: usize,
    page: usize,
) -> usize {
    // SAFETY: per the caller.
    let Some(top) = (unsafe { heap.top(last) }) else { return 0 };
    // SAFETY: as above.
    let size = unsafe { top.size() };
    if size < threshold {
        return 0;
    }
    let keep = keep.max(MIN_BLOCK);
    let len = size.saturating_sub(keep) / page * page;
    if len > 0 {
        // SAFETY: len < size - MIN_BLOCK, and the top block is free.
        unsafe { heap.cut_top(last, len) };
    }
    len
}

/// One of the policies, chosen at run time. An enum rather than a trait
/// object: there is no heap to put a `Box` on.
#[allow(clippy::large_enum_variant, reason = "no heap to box into; an allocator holds one AnyPolicy")]
pub enum AnyPolicy {
    FirstFit(first_fit::FirstFit),
    NextFit(next_fit::NextFit),
    BestFit(best_fit::BestFit),
    WorstFit(worst_fit::WorstFit),
    Segregated(segregated::Segregated),
    Buddy(buddy::Buddy),
    Tlsf(tlsf::TlsfHeap),
    SlabTlsf(slab_tlsf::SlabTlsf),
}

macro_rules! dispatch {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            AnyPolicy::FirstFit($p) => $body,
            AnyPolicy::NextFit($p) => $body,
            AnyPolicy::BestFit($p) => $body,
            AnyPolicy::WorstFit($p) => $body,
            AnyPolicy::Segregated($p) => $body,
            AnyPolicy::Buddy($p) => $body,
            AnyPolicy::Tlsf($p) => $body,
            AnyPolicy::SlabTlsf($p) => $body,
        }
    };
}

impl AnyPolicy {
    pub fn new(kind: PolicyKind) -> AnyPolicy {
        match kind {
            PolicyKind::FirstFit => AnyPolicy::FirstFit(first_fit::new()),
            PolicyKind::NextFit => AnyPolicy::NextFit(next_fit::new()),
            PolicyKind::BestFit => AnyPolicy::BestFit(best_fit::new()),
            PolicyKind::WorstFit => AnyPolicy::WorstFit(worst_fit::new()),
            PolicyKind::Segregated => AnyPolicy::Segregated(segregated::new()),
            PolicyKind::Buddy => AnyPolicy::Buddy(buddy::Buddy::new()),
            PolicyKind::Tlsf => AnyPolicy::Tlsf(tlsf::new()),
            PolicyKind::SlabTlsf => AnyPolicy::SlabTlsf(slab_tlsf::SlabTlsf::new()),
        }
    }

    pub fn kind(&self) -> PolicyKind {
        match self {
            AnyPolicy::FirstFit(_) => PolicyKind::FirstFit,
            AnyPolicy::NextFit(_) => PolicyKind::NextFit,
            AnyPolicy::BestFit(_) => PolicyKind::BestFit,
            AnyPolicy::WorstFit(_) => PolicyKind::WorstFit,
            AnyPolicy::Segregated(_) => PolicyKind::Segregated,
            AnyPolicy::Buddy(_) => PolicyKind::Buddy,
            AnyPolicy::Tlsf(_) => PolicyKind::Tlsf,
            AnyPolicy::SlabTlsf(_) => PolicyKind::SlabTlsf,
        }
    }
}

impl Policy for AnyPolicy {
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize) {
        // SAFETY: forwarded from the caller.
        dispatch!(self, p => unsafe { Policy::add_memory(p, region, start, len) })
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

    unsafe fn trim(&mut self, last: Region, threshold: usize, keep: usize, page: usize) -> usize {
        // SAFETY: forwarded from the caller.
        dispatch!(self, p => unsafe { Policy::trim(p, last, threshold, keep, page) })
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
