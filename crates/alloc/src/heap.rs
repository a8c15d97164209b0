//! The heap manager: the regions a heap owns, the source they come from,
//! and the policy that carves them. It grows the heap when the policy runs
//! out and gives memory back when a free leaves enough at the top.
//!
//! - **Growth.** The heap asks its source for an eighth of the most it has held
//!   at a time, at least [`GROW_STEP`] (see [`growth_ladder`]): a heap of any
//!   size reaches it in a few dozen calls, and grows back to it after trims in
//!   a few more, and at most an eighth of it is address space nothing has used
//!   yet. When the kernel refuses, it asks for half as much, and half again,
//!   down to the least the policy prefers (slab-tlsf: room for one slab run);
//!   only then does it serve the request from what is left (`alloc_fallback`),
//!   growing by the bare minimum if it must. Under `ulimit -v` the last
//!   kilobytes of the limit are used, in a few calls rather than a page at a
//!   time. A step refused once is not asked for again until memory has gone
//!   back.
//! - **Trim.** After a free in the last region, the policy gives back the free
//!   memory at the top, keeping [`TOP_PAD`], once that top reaches a threshold
//!   that only ever rises: the pad plus two growth steps, and after each trim
//!   the pad plus twice what it gave back. A trim never undoes a growth the
//!   next allocations need (`brk` never goes up and down on alternate calls),
//!   and since each trim gives back at least twice the one before, a heap makes
//!   a handful of trims over its life, however often it fills and empties: a
//!   program that returns to its peak over and over regrows in its first
//!   cycles, not in every one. The price: after its peak, a heap may keep up to twice its last
//!   trim free at the top.
//! - **Ownership.** Every page of the heap's regions carries the heap's
//!   [`Owner`] in the process-wide [page map](crate::pagemap), set when
//!   memory arrives and cleared when it goes back: any heap answers "is this
//!   pointer mine?" in O(1), without reading the pointer.

use core::ptr::NonNull;

use crate::error::{BlockInfo, HeapError, Misuse, Totals, ensure};
use crate::pagemap::{self, Entry, LeafCache, Owner};
use crate::policy::{AnyPolicy, Growth, Policy, PolicyKind};
use crate::region::{Region, Regions};
use crate::source::{PAGE, Source, align_up};

/// The heap grows by at least this much at a time.
pub const GROW_STEP: usize = 512 * 1024;
/// A trim keeps this much free memory at the top for the next allocations.
pub const TOP_PAD: usize = 256 * 1024;

/// The lengths a heap of `size` bytes asks for in turn when it must grow by
/// `least` and would rather grow by `first` (both page multiples): an
/// eighth of the heap (at least [`GROW_STEP`] and `first`), then half as
/// much, and half again, down to `least`. Geometric growth keeps the calls
/// to the kernel few at any size; halving on refusal uses the last of a
/// limit in a few calls rather than a page at a time.
pub fn growth_ladder(size: usize, first: usize, least: usize) -> impl Iterator<Item = usize> {
    let start = align_up(GROW_STEP.max(size / 8), PAGE).unwrap_or(usize::MAX).max(first).max(least);
    core::iter::successors(Some(start), move |&len| {
        (len > least).then(|| align_up(len / 2, PAGE).map_or(least, |half| half.max(least)))
    })
}

/// Whether a growth must be asked for, or may be skipped when the source
/// refused as much before.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Optional,
    Required,
}

/// One policy over memory from one source.
pub(crate) struct Heap<S: Source> {
    policy: AnyPolicy,
    regions: Regions,
    source: S,
    /// More than what the source can still give, as far as the heap knows:
    /// the smallest growth it refused since memory last went back to it,
    /// less what it gave since. Near a limit, larger optional steps are not
    /// retried on every allocation (each would be a failed system call).
    /// The bare minimum a request needs is always asked for.
    refused: usize,
    /// The free top at which the heap trims (see the module's doc).
    trim_at: usize,
    /// The most the heap has held: growth steps follow it, so that a heap
    /// trimmed after its peak grows back in as few calls as it first grew.
    peak: usize,
    /// The heap's number in the page map, taken when it first gets memory.
    owner: Option<Owner>,
    /// The page map's leaf this heap used last.
    pages: LeafCache,
}

impl<S: Source> Heap<S> {
    pub(crate) fn new(kind: PolicyKind, source: S) -> Heap<S> {
        Heap {
            policy: AnyPolicy::new(kind),
            regions: Regions::new(),
            source,
            refused: usize::MAX,
            trim_at: 0, // set by the first growth, before any free
            peak: 0,
            owner: None,
            pages: LeafCache::new(),
        }
    }

    pub(crate) fn kind(&self) -> PolicyKind {
        self.policy.kind()
    }

    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    pub(crate) fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    pub(crate) fn regions(&self) -> &[Region] {
        self.regions.as_slice()
    }

    /// Changes the policy of a heap that has no memory yet.
    pub(crate) fn set_policy(&mut self, kind: PolicyKind) -> bool {
        if !self.regions.as_slice().is_empty() {
            return false;
        }
        self.policy = AnyPolicy::new(kind);
        true
    }

    /// Gives the heap a number chosen by its user (an arena's), instead of
    /// the first free one at first use. Only before the heap has memory.
    pub(crate) fn set_owner(&mut self, owner: Owner) {
        debug_assert!(self.owner.is_none() && self.regions.as_slice().is_empty());
        self.owner = Some(owner);
    }

    /// The heap's number in the page map, taken on first use; `None` when
    /// every number is taken (4,095 heaps live), and then the heap can get
    /// no memory.
    pub(crate) fn owner(&mut self) -> Option<Owner> {
        if self.owner.is_none() {
            self.owner = Owner::take();
        }
        self.owner
    }

    /// The heap's number, if it has taken one.
    pub(crate) fn owner_if_any(&self) -> Option<Owner> {
        self.owner
    }

    /// What the page map says of the page holding `addr`, if it is this
    /// heap's: read through the heap's leaf cache, without touching `addr`.
    #[inline]
    pub(crate) fn entry(&self, addr: usize) -> Option<Entry> {
        let entry = self.pages.get(addr);
        entry.owned_by(self.owner?).then_some(entry)
    }

    /// The region `addr` lies in, if it lies in the heap.
    #[inline]
    pub(crate) fn locate(&self, addr: usize) -> Option<Region> {
        self.entry(addr)?;
        self.regions.find(addr)
    }

    /// The first growth the heap asks for at its peak size.
    fn step(&self) -> usize {
        growth_ladder(self.peak, PAGE, PAGE).next().unwrap_or(GROW_STEP)
    }

    /// Memory went back to the source from outside the heap (a large
    /// block's mapping): a growth refused before may succeed now.
    pub(crate) fn note_memory_returned(&mut self) {
        self.refused = usize::MAX;
    }

    /// A block for `size` bytes at `align` from the memory the heap has.
    #[inline]
    pub(crate) fn alloc_without_growing(
        &mut self,
        size: usize,
        align: usize,
    ) -> Option<(NonNull<u8>, usize)> {
        self.policy.alloc(size, align)
    }

    /// A block for `size` bytes at `align` (a power of two): its payload and
    /// usable size, growing the heap if the policy needs it.
    pub(crate) fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        // A growth makes the retry succeed unless the new memory could not
        // join the last region; one more growth then covers that.
        for _ in 0..3 {
            if let Some(found) = self.policy.alloc(size, align) {
                return Some(found);
            }
            if !self.grow_for(size, align) {
                break;
            }
        }
        // The heap cannot grow as the policy would like: serve the request
        // from what is left, then from the bare minimum of fresh memory.
        if let Some(found) = self.policy.alloc_fallback(size, align) {
            return Some(found);
        }
        let last = self.regions.last();
        let bare =
            self.policy.growth_hint(size, align, last, Growth::Bare).and_then(|n| align_up(n, PAGE))?;
        // Always asked for, even if as much was refused before: memory may
        // have come back from outside the heap.
        if !self.obtain(bare, Need::Required) {
            return None;
        }
        self.policy.alloc_fallback(size, align)
    }

    /// Obtains memory for `alloc(size, align)`, trying less and less: a
    /// step that grows with the heap, the plain step, the least that serves
    /// the request as the policy prefers. A refused large step does not
    /// leave the rest of a tight limit to page-sized growths.
    fn grow_for(&mut self, size: usize, align: usize) -> bool {
        let last = self.regions.last();
        let hint = |want| self.policy.growth_hint(size, align, last, want).and_then(|n| align_up(n, PAGE));
        let (Some(own_region), Some(least)) = (hint(Growth::OwnRegion), hint(Growth::Preferred)) else {
            return false;
        };
        growth_ladder(self.peak, own_region, least).any(|len| self.obtain(len, Need::Optional))
    }

    fn obtain(&mut self, len: usize, need: Need) -> bool {
        if self.regions.is_full() || (need == Need::Optional && len >= self.refused) {
            return false;
        }
        let Some(owner) = self.owner() else { return false };
        let Ok(start) = self.source.grow(len) else {
            self.refused = self.refused.min(len);
            return false;
        };
        let start = start.as_ptr() as usize;
        if pagemap::set(start, len, Entry::heap(owner)).is_err() {
            // No memory for the page map: the growth is no use. It is the
            // end of the most recent growth, with nothing in it.
            // SAFETY: as just said.
            let _ = unsafe { self.source.shrink(len) };
            self.refused = self.refused.min(len);
            return false;
        }
        self.regions.add(start, len);
        self.peak = self.peak.max(self.regions.total());
        // Less than `refused` was left, so less than that minus `len` is
        // left now: the next growths start below it, not with a call the
        // kernel will refuse (past a refusal, each call halves the room).
        if self.refused != usize::MAX {
            self.refused -= len.min(self.refused - PAGE);
        }
        self.trim_at = self.trim_at.max(TOP_PAD + 2 * self.step());
        let region = self.regions.find(start).expect("just added");
        // SAFETY: the source just handed us this memory, page-aligned.
        unsafe { self.policy.add_memory(region, start, len, owner) };
        true
    }

    /// Frees the block at `ptr`; returns its usable size, or what was wrong
    /// with it (the heap is then unchanged).
    ///
    /// # Safety
    ///
    /// `region` must be what [`locate`](Self::locate) returned for `ptr`,
    /// with no change to the heap since.
    pub(crate) unsafe fn free(&mut self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        // SAFETY: per the caller, the pointer lies in this region of the heap.
        let freed = unsafe { self.policy.free(ptr, region)? };
        if freed.top_free >= self.trim_at && Some(region) == self.regions.last() {
            self.trim(region);
        }
        Ok(freed.usable)
    }

    fn trim(&mut self, last: Region) {
        // SAFETY: `last` is the last region.
        let len = unsafe { self.policy.trim(last, self.trim_at, TOP_PAD) };
        // SAFETY: the policy released these bytes at the end of the last region.
        if len > 0 && unsafe { self.source.shrink(len) }.is_ok() {
            pagemap::clear(last.end - len, len);
            self.regions.shrink_last(len);
            self.refused = usize::MAX;
            self.trim_at = self.trim_at.max(TOP_PAD + 2 * len);
        }
    }

    /// The usable size of the block at `ptr`.
    ///
    /// # Safety
    ///
    /// As [`free`](Self::free).
    pub(crate) unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        // SAFETY: forwarded from the caller.
        unsafe { self.policy.usable_size(ptr, region) }
    }

    /// Resizes the block at `ptr` where it stands: its new usable size, or
    /// `Ok(None)` if it cannot.
    ///
    /// # Safety
    ///
    /// As [`free`](Self::free).
    pub(crate) unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        size: usize,
    ) -> Result<Option<usize>, Misuse> {
        // SAFETY: forwarded from the caller.
        unsafe { self.policy.resize(ptr, region, size) }
    }

    /// Every block of the heap, in address order.
    pub(crate) fn walk(&self, visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        self.policy.walk(self.regions.as_slice(), visit)
    }

    /// Verifies every invariant of the policy, and that the regions are the
    /// memory the source handed out.
    pub(crate) fn check(&self) -> Result<Totals, HeapError> {
        let totals = self.policy.check(self.regions.as_slice())?;
        let heap = self.source.counters().heap_bytes;
        ensure(
            self.regions.total() == heap,
            "regions differ from memory obtained",
            0,
            self.regions.total(),
            heap,
        )?;
        Ok(totals)
    }
}

impl<S: Source> Drop for Heap<S> {
    /// The heap's pages leave the page map and its number is given back;
    /// its memory stays where it is (a heap gives nothing back on drop).
    fn drop(&mut self) {
        if let Some(owner) = self.owner {
            for region in self.regions.as_slice() {
                pagemap::clear(region.start, region.len());
            }
            owner.give_back();
        }
    }
}
