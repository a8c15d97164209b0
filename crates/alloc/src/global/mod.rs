//! The process-wide allocator: `tmalloc`, `tfree` and friends.
//!
//! Rust functions first; [`capi`] mirrors each with an `extern "C"` function
//! of the same name, so that they can be called from C and from gdb
//! (`print (void*) tmalloc(64)`, `call tfree($1)`).
//!
//! Like `malloc`, nothing needs setting up: the first call creates the main
//! arena with the default policy, on the program break, or in mmapped heaps
//! once [`use_mapped_memory`] said the break may have another user. Threads
//! get arenas of their own ([`arena`] explains which).
//! [`init_tmalloc`] chooses another policy, before the heap holds memory.
//! [`GlobalTmalloc`] serves Rust programs as their `#[global_allocator]`.
//!
//! Misuse (freeing a pointer tmalloc did not return, twice, or in the
//! middle) ends the process with SIGABRT and a message naming the call and
//! the address, as glibc does.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::{HeapError, Misuse, Totals};
use crate::front::{Stats, Tmalloc};
use crate::policy::PolicyKind;
use crate::report;
use crate::source::{Brk, HeapSource, MmapHeap};

mod arena;
mod thread;

pub use arena::MAX_ARENAS;

/// The alignment of every `tmalloc` block: enough for any C type.
pub const MALLOC_ALIGN: usize = 16;

/// Whether the process-wide heap must stay off the program break.
static MAPPED_ONLY: AtomicBool = AtomicBool::new(false);

/// Says that something else in the process may move the program break
/// (glibc's malloc, in a hosted program), so the main arena must grow in
/// mmapped heaps ([`MmapHeap`]) as the others do. [`GlobalTmalloc`] says so
/// on its first call, and `libtmalloc.so` on its; the freestanding binary
/// never does, and its main arena grows on the break, as the classic
/// `malloc`'s. Takes effect for a main arena not made yet.
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

/// Runs `alloc` in the calling thread's arena, and once more in another
/// arena if that fails (glibc's `arena_get_retry`).
fn alloc_with(alloc: impl Fn(&mut Tmalloc<HeapSource>) -> Option<NonNull<u8>>) -> Option<NonNull<u8>> {
    let mine = arena::current()?;
    if let Some(p) = alloc(&mut mine.heap.lock()) {
        return Some(p);
    }
    let other = if mine.index == 0 { arena::all().find(|a| a.index != 0)? } else { arena::main()? };
    alloc(&mut other.heap.lock())
}

/// Runs `f` on the heap of the arena that owns `ptr`, or reports `ptr` as
/// no block of tmalloc's on behalf of `call`.
fn with_owner<R>(
    call: &str,
    ptr: NonNull<u8>,
    f: impl FnOnce(&mut Tmalloc<HeapSource>) -> Result<R, Misuse>,
) -> R {
    let Some(arena) = arena::owning(ptr.as_ptr() as usize) else {
        report::misuse(call, ptr, Misuse::InvalidPointer)
    };
    match f(&mut arena.heap.lock()) {
        Ok(r) => r,
        Err(what) => report::misuse(call, ptr, what),
    }
}

/// Why [`init_tmalloc`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The heap already holds memory under another policy.
    HeapInUse(PolicyKind),
    /// There is no memory for the heap's own bookkeeping.
    NoMemory,
}

/// Chooses the policy of every arena. Allowed until the main arena first
/// takes memory (and before a second arena exists); after that, only a
/// call naming the policy already in use succeeds.
pub fn init_tmalloc(kind: PolicyKind) -> Result<(), InitError> {
    arena::choose_policy(kind).map_err(|in_use| in_use.map_or(InitError::NoMemory, InitError::HeapInUse))
}

/// The policy in use (the default until a heap exists).
pub fn tmalloc_policy() -> PolicyKind {
    arena::get(0).map_or(PolicyKind::DEFAULT, |a| a.heap.lock().kind())
}

/// `malloc`: `size` bytes, 16-byte aligned, or `None`.
pub fn tmalloc(size: usize) -> Option<NonNull<u8>> {
    alloc_with(|h| h.alloc(size, MALLOC_ALIGN))
}

/// `size` bytes at `align` (a power of two): no padding beyond what the
/// alignment needs, so 8-byte-aligned callers may get 8-byte granularity.
pub fn tmalloc_aligned(size: usize, align: usize) -> Option<NonNull<u8>> {
    alloc_with(|h| h.alloc(size, align))
}

/// `calloc`: `count * size` zeroed bytes; `None` if the product overflows.
pub fn tcalloc(count: usize, size: usize) -> Option<NonNull<u8>> {
    alloc_with(|h| h.calloc(count, size, MALLOC_ALIGN))
}

/// `free`: `None` does nothing; misuse aborts. The block goes back to the
/// arena that owns it, whichever thread frees it.
pub fn tfree(ptr: Option<NonNull<u8>>) {
    let Some(p) = ptr else { return };
    with_owner("tfree", p, |h| h.try_free(ptr))
}

/// `realloc`: moves or resizes in place (in the block's own arena); `None`
/// ptr allocates; size 0 frees and returns `None`, as glibc does. On
/// failure the old block is untouched.
pub fn trealloc(ptr: Option<NonNull<u8>>, size: usize) -> Option<NonNull<u8>> {
    let Some(p) = ptr else { return tmalloc(size) };
    if size == 0 {
        tfree(ptr);
        return None;
    }
    with_owner("trealloc", p, |h| h.try_realloc(p, size, MALLOC_ALIGN))
}

/// `malloc_usable_size`: 0 for `None`; misuse aborts.
pub fn tmalloc_usable_size(ptr: Option<NonNull<u8>>) -> usize {
    let Some(p) = ptr else { return 0 };
    with_owner("tmalloc_usable_size", p, |h| h.try_usable_size(p))
}

/// One arena's figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct ArenaStats {
    /// Its number (0: the main arena).
    pub index: usize,
    /// Threads using it now.
    pub threads: usize,
    pub stats: Stats,
}

/// The figures of arena `n`, if it exists.
pub fn arena_stats(n: usize) -> Option<ArenaStats> {
    let a = arena::get(n)?;
    let stats = a.heap.lock().stats();
    Some(ArenaStats { index: n, threads: arena::threads(a), stats })
}

/// How many arenas exist.
pub fn arena_count() -> usize {
    arena::count()
}

/// Every arena's counters and free-memory figures, added up (each peak is
/// the sum of the arenas' peaks, which need not have come at once).
pub fn tmalloc_stats() -> Stats {
    (0..arena::count()).filter_map(arena_stats).fold(Stats::default(), |sum, a| sum.plus(&a.stats))
}

/// Verifies every invariant of every arena.
pub fn tmalloc_check() -> Result<Totals, HeapError> {
    let mut totals = Totals::default();
    for a in arena::all() {
        totals = totals.plus(&a.heap.lock().check()?);
    }
    Ok(totals)
}

/// Takes every lock of the allocator, so that a `fork` copies no heap in
/// the middle of a change. Call in the parent just before `fork`
/// (`pthread_atfork`'s prepare), then [`after_fork_in_parent`] or
/// [`after_fork_in_child`] on each side.
pub fn before_fork() {
    arena::lock_all();
}

/// Releases what [`before_fork`] took, in the parent.
pub fn after_fork_in_parent() {
    arena::unlock_all();
}

/// Releases what [`before_fork`] took, in the child, which has only the
/// thread that forked: the other threads' arenas are free for new threads.
pub fn after_fork_in_child() {
    arena::unlock_all();
    arena::forget_other_threads();
}

/// Tells the allocator that the calling thread is ending: its arena goes
/// to the next new thread (its blocks stay where they are, usable and
/// freeable from any thread).
pub fn thread_exit() {
    arena::detach();
}

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
