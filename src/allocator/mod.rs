//! tmalloc: the allocator.
//!
//! ```text
//!   tmalloc / tfree / …        C ABI and Rust API (api.rs)
//!          │
//!   Tmalloc<S: Source>         front end: size threshold, growth, trim, counters
//!     ├── LargeBlocks          ≥ mmap threshold: one mapping per block (large.rs)
//!     ├── AnyPolicy            everything else: one of the policies (policy/)
//!     ├── Regions              the address ranges the heap owns (region.rs)
//!     └── S: Source            brk, mmap chunks or an arena (source.rs)
//! ```
//!
//! The front end asks the source for memory in steps of [`Config::grow_step`]
//! (so `brk` is called at most 4 times per MiB grown), falling back to just
//! what the request needs when the kernel refuses a full step: under a tight
//! `RLIMIT_AS` the last few KiB still get used.

pub mod api;
pub mod error;
pub mod large;
pub mod list;
pub mod policy;
pub mod region;
pub mod source;

use core::ptr::NonNull;

pub use error::{BlockInfo, BlockState, HeapError, Misuse, Totals};
use large::LargeBlocks;
pub use policy::{AnyPolicy, Freed, Growth, Policy, PolicyKind};
pub use region::{Region, Regions};
pub use source::{Arena, Brk, Faulty, MmapChunks, PAGE, Source, SourceCounters, align_up};

/// Tunables.
///
/// The trim threshold is twice the growth step, and trimming keeps one
/// step: a heap that just grew never qualifies for trimming at once, so
/// `brk` does not go up and down on every other call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Requests of at least this many bytes get their own mapping (glibc's
    /// `M_MMAP_THRESHOLD` default).
    pub mmap_threshold: usize,
    /// Free memory at the top of the heap is given back once it reaches this.
    pub trim_threshold: usize,
    /// ... keeping this much of it for the next allocations.
    pub top_pad: usize,
    /// The heap grows by at least this much at a time.
    pub grow_step: usize,
}

impl Config {
    pub const DEFAULT: Config = Config {
        mmap_threshold: 128 * 1024,
        trim_threshold: 512 * 1024,
        top_pad: 256 * 1024,
        grow_step: 256 * 1024,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

/// What the allocator holds, and what it cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Blocks handed out and not yet freed.
    pub live_blocks: usize,
    /// Their usable bytes.
    pub live_bytes: usize,
    /// The most `live_bytes` ever reached.
    pub peak_live_bytes: usize,
    /// Bytes currently obtained from the kernel (heap and large mappings).
    pub kernel_bytes: usize,
    /// The most `kernel_bytes` ever held.
    pub peak_kernel_bytes: usize,
    pub brk_calls: u64,
    pub mmap_calls: u64,
    pub munmap_calls: u64,
    /// Free blocks in the heap, their bytes, and the largest of them.
    pub free_blocks: usize,
    pub free_bytes: usize,
    pub largest_free: usize,
    /// Large blocks in mappings of their own.
    pub mapped_blocks: usize,
}

impl Stats {
    /// `1 - largest free / total free`: 0 when all free memory is one
    /// block, near 1 when it is dust.
    pub fn fragmentation(&self) -> f64 {
        if self.free_bytes == 0 { 0.0 } else { 1.0 - self.largest_free as f64 / self.free_bytes as f64 }
    }
}

/// Whether a growth must be asked for, or may be skipped when the source
/// refused as much before.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Optional,
    Required,
}

/// An allocator: one policy over memory from one source.
pub struct Tmalloc<S: Source> {
    policy: AnyPolicy,
    regions: Regions,
    large: LargeBlocks,
    source: S,
    config: Config,
    live_blocks: usize,
    live_bytes: usize,
    peak_live_bytes: usize,
    /// The smallest growth the source has refused since memory last went
    /// back to it: near a limit, larger optional steps are not retried on
    /// every allocation (each would be a failed system call). The bare
    /// minimum a request needs is always asked for.
    refused: usize,
}

impl<S: Source> Tmalloc<S> {
    pub fn new(kind: PolicyKind, source: S) -> Tmalloc<S> {
        Tmalloc::with_config(kind, source, Config::DEFAULT)
    }

    pub fn with_config(kind: PolicyKind, source: S, config: Config) -> Tmalloc<S> {
        Tmalloc {
            policy: AnyPolicy::new(kind),
            regions: Regions::new(),
            large: LargeBlocks::new(),
            source,
            config,
            live_blocks: 0,
            live_bytes: 0,
            peak_live_bytes: 0,
            refused: usize::MAX,
        }
    }

    pub fn kind(&self) -> PolicyKind {
        self.policy.kind()
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    pub fn regions(&self) -> &[Region] {
        self.regions.as_slice()
    }

    pub fn config(&self) -> Config {
        self.config
    }

    /// A block of at least `size` bytes aligned to `align` (a power of
    /// two), or `None`: the source is exhausted, or the request overflows.
    pub fn alloc(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        if !align.is_power_of_two() {
            return None;
        }
        let (ptr, usable) = if size >= self.config.mmap_threshold {
            self.large.alloc(&mut self.source, size, align)?
        } else {
            self.alloc_in_heap(size, align)?
        };
        self.live_blocks += 1;
        self.live_bytes += usable;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
        Some(ptr)
    }

    /// `count * size` zeroed bytes at `align`; `None` if the product overflows.
    pub fn calloc(&mut self, count: usize, size: usize, align: usize) -> Option<NonNull<u8>> {
        let bytes = count.checked_mul(size)?;
        let p = self.alloc(bytes, align)?;
        // SAFETY: the block holds at least `bytes` bytes. Recycled memory is
        // not zero, so it is cleared whatever its origin.
        unsafe { p.as_ptr().write_bytes(0, bytes) };
        Some(p)
    }

    fn alloc_in_heap(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
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
        let geometric = align_up(self.config.grow_step.max(self.regions.total() / 16), PAGE);
        let step = align_up(self.config.grow_step, PAGE);
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

    /// Frees `ptr` (`None` does nothing). Returns what was wrong with it,
    /// if anything; the heap is unchanged in that case.
    pub fn try_free(&mut self, ptr: Option<NonNull<u8>>) -> Result<(), Misuse> {
        let Some(ptr) = ptr else { return Ok(()) };
        let usable = match self.regions.find(ptr.as_ptr() as usize) {
            Some(region) => {
                // SAFETY: the pointer lies in this region of the heap.
                let freed = unsafe { self.policy.free(ptr, region)? };
                if freed.top_free >= self.config.trim_threshold && Some(region) == self.regions.last() {
                    self.trim(region);
                }
                freed.usable
            }
            None => {
                let header = self.large.find(ptr).ok_or(Misuse::InvalidPointer)?;
                let usable = LargeBlocks::usable(header);
                // SAFETY: found on the live list; the caller gives the block up.
                unsafe { self.large.free(&mut self.source, header) };
                self.refused = usize::MAX;
                usable
            }
        };
        self.live_blocks -= 1;
        self.live_bytes -= usable;
        Ok(())
    }

    fn trim(&mut self, last: Region) {
        let Config { trim_threshold, top_pad, .. } = self.config;
        // SAFETY: `last` is the last region.
        let len = unsafe { self.policy.trim(last, trim_threshold, top_pad, PAGE) };
        // SAFETY: the policy released these bytes at the end of the last region.
        if len > 0 && unsafe { self.source.shrink(len) }.is_ok() {
            self.regions.shrink_last(len);
            self.refused = usize::MAX;
        }
    }

    /// The usable size of the block at `ptr`.
    pub fn try_usable_size(&self, ptr: NonNull<u8>) -> Result<usize, Misuse> {
        match self.regions.find(ptr.as_ptr() as usize) {
            // SAFETY: the pointer lies in this region of the heap.
            Some(region) => unsafe { self.policy.usable_size(ptr, region) },
            None => self.large.find(ptr).map(LargeBlocks::usable).ok_or(Misuse::InvalidPointer),
        }
    }

    /// Resizes the block at `ptr` to `size` bytes, in place when the
    /// neighbour allows, else by moving it (keeping `align`). `Ok(None)`:
    /// no memory, and the old block is untouched.
    pub fn try_realloc(
        &mut self,
        ptr: NonNull<u8>,
        size: usize,
        align: usize,
    ) -> Result<Option<NonNull<u8>>, Misuse> {
        let old = self.try_usable_size(ptr)?;
        if let Some(region) = self.regions.find(ptr.as_ptr() as usize)
            && size < self.config.mmap_threshold
        {
            // SAFETY: the pointer lies in this region of the heap.
            if let Some(new) = unsafe { self.policy.resize(ptr, region, size)? } {
                self.live_bytes = self.live_bytes - old + new;
                self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
                return Ok(Some(ptr));
            }
        } else if size <= old && size * 2 >= old {
            // A large block keeps its mapping while it stays at least half used.
            return Ok(Some(ptr));
        }
        let Some(new) = self.alloc(size, align) else { return Ok(None) };
        // SAFETY: both blocks are live and distinct; min(old, size) bytes fit in each.
        unsafe { core::ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), old.min(size)) };
        self.try_free(Some(ptr))?;
        Ok(Some(new))
    }

    /// Every block: the heap's in address order, then the large ones.
    pub fn walk(&self, visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        self.policy.walk(self.regions.as_slice(), visit)?;
        self.large.for_each(visit);
        Ok(())
    }

    /// Verifies every invariant of the policy, then that the blocks found
    /// add up to the blocks handed out.
    pub fn check(&self) -> Result<Totals, HeapError> {
        let mut totals = self.policy.check(self.regions.as_slice())?;
        self.large.check()?;
        self.large.for_each(&mut |b| totals.count(&b));
        error::ensure(
            totals.used_blocks == self.live_blocks,
            "blocks found differ from blocks handed out",
            0,
            totals.used_blocks,
            self.live_blocks,
        )?;
        error::ensure(
            totals.used_bytes == self.live_bytes,
            "usable bytes found differ from bytes handed out",
            0,
            totals.used_bytes,
            self.live_bytes,
        )?;
        let heap = self.source.counters().heap_bytes;
        error::ensure(
            self.regions.total() == heap,
            "regions differ from memory obtained",
            0,
            self.regions.total(),
            heap,
        )?;
        Ok(totals)
    }

    /// Counters, plus a walk for the free-memory figures.
    pub fn stats(&self) -> Stats {
        let counters = self.source.counters();
        let mut totals = Totals::default();
        let _ = self.policy.walk(self.regions.as_slice(), &mut |b| totals.count(&b));
        Stats {
            live_blocks: self.live_blocks,
            live_bytes: self.live_bytes,
            peak_live_bytes: self.peak_live_bytes,
            kernel_bytes: counters.total_bytes(),
            peak_kernel_bytes: counters.peak_bytes,
            brk_calls: counters.brk_calls,
            mmap_calls: counters.mmap_calls,
            munmap_calls: counters.munmap_calls,
            free_blocks: totals.free_blocks,
            free_bytes: totals.free_bytes,
            largest_free: totals.largest_free,
            mapped_blocks: self.large.len(),
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod tests;
