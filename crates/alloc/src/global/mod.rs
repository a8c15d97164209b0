//! The process-wide allocator: `tmalloc`, `tfree` and friends.
//!
//! Rust functions first; [`capi`] mirrors each with an `extern "C"` function
//! of the same name, so that they can be called from C and from gdb
//! (`print (void*) tmalloc(64)`, `call tfree($1)`).
//!
//! Like `malloc`, nothing needs setting up: the first call creates the heap
//! with the default policy on the program break. [`init_tmalloc`] chooses
//! another policy, before the heap holds memory.
//!
//! Misuse (freeing a pointer tmalloc did not return, twice, or in the
//! middle) ends the process with SIGABRT and a message naming the call and
//! the address, as glibc does.

use core::ptr::NonNull;

use tmalloc_sync::Lock;

use crate::error::{HeapError, Misuse, Totals};
use crate::front::{Stats, Tmalloc};
use crate::policy::PolicyKind;
use crate::report;
use crate::source::{Brk, PAGE, align_up, map_metadata};

/// The alignment of every `tmalloc` block: enough for any C type.
pub const MALLOC_ALIGN: usize = 16;

/// The process-wide heap, made on first use, in a mapping of its own: a
/// process that never calls `tmalloc` (each of the experiment's contenders,
/// which build heaps of their own) carries no byte of it, and its size
/// counts against nobody's `RLIMIT_AS`.
struct Global {
    heap: Option<NonNull<Tmalloc<Brk>>>,
}

// SAFETY: the heap's raw pointers point into memory only the heap uses; the
// lock around Global serialises every access.
unsafe impl Send for Global {}

impl Global {
    fn get(&self) -> Option<&Tmalloc<Brk>> {
        // SAFETY: a heap made by `set`, alive as long as the process.
        self.heap.map(|h| unsafe { h.as_ref() })
    }

    fn get_or_init(&mut self) -> Option<&mut Tmalloc<Brk>> {
        if self.heap.is_none() {
            self.set(Tmalloc::new(PolicyKind::DEFAULT, Brk::new()))?;
        }
        // SAFETY: made above or before; the lock makes this the only reference.
        self.heap.map(|mut h| unsafe { h.as_mut() })
    }

    /// Puts `heap` in place of the current one (dropped), mapping room for
    /// it the first time; `None` if that mapping fails.
    fn set(&mut self, heap: Tmalloc<Brk>) -> Option<()> {
        match self.heap {
            // SAFETY: the old heap is ours and nothing refers to it now.
            Some(old) => unsafe {
                old.drop_in_place();
                old.write(heap);
            },
            None => {
                let room = align_up(size_of::<Tmalloc<Brk>>(), PAGE)?;
                let place = map_metadata(room).ok()?.cast::<Tmalloc<Brk>>();
                // SAFETY: a fresh mapping, large enough and page-aligned.
                unsafe { place.write(heap) };
                self.heap = Some(place);
            }
        }
        Some(())
    }
}

static HEAP: Lock<Global> = Lock::new(Global { heap: None });

/// Runs `f` on the heap; `None` if there is none and none can be made.
fn with_heap<R>(f: impl FnOnce(&mut Tmalloc<Brk>) -> R) -> Option<R> {
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
        _ => global.set(Tmalloc::new(kind, Brk::new())).ok_or(InitError::NoMemory),
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
