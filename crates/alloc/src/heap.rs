//! The heap manager: the regions a heap owns, the source they come from,
//! and the policy that carves them. It grows the heap when the policy runs
//! out and gives memory back when a free leaves enough at the top.
//!
//! - **Growth.** The heap asks its source for at least [`GROW_STEP`] at a
//!   time (so `brk` runs at most 4 times per MiB grown), more once the heap
//!   is large (a sixteenth of it). When the kernel refuses, it asks for the
//!   plain step, then for the least the policy prefers (slab-tlsf: room for
//!   one slab run), and only then serves the request from what is left
//!   (`alloc_fallback`), growing by the bare minimum if it must. Under
//!   `ulimit -v` the last kilobytes of the limit are used, not lost to a
//!   refused large step.
//! - **Trim.** After a free in the last region, the policy may give back the
//!   free memory at the top once it reaches [`TRIM_THRESHOLD`], keeping
//!   [`TOP_PAD`]. The threshold is twice the growth step: a heap that just
//!   grew never trims at once, so `brk` does not go up and down on
//!   alternate calls.

use core::ptr::NonNull;

use crate::error::{BlockInfo, HeapError, Misuse, Totals, ensure};
use crate::policy::{AnyPolicy, Growth, Policy, PolicyKind};
use crate::region::{Region, Regions};
use crate::source::{PAGE, Source, align_up};

/// The heap grows by at least this much at a time.
pub const GROW_STEP: usize = 256 * 1024;
/// Free memory at the top of the heap is given back once it reaches this...
pub const TRIM_THRESHOLD: usize = 512 * 1024;
/// ... keeping this much of it for the next allocations.
pub const TOP_PAD: usize = 256 * 1024;

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
    /// The smallest growth the source has refused since memory last went
    /// back to it: near a limit, larger optional steps are not retried on
    /// every allocation (each would be a failed system call). The bare
    /// minimum a request needs is always asked for.
    refused: usize,
}

impl<S: Source> Heap<S> {
    pub(crate) fn new(kind: PolicyKind, source: S) -> Heap<S> {
        Heap { policy: AnyPolicy::new(kind), regions: Regions::new(), source, refused: usize::MAX }
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

    /// The region `addr` lies in, if it lies in the heap.
    #[inline]
    pub(crate) fn locate(&self, addr: usize) -> Option<Region> {
        self.regions.find(addr)
    }

    /// Memory went back to the source from outside the heap (a large
    /// block's mapping): a growth refused before may succeed now.
    pub(crate) fn note_memory_returned(&mut self) {
        self.refused = usize::MAX;
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
        let Some(own_region) = hint(Growth::OwnRegion) else { return false };
        let geometric = align_up(GROW_STEP.max(self.regions.total() / 16), PAGE);
        let step = align_up(GROW_STEP, PAGE);
        let ladder =
            [geometric.map(|g| g.max(own_region)), step.map(|s| s.max(own_region)), hint(Growth::Preferred)];
        let mut tried = usize::MAX;
        for len in ladder.into_iter().flatten() {
            if len < tried {
                tried = len;
                if self.obtain(len, Need::Optional) {
                    return true;
                }
            }
        }
        false
    }

    fn obtain(&mut self, len: usize, need: Need) -> bool {
        if self.regions.is_full() || (need == Need::Optional && len >= self.refused) {
            return false;
        }
        let Ok(start) = self.source.grow(len) else {
            self.refused = self.refused.min(len);
            return false;
        };
        let start = start.as_ptr() as usize;
        self.regions.add(start, len);
        let region = self.regions.find(start).expect("just added");
        // SAFETY: the source just handed us this memory, page-aligned.
        unsafe { self.policy.add_memory(region, start, len) };
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
        if freed.top_free >= TRIM_THRESHOLD && Some(region) == self.regions.last() {
            self.trim(region);
        }
        Ok(freed.usable)
    }

    fn trim(&mut self, last: Region) {
        // SAFETY: `last` is the last region.
        let len = unsafe { self.policy.trim(last, TRIM_THRESHOLD, TOP_PAD) };
        // SAFETY: the policy released these bytes at the end of the last region.
        if len > 0 && unsafe { self.source.shrink(len) }.is_ok() {
            self.regions.shrink_last(len);
            self.refused = usize::MAX;
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
