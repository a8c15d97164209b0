//! The process-wide allocator: `tmalloc`, `tfree` and friends.
//!
//! Rust functions first; [`capi`] mirrors each with an `extern "C"` function
//! of the same name, so that they can be called from C and from gdb
//! (`print (void*) tmalloc(64)`, `call tfree($1)`).
//!
//! Like `malloc`, nothing needs setting up: the first call creates the heap
//! with the default policy, on the program break, or in mmapped heaps once
//! [`use_mapped_memory`] said the break may have another user.
//! [`init_tmalloc`] chooses another policy, before the heap holds memory.
//! [`GlobalTmalloc`] serves Rust programs as their `#[global_allocator]`.
//!
//! Misuse (freeing a pointer tmalloc did not return, twice, or in the
//! middle) ends the process with SIGABRT and a message naming the call and
//! the address, as glibc does.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use tmalloc_sync::Lock;

use crate::error::{HeapError, Misuse, Totals};
use crate::front::{Stats, Tmalloc};
use crate::policy::PolicyKind;
use crate::report;
use crate::source::{Brk, HeapSource, MmapHeap, PAGE, align_up, map_metadata};

/// The alignment of every `tmalloc` block: enough for any C type.
pub const MALLOC_ALIGN: usize = 16;

/// The process-wide heap, made on first use, in a mapping of its own: a
/// process that never calls `tmalloc` (each of the experiment's contenders,
/// which build heaps of their own) carries no byte of it, and its size
/// counts against nobody's `RLIMIT_AS`.
struct Global {
    heap: Option<NonNull<Tmalloc<HeapSource>>>,
}

// SAFETY: the heap's raw pointers point into memory only the heap uses; the
// lock around Global serialises every access.
unsafe impl Send for Global {}

impl Global {
    fn get(&self) -> Option<&Tmalloc<HeapSource>> {
        // SAFETY: a heap made by `set`, alive as long as the process.
        self.heap.map(|h| unsafe { h.as_ref() })
    }

    fn get_or_init(&mut self) -> Option<&mut Tmalloc<HeapSource>> {
        if self.heap.is_none() {
            self.set(Tmalloc::new(PolicyKind::DEFAULT, main_source()))?;
        }
        // SAFETY: made above or before; the lock makes this the only reference.
        self.heap.map(|mut h| unsafe { h.as_mut() })
    }

    /// Puts `heap` in place of the current one (dropped), mapping room for
    /// it the first time; `None` if that mapping fails.
    fn set(&mut self, heap: Tmalloc<HeapSource>) -> Option<()> {
        match self.heap {
            // SAFETY: the old heap is ours and nothing refers to it now.
            Some(old) => unsafe {
                old.drop_in_place();
                old.write(heap);
            },
            None => {
                let room = align_up(size_of::<Tmalloc<HeapSource>>(), PAGE)?;
                let place = map_metadata(room).ok()?.cast::<Tmalloc<HeapSource>>();
                // SAFETY: a fresh mapping, large enough and page-aligned.
                unsafe { place.write(heap) };
                self.heap = Some(place);
            }
        }
        Some(())
    }
}

static HEAP: Lock<Global> = Lock::new(Global { heap: None });

/// Whether the process-wide heap must stay off the program break.
static MAPPED_ONLY: AtomicBool = AtomicBool::new(false);

/// Says that something else in the process may move the program break
/// (glibc's malloc, in a hosted program), so the process-wide heap must
/// grow in mmapped heaps ([`MmapHeap`]) instead. [`GlobalTmalloc`] says so
/// on its first call, and `libtmalloc.so` on its; the freestanding binary
/// never does, and its heap grows on the break, as the classic `malloc`'s.
/// Takes effect for a heap not made yet.
pub fn use_mapped_memory() {
    if !MAPPED_ONLY.load(Ordering::Relaxed) {
        MAPPED_ONLY.store(true, Ordering::Relaxed);
    }
}

fn main_source() -> HeapSource {
    if MAPPED_ONLY.load(Ordering::Relaxed) {
        HeapSource::Mapped(MmapHeap::new())
    } else {
        HeapSource::Break(Brk::new())
    }
}

/// Runs `f` on the heap; `None` if there is none and none can be made.
fn with_heap<R>(f: impl FnOnce(&mut Tmalloc<HeapSource>) -> R) -> Option<R> {
    HEAP.lock().get_or_init().map(f)
}

/// Why [`init_tmalloc`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The heap already holds memory under another policy.
    HeapInUse(PolicyKind),
    /// There is no memory for the heap's own bookkeeping.
    NoMemory,
}

/// Chooses the policy. Allowed until the heap first takes memory; after
/// that, only a call naming the policy already in use succeeds.
pub fn init_tmalloc(kind: PolicyKind) -> Result<(), InitError> {
    let mut global = HEAP.lock();
    match global.get() {
        Some(h) if h.kind() == kind => Ok(()),
        Some(h) if !h.regions().is_empty() || h.stats().live_blocks > 0 => {
            Err(InitError::HeapInUse(h.kind()))
        }
        _ => global.set(Tmalloc::new(kind, main_source())).ok_or(InitError::NoMemory),
    }
}

/// The policy in use (the default until a heap exists).
pub fn tmalloc_policy() -> PolicyKind {
    HEAP.lock().get().map_or(PolicyKind::DEFAULT, Tmalloc::kind)
}

/// `malloc`: `size` bytes, 16-byte aligned, or `None`.
pub fn tmalloc(size: usize) -> Option<NonNull<u8>> {
    with_heap(|h| h.alloc(size, MALLOC_ALIGN))?
}

/// `size` bytes at `align` (a power of two): no padding beyond what the
/// alignment needs, so 8-byte-aligned callers may get 8-byte granularity.
pub fn tmalloc_aligned(size: usize, align: usize) -> Option<NonNull<u8>> {
    with_heap(|h| h.alloc(size, align))?
}

/// `calloc`: `count * size` zeroed bytes; `None` if the product overflows.
pub fn tcalloc(count: usize, size: usize) -> Option<NonNull<u8>> {
    with_heap(|h| h.calloc(count, size, MALLOC_ALIGN))?
}

/// `free`: `None` does nothing; misuse aborts.
pub fn tfree(ptr: Option<NonNull<u8>>) {
    let Some(p) = ptr else { return };
    match with_heap(|h| h.try_free(ptr)) {
        Some(Ok(())) => {}
        Some(Err(what)) => report::misuse("tfree", p, what),
        // No heap: nothing can be ours.
        None => report::misuse("tfree", p, Misuse::InvalidPointer),
    }
}

/// `realloc`: moves or resizes in place; `None` ptr allocates; size 0 frees
/// and returns `None`, as glibc does. On failure the old block is untouched.
pub fn trealloc(ptr: Option<NonNull<u8>>, size: usize) -> Option<NonNull<u8>> {
    let Some(p) = ptr else { return tmalloc(size) };
    if size == 0 {
        tfree(ptr);
        return None;
    }
    match with_heap(|h| h.try_realloc(p, size, MALLOC_ALIGN)) {
        Some(Ok(new)) => new,
        Some(Err(what)) => report::misuse("trealloc", p, what),
        None => report::misuse("trealloc", p, Misuse::InvalidPointer),
    }
}

/// `malloc_usable_size`: 0 for `None`; misuse aborts.
pub fn tmalloc_usable_size(ptr: Option<NonNull<u8>>) -> usize {
    let Some(p) = ptr else { return 0 };
    match with_heap(|h| h.try_usable_size(p)) {
        Some(Ok(size)) => size,
        Some(Err(what)) => report::misuse("tmalloc_usable_size", p, what),
        None => report::misuse("tmalloc_usable_size", p, Misuse::InvalidPointer),
    }
}

/// The heap's counters and free-memory figures.
pub fn tmalloc_stats() -> Stats {
    with_heap(|h| h.stats()).unwrap_or_default()
}

/// Verifies every invariant of the heap.
pub fn tmalloc_check() -> Result<Totals, HeapError> {
    with_heap(|h| h.check()).unwrap_or(Ok(Totals::default()))
}

/// Takes every lock of the allocator, so that a `fork` copies no heap in
/// the middle of a change. Call in the parent just before `fork`
/// (`pthread_atfork`'s prepare), then [`after_fork_in_parent`] or
/// [`after_fork_in_child`] on each side.
pub fn before_fork() {
    core::mem::forget(HEAP.lock());
}

/// Releases what [`before_fork`] took, in the parent.
pub fn after_fork_in_parent() {
    // SAFETY: `before_fork` took the lock on this thread and forgot the guard.
    unsafe { HEAP.force_unlock() };
}

/// Releases what [`before_fork`] took, in the child (which has only the
/// thread that forked).
pub fn after_fork_in_child() {
    // SAFETY: as in the parent.
    unsafe { HEAP.force_unlock() };
}

/// Tells the allocator that the calling thread is ending: what it keeps
/// for itself goes back to the shared heaps. Threads the allocator does not
/// see end (killed ones) lose nothing but that.
pub fn thread_exit() {}

/// tmalloc as a Rust program's allocator:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOCATOR: tmalloc_alloc::global::GlobalTmalloc = tmalloc_alloc::global::GlobalTmalloc;
/// ```
pub struct GlobalTmalloc;

// SAFETY: blocks come from the process-wide heap, aligned as asked (any
// power of two), at least `layout.size()` bytes, and go back to it.
unsafe impl GlobalAlloc for GlobalTmalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // A Rust program with a global allocator still has glibc's malloc
        // (for libc's own needs): the break is not ours.
        use_mapped_memory();
        tmalloc_aligned(layout.size(), layout.align()).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        use_mapped_memory();
        match layout.align() {
            align if align <= MALLOC_ALIGN => tcalloc(1, layout.size()),
            align => tmalloc_aligned(layout.size(), align).inspect(|p| {
                // SAFETY: a fresh block of at least `size` bytes.
                unsafe { p.as_ptr().write_bytes(0, layout.size()) }
            }),
        }
        .map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        tfree(NonNull::new(ptr))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            return trealloc(NonNull::new(ptr), new_size).map_or(core::ptr::null_mut(), NonNull::as_ptr);
        }
        // SAFETY: forwarded from the caller.
        let new = unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size; they are distinct.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            tfree(NonNull::new(ptr));
        }
        new
    }
}

pub mod capi;

/// The process-wide heap owns the program break, which glibc's malloc owns
/// in the test process: these tests run in a forked child that never returns
/// to glibc, and report through its exit status.
#[cfg(test)]
mod tests {
    use super::*;
    use tmalloc_sys::{ExitStatus, Forked, exit_group, fork, signal, wait4};

    /// Runs `checks` in a child; returns how the child ended. The child
    /// exits with the number of the first failed check, or 0.
    fn in_child(checks: fn() -> i32) -> ExitStatus {
        match fork().unwrap() {
            Forked::Child => exit_group(checks()),
            Forked::Parent(pid) => wait4(pid).unwrap(),
        }
    }

    #[test]
    fn the_global_heap_behaves_like_malloc() {
        let status = in_child(|| {
            let Some(a) = tmalloc(100) else { return 1 };
            if !(a.as_ptr() as usize).is_multiple_of(MALLOC_ALIGN) || tmalloc_usable_size(Some(a)) < 100 {
                return 2;
            }
            // SAFETY: 100 bytes are ours.
            unsafe { a.as_ptr().write_bytes(7, 100) };
            let Some(b) = trealloc(Some(a), 5000) else { return 3 };
            // SAFETY: the first 100 bytes moved with the block.
            if unsafe { *b.as_ptr().add(99) } != 7 {
                return 4;
            }
            let Some(z) = tcalloc(10, 10) else { return 5 };
            // SAFETY: 100 zeroed bytes.
            if (0..100).any(|i| unsafe { *z.as_ptr().add(i) } != 0) {
                return 6;
            }
            if tcalloc(usize::MAX, 2).is_some() || tmalloc(usize::MAX).is_some() {
                return 7;
            }
            if init_tmalloc(PolicyKind::Buddy).is_ok() || init_tmalloc(PolicyKind::DEFAULT).is_err() {
                return 8; // memory is held: only the policy in use may be named
            }
            tfree(Some(b));
            tfree(Some(z));
            tfree(None);
            if trealloc(tmalloc(8), 0).is_some() || tmalloc_usable_size(None) != 0 {
                return 9;
            }
            match tmalloc_check() {
                Ok(totals) if totals.used_blocks == 0 => 0,
                _ => 10,
            }
        });
        assert_eq!(status, ExitStatus::Exited(0));
    }

    #[test]
    fn the_c_abi_chooses_policies_by_name_before_first_use() {
        let status = in_child(|| {
            // SAFETY: NUL-terminated names, or null.
            unsafe {
                if capi::init_tmalloc(c"no-such-policy".as_ptr()) != -1
                    || capi::init_tmalloc(core::ptr::null()) != -1
                {
                    return 1;
                }
                if capi::init_tmalloc(c"best-fit".as_ptr()) != 0 || tmalloc_policy() != PolicyKind::BestFit {
                    return 2;
                }
                let p = capi::tmalloc(64);
                if p.is_null() || capi::tmalloc_usable_size(p) < 64 {
                    return 3;
                }
                if capi::init_tmalloc(c"tlsf".as_ptr()) != -1 || capi::init_tmalloc(c"best-fit".as_ptr()) != 0
                {
                    return 4;
                }
                capi::tfree(p);
            }
            if capi::tmalloc_check() != 0 { 5 } else { 0 }
        });
        assert_eq!(status, ExitStatus::Exited(0));
    }

    #[test]
    fn a_double_free_aborts_the_process() {
        let status = in_child(|| {
            let p = tmalloc(24);
            tfree(p);
            tfree(p);
            0
        });
        assert_eq!(status, ExitStatus::Signaled(signal::SIGABRT));
    }
}
