//! Where the heap's memory comes from.
//!
//! A [`Source`] hands out memory in two ways: *growth* of the heap (more
//! bytes, contiguous with the last growth when the source can manage it) and
//! separate *mappings* for large blocks, which are returned whole on free.
//!
//! - [`Brk`]: the program break, as the classic `malloc` grows its heap. The
//!   kernel creates the `[heap]` mapping on the first `brk` that raises it.
//! - [`MmapChunks`]: anonymous `mmap` chunks; never contiguous by promise.
//! - [`Arena`]: a fixed buffer given by the caller, for host tests and
//!   benchmarks: a budget that behaves like `RLIMIT_AS`.
//!
//! (The tests' fault-injecting source is in `testing`.)
//!
//! Every source counts its system calls and the bytes it holds.

use core::ptr::NonNull;

use tmalloc_sys::{self as sys, Errno};

/// The page size the sources round to: x86_64 Linux's 4 KiB (the kernel
/// says so in AT_PAGESZ, which `tmalloc --image` prints).
pub const PAGE: usize = 4096;

/// System calls made and bytes held by a source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCounters {
    pub brk_calls: u64,
    pub mmap_calls: u64,
    pub munmap_calls: u64,
    /// Bytes of heap growth currently held (grown minus shrunk).
    pub heap_bytes: usize,
    /// Bytes of large-block mappings currently held.
    pub mapped_bytes: usize,
    /// The most `heap_bytes + mapped_bytes` ever held at once.
    pub peak_bytes: usize,
}

impl SourceCounters {
    pub const ZERO: SourceCounters = SourceCounters {
        brk_calls: 0,
        mmap_calls: 0,
        munmap_calls: 0,
        heap_bytes: 0,
        mapped_bytes: 0,
        peak_bytes: 0,
    };

    /// Everything currently obtained from the kernel.
    pub fn total_bytes(&self) -> usize {
        self.heap_bytes + self.mapped_bytes
    }

    fn note_peak(&mut self) {
        self.peak_bytes = self.peak_bytes.max(self.total_bytes());
    }
}

/// A supplier of memory for the heap.
pub trait Source {
    /// Extends the heap by `len` bytes (a multiple of [`PAGE`]); returns the
    /// start of the new memory. When the source is contiguous, the new
    /// memory starts where the previous growth ended.
    fn grow(&mut self, len: usize) -> Result<NonNull<u8>, Errno>;

    /// Gives back the last `len` bytes of the heap (a multiple of [`PAGE`]).
    ///
    /// # Safety
    ///
    /// Nothing live may lie in those bytes, and they must be the end of the
    /// most recent growth.
    unsafe fn shrink(&mut self, len: usize) -> Result<(), Errno>;

    /// A separate mapping of `len` bytes (a multiple of [`PAGE`]), zeroed:
    /// an anonymous `mmap` unless the source says otherwise.
    fn map(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        map_anonymous(self.counters_mut(), len)
    }

    /// Returns a mapping made by [`map`](Self::map).
    ///
    /// # Safety
    ///
    /// `ptr` and `len` must describe exactly one mapping from this source,
    /// with nothing live in it.
    unsafe fn unmap(&mut self, ptr: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { unmap_anonymous(self.counters_mut(), ptr, len) }
    }

    /// The counters this source keeps.
    fn counters_mut(&mut self) -> &mut SourceCounters;

    fn counters(&self) -> SourceCounters;
}

/// Rounds `n` up to a multiple of `align` (a power of two); `None` on overflow.
pub const fn align_up(n: usize, align: usize) -> Option<usize> {
    match n.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// A zeroed mapping of `len` bytes for the allocator's own bookkeeping
/// (the page map's nodes): not heap memory, not any source's.
pub(crate) fn map_metadata(len: usize) -> Result<NonNull<u8>, Errno> {
    NonNull::new(sys::mmap_anonymous(len)?).ok_or(Errno::ENOMEM)
}

/// The program break.
///
/// The first growth asks the kernel where the break is (`brk(0)`); every
/// growth then moves it up with one `brk`. Shrinking moves it down.
#[derive(Debug, Default)]
pub struct Brk {
    /// The current break, once known.
    end: Option<usize>,
    counters: SourceCounters,
}

impl Brk {
    pub const fn new() -> Brk {
        Brk { end: None, counters: SourceCounters::ZERO }
    }

    fn current(&mut self) -> usize {
        *self.end.get_or_insert_with(|| {
            self.counters.brk_calls += 1;
            sys::current_break()
        })
    }
}

impl Source for Brk {
    fn grow(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        let start = self.current();
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        self.counters.brk_calls += 1;
        // SAFETY: this source is the only user of the program break in the
        // binary; raising it only adds memory.
        unsafe { sys::brk(end) }?;
        self.end = Some(end);
        self.counters.heap_bytes += len;
        self.counters.note_peak();
        NonNull::new(start as *mut u8).ok_or(Errno::ENOMEM)
    }

    unsafe fn shrink(&mut self, len: usize) -> Result<(), Errno> {
        let end = self.current();
        self.counters.brk_calls += 1;
        // SAFETY: the caller vouches that nothing live lies above end - len.
        unsafe { sys::brk(end - len) }?;
        self.end = Some(end - len);
        self.counters.heap_bytes -= len;
        Ok(())
    }

    fn counters_mut(&mut self) -> &mut SourceCounters {
        &mut self.counters
    }

    fn counters(&self) -> SourceCounters {
        self.counters
    }
}

fn map_anonymous(counters: &mut SourceCounters, len: usize) -> Result<NonNull<u8>, Errno> {
    counters.mmap_calls += 1;
    let p = sys::mmap_anonymous(len)?;
    counters.mapped_bytes += len;
    counters.note_peak();
    NonNull::new(p).ok_or(Errno::ENOMEM)
}

/// # Safety
///
/// As [`Source::unmap`].
unsafe fn unmap_anonymous(counters: &mut SourceCounters, ptr: NonNull<u8>, len: usize) -> Result<(), Errno> {
    counters.munmap_calls += 1;
    // SAFETY: the caller vouches that this is one whole mapping, unused.
    unsafe { sys::munmap(ptr.as_ptr(), len) }?;
    counters.mapped_bytes -= len;
    Ok(())
}

/// Anonymous `mmap` chunks: each growth is a new mapping, so regions are
/// usually not contiguous. Shrinking unmaps the tail of the last chunk.
#[derive(Debug, Default)]
pub struct MmapChunks {
    last_end: usize,
    counters: SourceCounters,
}

impl MmapChunks {
    pub const fn new() -> MmapChunks {
        MmapChunks { last_end: 0, counters: SourceCounters::ZERO }
    }
}

impl Source for MmapChunks {
    fn grow(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        self.counters.mmap_calls += 1;
        let p = sys::mmap_anonymous(len)?;
        self.counters.heap_bytes += len;
        self.counters.note_peak();
        self.last_end = p as usize + len;
        NonNull::new(p).ok_or(Errno::ENOMEM)
    }

    unsafe fn shrink(&mut self, len: usize) -> Result<(), Errno> {
        self.counters.munmap_calls += 1;
        // SAFETY: the caller vouches that the tail of the last chunk is unused.
        unsafe { sys::munmap((self.last_end - len) as *mut u8, len) }?;
        self.last_end -= len;
        self.counters.heap_bytes -= len;
        Ok(())
    }

    fn counters_mut(&mut self) -> &mut SourceCounters {
        &mut self.counters
    }

    fn counters(&self) -> SourceCounters {
        self.counters
    }
}

/// A fixed buffer of `capacity` bytes. The heap grows up from its start;
/// large-block mappings are real `mmap`s but count against the same
/// capacity, as they would against `RLIMIT_AS`. When the budget is spent,
/// requests fail with `ENOMEM`, as the kernel's would.
#[derive(Debug)]
pub struct Arena {
    base: NonNull<u8>,
    capacity: usize,
    counters: SourceCounters,
}

// SAFETY: the arena only holds a pointer to memory its owner lent it.
unsafe impl Send for Arena {}

impl Arena {
    /// An arena over `[base, base + capacity)`.
    ///
    /// # Safety
    ///
    /// The memory must be valid for reads and writes, unused by anything
    /// else, for as long as the arena and every block from it live, and
    /// `base` must be page-aligned (the heap's pages are its own in the
    /// process-wide page map; a page shared with something else would not
    /// be).
    pub unsafe fn new(base: NonNull<u8>, capacity: usize) -> Arena {
        debug_assert!((base.as_ptr() as usize).is_multiple_of(PAGE), "arenas start on a page");
        Arena { base, capacity, counters: SourceCounters::default() }
    }

    fn room(&self) -> usize {
        self.capacity - self.counters.total_bytes()
    }
}

impl Source for Arena {
    fn grow(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        if len > self.room() {
            return Err(Errno::ENOMEM);
        }
        // SAFETY: heap_bytes + len <= capacity, so the pointer stays inside.
        let start = unsafe { self.base.add(self.counters.heap_bytes) };
        self.counters.brk_calls += 1;
        self.counters.heap_bytes += len;
        self.counters.note_peak();
        Ok(start)
    }

    unsafe fn shrink(&mut self, len: usize) -> Result<(), Errno> {
        self.counters.brk_calls += 1;
        self.counters.heap_bytes -= len;
        Ok(())
    }

    fn map(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        if len > self.room() {
            return Err(Errno::ENOMEM);
        }
        map_anonymous(&mut self.counters, len)
    }

    fn counters_mut(&mut self) -> &mut SourceCounters {
        &mut self.counters
    }

    fn counters(&self) -> SourceCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_grows_contiguously_until_its_budget() {
        let memory = crate::testing::TestMemory::new(4 * PAGE);
        let mut arena = memory.arena();
        let a = arena.grow(PAGE).unwrap();
        let b = arena.grow(2 * PAGE).unwrap();
        assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + PAGE, "contiguous");
        assert_eq!(arena.grow(2 * PAGE), Err(Errno::ENOMEM), "over budget");
        let m = arena.map(PAGE).unwrap();
        assert_eq!(arena.map(PAGE), Err(Errno::ENOMEM), "mappings share the budget");
        // SAFETY: m is the one mapping; b's last page is unused.
        unsafe {
            arena.unmap(m, PAGE).unwrap();
            arena.shrink(PAGE).unwrap();
        }
        let c = arena.counters();
        assert_eq!((c.heap_bytes, c.mapped_bytes, c.peak_bytes), (2 * PAGE, 0, 4 * PAGE));
        assert_eq!((c.brk_calls, c.mmap_calls, c.munmap_calls), (3, 1, 1));
    }

    #[test]
    fn mmap_chunks_map_and_shrink() {
        let mut chunks = MmapChunks::new();
        let a = chunks.grow(4 * PAGE).unwrap();
        // SAFETY: fresh mapping of 4 pages.
        unsafe { a.as_ptr().add(4 * PAGE - 1).write(1) };
        // SAFETY: the last two pages of the chunk are unused.
        unsafe { chunks.shrink(2 * PAGE).unwrap() };
        let c = chunks.counters();
        assert_eq!((c.heap_bytes, c.mmap_calls, c.munmap_calls), (2 * PAGE, 1, 1));
        // SAFETY: the first two pages are still mapped and ours.
        unsafe { sys::munmap(a.as_ptr(), 2 * PAGE).unwrap() };
    }

    #[test]
    fn align_up_rounds_and_detects_overflow() {
        assert_eq!(align_up(0, 16), Some(0));
        assert_eq!(align_up(1, 16), Some(16));
        assert_eq!(align_up(16, 16), Some(16));
        assert_eq!(align_up(usize::MAX, 16), None);
    }
}
