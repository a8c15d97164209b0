//! The C ABI: the process-wide heap's functions, callable from C and from
//! gdb (`print (void*) tmalloc(64)`, `call tfree($1)`).

use core::ffi::{CStr, c_char, c_int, c_void};
use core::ptr::NonNull;

use crate::policy::PolicyKind;
use crate::report;

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

/// Every C entry point, for a binary to keep with `#[used]`: without a
/// caller the linker would drop them, and gdb could not call them.
pub struct EntryPoints {
    pub init_tmalloc: unsafe extern "C" fn(*const c_char) -> c_int,
    pub tmalloc: extern "C" fn(usize) -> *mut c_void,
    pub tmalloc_aligned: extern "C" fn(usize, usize) -> *mut c_void,
    pub tcalloc: extern "C" fn(usize, usize) -> *mut c_void,
    pub trealloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    pub tfree: unsafe extern "C" fn(*mut c_void),
    pub tmalloc_usable_size: unsafe extern "C" fn(*mut c_void) -> usize,
    pub tmalloc_check: extern "C" fn() -> c_int,
}

pub const ENTRY_POINTS: EntryPoints = EntryPoints {
    init_tmalloc,
    tmalloc,
    tmalloc_aligned,
    tcalloc,
    trealloc,
    tfree,
    tmalloc_usable_size,
    tmalloc_check,
};

/// Checks the heap: 0 if every invariant holds, else prints what is
/// broken on stderr and returns -1.
#[unsafe(no_mangle)]
pub extern "C" fn tmalloc_check() -> c_int {
    match super::tmalloc_check() {
        Ok(_) => 0,
        Err(e) => {
            report::eprint_line(format_args!("tmalloc_check: {e}"));
            -1
        }
    }
}
