//! The allocators under test, each behind the workloads' `Allocator` trait.
//!
//! Arena allocators (every tmalloc policy, linked_list_allocator, talc,
//! rlsf, buddy_system_allocator) get one mapping of a given size and
//! nothing more. Hosted allocators (dlmalloc, mimalloc, glibc) get their
//! memory from the kernel themselves; their efficiency is measured in a
//! child process under `RLIMIT_AS` (see `main.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::NonNull;

use tmalloc_alloc::{Arena, PolicyKind, Tmalloc};
use tmalloc_workload::Allocator;

/// Where an allocator's memory comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// A fixed arena handed over by the benchmark.
    Arena,
    /// Its own requests to the kernel.
    Hosted,
}

/// Page-aligned memory for an arena, unmapped on drop.
pub struct Memory {
    ptr: NonNull<u8>,
    len: usize,
}

impl Memory {
    pub fn new(len: usize) -> Memory {
        let ptr = tmalloc_sys::mmap_anonymous(len).expect("mmap an arena");
        Memory { ptr: NonNull::new(ptr).unwrap(), len }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, and the allocator built on it is
        // dropped first (it is declared before the memory in `InArena`).
        unsafe { tmalloc_sys::munmap(self.ptr.as_ptr(), self.len).expect("munmap") };
    }
}

/// An allocator over an arena it does not own.
pub struct InArena<H> {
    heap: H,
    /// `None` on the shared warm arena.
    _memory: Option<Memory>,
}

thread_local! {
    /// While set, arenas are this one mapping, reused: see [`warm_arenas`].
    static WARM: std::cell::RefCell<Option<Memory>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with every arena allocator built on one shared mapping of
/// `len` bytes instead of a fresh one each. Replays after the first then
/// find the pages already faulted in, as glibc's and mimalloc's heaps are
/// in a process that has run before: the trace timings compare allocators,
/// not first-touch page faults. Only one arena allocator may live at a time.
pub fn warm_arenas<R>(len: usize, f: impl FnOnce() -> R) -> R {
    WARM.with(|w| *w.borrow_mut() = Some(Memory::new(len)));
    let r = f();
    WARM.with(|w| *w.borrow_mut() = None);
    r
}

impl<H> InArena<H> {
    /// Maps `len` bytes (or takes the warm arena) and builds the allocator
    /// on them with `make(start, len)`.
    ///
    /// # Safety
    ///
    /// `make` must build an allocator that uses only `[start, start + len)`.
    unsafe fn new(len: usize, make: impl FnOnce(NonNull<u8>, usize) -> H) -> InArena<H> {
        if let Some((ptr, warm_len)) = WARM.with(|w| w.borrow().as_ref().map(|m| (m.ptr, m.len))) {
            assert!(len <= warm_len, "the warm arena holds {warm_len} bytes, not {len}");
            return InArena { heap: make(ptr, len), _memory: None };
        }
        let memory = Memory::new(len);
        InArena { heap: make(memory.ptr, len), _memory: Some(memory) }
    }
}

pub fn tmalloc(kind: PolicyKind, len: usize) -> InArena<Tmalloc<Arena>> {
    // SAFETY: the Arena source hands out exactly this memory.
    unsafe { InArena::new(len, |p, n| Tmalloc::new(kind, Arena::new(p, n))) }
}

impl InArena<Tmalloc<Arena>> {
    /// Bytes of the arena the heap has taken so far: its footprint.
    pub fn held(&self) -> u64 {
        tmalloc_alloc::Source::counters(self.heap.source()).total_bytes() as u64
    }
}

impl Allocator for InArena<Tmalloc<Arena>> {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap.alloc(layout.size(), layout.align())
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { Allocator::free(&mut self.heap, ptr, layout) }
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded from the caller.
        unsafe { Allocator::realloc(&mut self.heap, ptr, layout, new_size) }
    }
}

pub fn linked_list(len: usize) -> InArena<linked_list_allocator::Heap> {
    // SAFETY: `init` gives the heap exactly the arena.
    unsafe {
        InArena::new(len, |p, n| {
            let mut heap = linked_list_allocator::Heap::empty();
            heap.init(p.as_ptr(), n);
            heap
        })
    }
}

impl Allocator for InArena<linked_list_allocator::Heap> {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap.allocate_first_fit(layout).ok()
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.heap.deallocate(ptr, layout) }
    }
}

pub type TalcHeap = talc::base::Talc<talc::source::Manual, talc::DefaultBinning>;

pub fn talc(len: usize) -> InArena<TalcHeap> {
    // SAFETY: `claim` gives talc exactly the arena.
    unsafe {
        InArena::new(len, |p, n| {
            let mut heap = TalcHeap::new(talc::source::Manual);
            heap.claim(p.as_ptr(), n).expect("talc claims the arena");
            heap
        })
    }
}

impl Allocator for InArena<TalcHeap> {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: the workloads never ask for 0 bytes.
        unsafe { self.heap.try_allocate(layout) }
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.heap.deallocate(ptr.as_ptr(), layout) }
    }
}

/// rlsf with 28 first-level classes (blocks up to 2^33 bytes, enough for
/// the largest steady arena) and 16 second-level classes each.
pub type RlsfHeap = rlsf::Tlsf<'static, u32, u16, 28, 16>;

pub fn rlsf(len: usize) -> InArena<RlsfHeap> {
    // SAFETY: the pool is exactly the arena, which outlives the heap.
    unsafe {
        InArena::new(len, |p, n| {
            let mut heap = RlsfHeap::new();
            heap.insert_free_block_ptr(NonNull::slice_from_raw_parts(p, n)).expect("rlsf takes the arena");
            heap
        })
    }
}

impl Allocator for InArena<RlsfHeap> {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap.allocate(layout)
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.heap.deallocate(ptr, layout.align()) }
    }
}

pub type BuddyHeap = buddy_system_allocator::Heap<33>;

pub fn buddy_system(len: usize) -> InArena<BuddyHeap> {
    // SAFETY: `init` gives the heap exactly the arena.
    unsafe {
        InArena::new(len, |p, n| {
            let mut heap = BuddyHeap::new();
            heap.init(p.as_ptr() as usize, n);
            heap
        })
    }
}

impl Allocator for InArena<BuddyHeap> {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap.alloc(layout).ok()
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

/// The dlmalloc crate, on its own `mmap`ed segments.
pub struct Dlmalloc(dlmalloc::Dlmalloc);

pub fn dlmalloc() -> Dlmalloc {
    Dlmalloc(dlmalloc::Dlmalloc::new())
}

impl Allocator for Dlmalloc {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: any size and power-of-two alignment is allowed.
        NonNull::new(unsafe { self.0.malloc(layout.size(), layout.align()) })
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.free(ptr.as_ptr(), layout.size(), layout.align()) }
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded from the caller; dlmalloc keeps the alignment.
        NonNull::new(unsafe { self.0.realloc(ptr.as_ptr(), layout.size(), layout.align(), new_size) })
    }
}

/// A process-wide allocator: glibc's malloc (`System`) or mimalloc.
pub struct Global<G>(pub G);

pub fn glibc() -> Global<System> {
    Global(System)
}

pub fn mimalloc() -> Global<mimalloc::MiMalloc> {
    Global(mimalloc::MiMalloc)
}

/// `GlobalAlloc` may not be asked for 0 bytes; traces do (`malloc(0)`).
/// Such a request becomes 1 byte, as glibc's own minimum chunk serves it.
fn nonzero(layout: Layout) -> Layout {
    Layout::from_size_align(layout.size().max(1), layout.align()).expect("a valid layout grows by at most 1")
}

impl<G: GlobalAlloc> Allocator for Global<G> {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: the layout is not zero-sized.
        NonNull::new(unsafe { self.0.alloc(nonzero(layout)) })
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller, with the layout `alloc` used.
        unsafe { self.0.dealloc(ptr.as_ptr(), nonzero(layout)) }
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded from the caller, with the layout `alloc` used; the
        // new size is not zero.
        NonNull::new(unsafe { self.0.realloc(ptr.as_ptr(), nonzero(layout), new_size.max(1)) })
    }
}
