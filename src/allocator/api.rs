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

use crate::allocator::{Brk, HeapError, Misuse, PolicyKind, Stats, Tmalloc, Totals};
use crate::sync::Lock;

/// The alignment of every `tmalloc` block: enough for any C type.
pub const MALLOC_ALIGN: usize = 16;

static HEAP: Lock<Option<Tmalloc<Brk>>> = Lock::new(None);

fn with_heap<R>(f: impl FnOnce(&mut Tmalloc<Brk>) -> R) -> R {
    let mut heap = HEAP.lock();
    f(heap.get_or_insert_with(|| Tmalloc::new(PolicyKind::DEFAULT, Brk::new())))
}

fn misuse(call: &str, ptr: NonNull<u8>, what: Misuse) -> ! {
    crate::rt::abort(format_args!("{call}({:p}): {what}", ptr.as_ptr()))
}

/// Why [`init_tmalloc`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The heap already holds memory under another policy.
    HeapInUse(PolicyKind),
}

/// Chooses the policy. Allowed until the heap first takes memory; after
/// that, only a call naming the policy already in use succeeds.
pub fn init_tmalloc(kind: PolicyKind) -> Result<(), InitError> {
    let mut heap = HEAP.lock();
    match heap.as_ref() {
        Some(h) if h.kind() == kind => Ok(()),
        Some(h) if !h.regions().is_empty() || h.stats().live_blocks > 0 => {
            Err(InitError::HeapInUse(h.kind()))
        }
        _ => {
            *heap = Some(Tmalloc::new(kind, Brk::new()));
            Ok(())
        }
    }
}

/// The policy in use (the default until a heap exists).
pub fn tmalloc_policy() -> PolicyKind {
    HEAP.lock().as_ref().map_or(PolicyKind::DEFAULT, Tmalloc::kind)
}

/// `malloc`: `size` bytes, 16-byte aligned, or `None`.
pub fn tmalloc(size: usize) -> Option<NonNull<u8>> {
    with_heap(|h| h.alloc(size, MALLOC_ALIGN))
}

/// `size` bytes at `align` (a power of two): no padding beyond what the
/// alignment needs, so 8-byte-aligned callers may get 8-byte granularity.
pub fn tmalloc_aligned(size: usize, align: usize) -> Option<NonNull<u8>> {
    with_heap(|h| h.alloc(size, align))
}

/// `calloc`: `count * size` zeroed bytes; `None` if the product overflows.
pub fn tcalloc(count: usize, size: usize) -> Option<NonNull<u8>> {
    with_heap(|h| h.calloc(count, size, MALLOC_ALIGN))
}

/// `free`: `None` does nothing; misuse aborts.
pub fn tfree(ptr: Option<NonNull<u8>>) {
    with_heap(|h| {
        if let (Some(p), Err(what)) = (ptr, h.try_free(ptr)) {
            misuse("tfree", p, what)
        }
    })
}

/// `realloc`: moves or resizes in place; `None` ptr allocates; size 0 frees
/// and returns `None`, as glibc does. On failure the old block is untouched.
pub fn trealloc(ptr: Option<NonNull<u8>>, size: usize) -> Option<NonNull<u8>> {
    let Some(p) = ptr else { return tmalloc(size) };
    if size == 0 {
        tfree(ptr);
        return None;
    }
    with_heap(|h| h.try_realloc(p, size, MALLOC_ALIGN).unwrap_or_else(|what| misuse("trealloc", p, what)))
}

/// `malloc_usable_size`: 0 for `None`; misuse aborts.
pub fn tmalloc_usable_size(ptr: Option<NonNull<u8>>) -> usize {
    let Some(p) = ptr else { return 0 };
    with_heap(|h| h.try_usable_size(p).unwrap_or_else(|what| misuse("tmalloc_usable_size", p, what)))
}

/// The heap's counters and free-memory figures.
pub fn tmalloc_stats() -> Stats {
    with_heap(|h| h.stats())
}

/// Verifies every invariant of the heap.
pub fn tmalloc_check() -> Result<Totals, HeapError> {
    with_heap(|h| h.check())
}

/// Runs `f` on the process-wide heap, if it exists (for reports).
pub fn with_global_heap<R>(f: impl FnOnce(&Tmalloc<Brk>) -> R) -> Option<R> {
    HEAP.lock().as_ref().map(f)
}

/// The C ABI: the same functions, callable from C and gdb.
pub mod capi {
    use core::ffi::{CStr, c_char, c_int, c_void};
    use core::ptr::NonNull;

    use crate::allocator::PolicyKind;

    /// Chooses the policy by name (`slab-tlsf`, `tlsf`, `first-fit`, …, or
    /// `default`). Returns 0, or -1 for an unknown name or a heap that
    /// already holds memory under another policy.
    ///
    /// # Safety
    ///
    /// `name` must be null or a NUL-terminated string.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn init_tmalloc(name: *const c_char) -> c_int {
        if name.is_null() {
            return -1;
        }
        // SAFETY: the caller passes a NUL-terminated string.
        let name = unsafe { CStr::from_ptr(name) };
        match PolicyKind::from_name(name.to_bytes()) {
            Some(kind) if super::init_tmalloc(kind).is_ok() => 0,
            _ => -1,
        }
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn tmalloc(size: usize) -> *mut c_void {
        super::tmalloc(size).map_or(core::ptr::null_mut(), |p| p.as_ptr().cast())
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn tmalloc_aligned(size: usize, align: usize) -> *mut c_void {
        super::tmalloc_aligned(size, align).map_or(core::ptr::null_mut(), |p| p.as_ptr().cast())
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn tcalloc(count: usize, size: usize) -> *mut c_void {
        super::tcalloc(count, size).map_or(core::ptr::null_mut(), |p| p.as_ptr().cast())
    }

    /// # Safety
    ///
    /// `ptr` must be null or a live block from tmalloc; anything else is
    /// detected where the checks can see it (then the process aborts).
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn trealloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        super::trealloc(NonNull::new(ptr.cast()), size).map_or(core::ptr::null_mut(), |p| p.as_ptr().cast())
    }

    /// # Safety
    ///
    /// As [`trealloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn tfree(ptr: *mut c_void) {
        super::tfree(NonNull::new(ptr.cast()))
    }

    /// # Safety
    ///
    /// As [`trealloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn tmalloc_usable_size(ptr: *mut c_void) -> usize {
        super::tmalloc_usable_size(NonNull::new(ptr.cast()))
    }

    /// Checks the heap: 0 if every invariant holds, else prints what is
    /// broken on stderr and returns -1.
    #[unsafe(no_mangle)]
    pub extern "C" fn tmalloc_check() -> c_int {
        match super::tmalloc_check() {
            Ok(_) => 0,
            Err(e) => {
                crate::eprintln!("tmalloc_check: {e}");
                -1
            }
        }
    }
}
