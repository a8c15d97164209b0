//! The front end: what every request goes through before the heap sees it.
//! It routes by size (large blocks get mappings of their own), turns
//! misuse into [`Misuse`] findings, and keeps the counters behind
//! [`Stats`]. The [`Heap`] behind it manages memory; a per-thread cache can
//! later sit between the two.

use core::ptr::NonNull;

use crate::error::{BlockInfo, HeapError, Misuse, Totals, ensure};
use crate::heap::Heap;
use crate::large::{LargeBlocks, LargeHeader};
use crate::pagemap::Owner;
use crate::policy::PolicyKind;
use crate::region::Region;
use crate::source::Source;

/// Requests of at least this many bytes get their own mapping (glibc's
/// `M_MMAP_THRESHOLD` default).
pub const MMAP_THRESHOLD: usize = 128 * 1024;

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
    /// Bytes the process-wide page map holds, and the `mmap` calls that got
    /// them: shared by every heap of the process, and not in the figures
    /// above, which are this allocator's own.
    pub metadata_bytes: usize,
    pub metadata_mmap_calls: u64,
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
    /// Two allocators' figures as one: counts add up, the largest free
    /// block is the larger, and each peak is the sum of the two peaks
    /// (which need not have come at once). The page map's figures are the
    /// process's, not summed.
    pub fn plus(&self, other: &Stats) -> Stats {
        Stats {
            live_blocks: self.live_blocks + other.live_blocks,
            live_bytes: self.live_bytes + other.live_bytes,
            peak_live_bytes: self.peak_live_bytes + other.peak_live_bytes,
            kernel_bytes: self.kernel_bytes + other.kernel_bytes,
            peak_kernel_bytes: self.peak_kernel_bytes + other.peak_kernel_bytes,
            metadata_bytes: other.metadata_bytes,
            metadata_mmap_calls: other.metadata_mmap_calls,
            brk_calls: self.brk_calls + other.brk_calls,
            mmap_calls: self.mmap_calls + other.mmap_calls,
            munmap_calls: self.munmap_calls + other.munmap_calls,
            free_blocks: self.free_blocks + other.free_blocks,
            free_bytes: self.free_bytes + other.free_bytes,
            largest_free: self.largest_free.max(other.largest_free),
            mapped_blocks: self.mapped_blocks + other.mapped_blocks,
        }
    }
}

/// Where a block lives.
#[derive(Clone, Copy)]
enum Place {
    /// In this region of the heap.
    Heap(Region),
    /// In a mapping of its own, behind this header.
    Large(NonNull<LargeHeader>),
}

/// An allocator: one policy over memory from one source, and large blocks
/// in mappings of their own.
pub struct Tmalloc<S: Source> {
    heap: Heap<S>,
    large: LargeBlocks,
    live_blocks: usize,
    live_bytes: usize,
    peak_live_bytes: usize,
}

impl<S: Source> Tmalloc<S> {
    pub fn new(kind: PolicyKind, source: S) -> Tmalloc<S> {
        Tmalloc {
            heap: Heap::new(kind, source),
            large: LargeBlocks::new(),
            live_blocks: 0,
            live_bytes: 0,
            peak_live_bytes: 0,
        }
    }

    /// An allocator whose pages carry `owner` in the page map.
    pub(crate) fn with_owner(kind: PolicyKind, source: S, owner: Owner) -> Tmalloc<S> {
        let mut t = Tmalloc::new(kind, source);
        t.heap.set_owner(owner);
        t
    }

    /// Changes the policy of an allocator that holds no memory yet.
    pub(crate) fn set_policy(&mut self, kind: PolicyKind) -> bool {
        self.live_blocks == 0 && self.heap.set_policy(kind)
    }

    pub fn kind(&self) -> PolicyKind {
        self.heap.kind()
    }

    pub fn source(&self) -> &S {
        self.heap.source()
    }

    pub fn source_mut(&mut self) -> &mut S {
        self.heap.source_mut()
    }

    pub fn regions(&self) -> &[Region] {
        self.heap.regions()
    }

    /// A block of at least `size` bytes aligned to `align` (a power of
    /// two), or `None`: the source is exhausted, or the request overflows.
    pub fn alloc(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        if !align.is_power_of_two() {
            return None;
        }
        let (ptr, usable) = self.alloc_where(size, align)?;
        self.live_blocks += 1;
        self.live_bytes += usable;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
        Some(ptr)
    }

    /// A block from the heap, or a mapping of its own if it is large.
    /// Spare mappings go back before the heap grows.
    fn alloc_where(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        if size >= MMAP_THRESHOLD {
            let owner = self.heap.owner()?;
            return self.large.alloc(self.heap.source_mut(), owner, size, align);
        }
        if let Some(found) = self.heap.alloc_without_growing(size, align) {
            return Some(found);
        }
        if self.large.release_spares(self.heap.source_mut()) {
            self.heap.note_memory_returned();
        }
        self.heap.alloc(size, align)
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

    /// Frees `ptr` (`None` does nothing). Returns what was wrong with it,
    /// if anything; the allocator is unchanged in that case.
    pub fn try_free(&mut self, ptr: Option<NonNull<u8>>) -> Result<(), Misuse> {
        let Some(ptr) = ptr else { return Ok(()) };
        let usable = match self.place(ptr)? {
            // SAFETY: located just now.
            Place::Heap(region) => unsafe { self.heap.free(ptr, region)? },
            Place::Large(header) => {
                let usable = LargeBlocks::usable(header);
                // SAFETY: found live; the caller gives the block up.
                if unsafe { self.large.free(self.heap.source_mut(), header) } {
                    self.heap.note_memory_returned();
                }
                usable
            }
        };
        self.live_blocks -= 1;
        self.live_bytes -= usable;
        Ok(())
    }

    /// Where the block at `ptr` lives, from the page map: a pointer on no
    /// page of this allocator's is refused without being read.
    #[inline]
    fn place(&self, ptr: NonNull<u8>) -> Result<Place, Misuse> {
        let addr = ptr.as_ptr() as usize;
        let entry = self.heap.entry(addr).ok_or(Misuse::InvalidPointer)?;
        if entry.is_large() {
            let owner = self.heap.owner_if_any().ok_or(Misuse::InvalidPointer)?;
            return self.large.find(ptr, owner).map(Place::Large);
        }
        self.heap.locate(addr).map(Place::Heap).ok_or(Misuse::InvalidPointer)
    }

    /// The usable size of the block at `ptr`.
    pub fn try_usable_size(&self, ptr: NonNull<u8>) -> Result<usize, Misuse> {
        match self.place(ptr)? {
            // SAFETY: located just now.
            Place::Heap(region) => unsafe { self.heap.usable_size(ptr, region) },
            Place::Large(header) => Ok(LargeBlocks::usable(header)),
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
        match self.place(ptr)? {
            Place::Heap(region) if size < MMAP_THRESHOLD => {
                // SAFETY: located just now.
                if let Some(new) = unsafe { self.heap.resize(ptr, region, size)? } {
                    self.live_bytes = self.live_bytes - old + new;
                    self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
                    return Ok(Some(ptr));
                }
            }
            // A large block keeps its mapping while it stays at least half used.
            Place::Large(_) if size <= old && size * 2 >= old => return Ok(Some(ptr)),
            _ => {}
        }
        let Some(new) = self.alloc(size, align) else { return Ok(None) };
        // SAFETY: both blocks are live and distinct; min(old, size) bytes fit in each.
        unsafe { core::ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), old.min(size)) };
        self.try_free(Some(ptr))?;
        Ok(Some(new))
    }

    /// Every block: the heap's in address order, then the large ones.
    pub fn walk(&self, visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        self.heap.walk(visit)?;
        self.large.for_each(visit);
        Ok(())
    }

    /// Verifies every invariant of the heap, then that the blocks found add
    /// up to the blocks handed out.
    pub fn check(&self) -> Result<Totals, HeapError> {
        let mut totals = self.heap.check()?;
        self.large.check()?;
        self.large.for_each(&mut |b| totals.count(&b));
        ensure(
            totals.used_blocks == self.live_blocks,
            "blocks found differ from blocks handed out",
            0,
            totals.used_blocks,
            self.live_blocks,
        )?;
        ensure(
            totals.used_bytes == self.live_bytes,
            "usable bytes found differ from bytes handed out",
            0,
            totals.used_bytes,
            self.live_bytes,
        )?;
        Ok(totals)
    }

    /// Counters, plus a walk for the free-memory figures.
    pub fn stats(&self) -> Stats {
        let counters = self.heap.source().counters();
        let (metadata_bytes, metadata_mmap_calls) = crate::pagemap::overhead();
        let mut totals = Totals::default();
        let _ = self.heap.walk(&mut |b| totals.count(&b));
        Stats {
            live_blocks: self.live_blocks,
            live_bytes: self.live_bytes,
            peak_live_bytes: self.peak_live_bytes,
            kernel_bytes: counters.total_bytes(),
            peak_kernel_bytes: counters.peak_bytes,
            metadata_bytes: metadata_bytes as usize,
            metadata_mmap_calls,
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

impl<S: Source> Drop for Tmalloc<S> {
    /// The large blocks' pages leave the page map (the heap's go with it);
    /// their memory stays where it is, but spare mappings, which are no
    /// one's, go back.
    fn drop(&mut self) {
        self.large.unmark_all();
        self.large.release_spares(self.heap.source_mut());
    }
}
