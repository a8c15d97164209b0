//! Where the heap's memory comes from.
//!
//! A [`Source`] hands out memory in two ways: *growth* of the heap (more
//! bytes, contiguous with the last growth when the source can manage it) and
//! separate *mappings* for large blocks, which are returned whole on free.
//!
//! - [`Brk`]: the program break, as the classic `malloc` grows its heap. The
//!   kernel creates the `[heap]` mapping on the first `brk` that raises it.
//! - [`MmapHeap`]: anonymous memory, grown inside 64 MiB reservations; for
//!   heaps that cannot use the break (other threads' arenas, and any heap
//!   in a process whose break belongs to glibc).
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

/// How much address space [`MmapHeap`] reserves at a time (glibc's
/// `HEAP_MAX_SIZE` for its mmapped heaps).
pub const RESERVATION: usize = 64 << 20;

/// Anonymous memory for heaps that cannot use the program break (another
/// thread's arena; any heap in a process whose break belongs to glibc).
///
/// ```text
///   reservation (PROT_NONE, RESERVATION bytes)
///   ┌─────────────────────────────┬──────────────────────────────────┐
///   │ committed: the heap's region │ reserved: no access, no memory    │
///   └─────────────────────────────┴──────────────────────────────────┘
///                                 end                     reserved_end
/// ```
///
/// Address space is reserved [`RESERVATION`] at a time, and the heap grows
/// contiguously inside it, one `mmap(MAP_FIXED)` per growth: one region
/// per 64 MiB, however many growths. A growth that does not fit starts a
/// new reservation (a new region). Where a reservation is refused (under
/// `ulimit -v`), each growth is a mapping of its own. Shrinking gives the
/// tail's pages back and keeps them reserved.
#[derive(Debug, Default)]
pub struct MmapHeap {
    end: usize,
    reserved_end: usize,
    counters: SourceCounters,
}

impl MmapHeap {
    pub const fn new() -> MmapHeap {
        MmapHeap { end: 0, reserved_end: 0, counters: SourceCounters::ZERO }
    }
}

impl Source for MmapHeap {
    fn grow(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        if self.reserved_end - self.end < len {
            let size = len.max(RESERVATION);
            self.counters.mmap_calls += 1;
            match sys::reserve_address_space(size) {
                Ok(base) => (self.end, self.reserved_end) = (base as usize, base as usize + size),
                Err(_) => {
                    // No room to reserve: a plain mapping, exactly as asked.
                    self.counters.mmap_calls += 1;
                    let p = sys::mmap_anonymous(len)? as usize;
                    (self.end, self.reserved_end) = (p + len, p + len);
                    self.counters.heap_bytes += len;
                    self.counters.note_peak();
                    return NonNull::new(p as *mut u8).ok_or(Errno::ENOMEM);
                }
            }
        }
        let start = self.end;
        self.counters.mmap_calls += 1;
        // SAFETY: [start, start + len) is reserved and unused.
        unsafe { sys::replace_with_fresh(start, len, true) }?;
        self.end += len;
        self.counters.heap_bytes += len;
        self.counters.note_peak();
        NonNull::new(start as *mut u8).ok_or(Errno::ENOMEM)
    }

    unsafe fn shrink(&mut self, len: usize) -> Result<(), Errno> {
        let start = self.end - len;
        if self.reserved_end > self.end {
            self.counters.mmap_calls += 1;
            // SAFETY: the caller vouches that the tail is unused; it stays ours.
            unsafe { sys::replace_with_fresh(start, len, false) }?;
        } else {
            self.counters.munmap_calls += 1;
            // SAFETY: the caller vouches that the tail of the mapping is unused.
            unsafe { sys::munmap(start as *mut u8, len) }?;
            self.reserved_end = start;
        }
        self.end = start;
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

/// The source of a process-wide heap: the program break where the process
/// leaves it to tmalloc (the freestanding binary), mmapped heaps otherwise.
#[derive(Debug)]
pub enum HeapSource {
    Break(Brk),
    Mapped(MmapHeap),
}

impl Source for HeapSource {
    fn grow(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        match self {
            HeapSource::Break(s) => s.grow(len),
            HeapSource::Mapped(s) => s.grow(len),
        }
    }

    unsafe fn shrink(&mut self, len: usize) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe {
            match self {
                HeapSource::Break(s) => s.shrink(len),
                HeapSource::Mapped(s) => s.shrink(len),
            }
        }
    }

    fn counters_mut(&mut self) -> &mut SourceCounters {
        match self {
            HeapSource::Break(s) => s.counters_mut(),
            HeapSource::Mapped(s) => s.counters_mut(),
        }
    }

    fn counters(&self) -> SourceCounters {
        match self {
            HeapSource::Break(s) => s.counters(),
            HeapSource::Mapped(s) => s.counters(),
        }
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
    fn an_mmap_heap_grows_contiguously_in_its_reservation_and_shrinks_back() {
        let mut heap = MmapHeap::new();
        let a = heap.grow(4 * PAGE).unwrap();
        let b = heap.grow(2 * PAGE).unwrap();
        assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + 4 * PAGE, "contiguous");
        // SAFETY: six fresh pages.
        unsafe { b.as_ptr().add(2 * PAGE - 1).write(1) };
        // SAFETY: the last three pages are unused.
        unsafe { heap.shrink(3 * PAGE).unwrap() };
        let c = heap.grow(PAGE).unwrap();
        assert_eq!(c.as_ptr() as usize, a.as_ptr() as usize + 3 * PAGE, "the tail is reused");
        // SAFETY: the page was decommitted and committed again: fresh.
        assert_eq!(unsafe { c.as_ptr().read() }, 0);
        let counters = heap.counters();
        // One reservation, three commits, one decommit.
        assert_eq!((counters.heap_bytes, counters.mmap_calls, counters.munmap_calls), (4 * PAGE, 5, 0));
        // SAFETY: the whole reservation is ours and unused now.
        unsafe { sys::munmap(a.as_ptr(), RESERVATION).unwrap() };
    }

    #[test]
    fn align_up_rounds_and_detects_overflow() {
        assert_eq!(align_up(0, 16), Some(0));
        assert_eq!(align_up(1, 16), Some(16));
        assert_eq!(align_up(16, 16), Some(16));
        assert_eq!(align_up(usize::MAX, 16), None);
    }
}
