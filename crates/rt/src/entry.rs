//! What a freestanding binary must define itself: the entry point and the C
//! symbols the compiler calls (`memcpy` and friends).
//!
//! The host test executables are ordinary glibc programs with their own
//! `_start` and `memcpy`, so these cannot be plain items of a library:
//! [`freestanding_runtime!`] writes them into the binary that asks for
//! them, and into nothing else.

/// Defines `_start`, `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`,
/// `strlen` and `rust_eh_personality` in the calling crate, which must be
/// the `no_main` binary; `_start` runs [`crate::start`] with `$main`.
///
/// `$main` is `fn(&tmalloc_rt::Startup) -> i32`; its result is the exit code.
#[macro_export]
macro_rules! freestanding_runtime {
    ($main:path) => {
        $crate::__sys::entry_point!(__tmalloc_entry);

        /// Called by `_start` with the initial stack pointer.
        ///
        /// # Safety
        ///
        /// Only `_start` calls it, once, with the pointer the kernel gave.
        unsafe extern "C" fn __tmalloc_entry(initial_sp: *const usize) -> ! {
            // SAFETY: `initial_sp` is the kernel's initial stack pointer.
            unsafe { $crate::start(initial_sp, $main) }
        }

        /// `memcpy(3)`.
        ///
        /// # Safety
        ///
        /// As C's: both ranges valid for `n` bytes, not overlapping.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the caller's contract is that of copy_forward.
            unsafe { $crate::__sys::mem::copy_forward(dst, src, n) };
            dst
        }

        /// `memmove(3)`.
        ///
        /// # Safety
        ///
        /// As C's: both ranges valid for `n` bytes; they may overlap.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the caller's contract is that of copy.
            unsafe { $crate::__sys::mem::copy(dst, src, n) };
            dst
        }

        /// `memset(3)`.
        ///
        /// # Safety
        ///
        /// As C's: `dst` valid for `n` bytes of writes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memset(dst: *mut u8, byte: i32, n: usize) -> *mut u8 {
            // SAFETY: the caller's contract is that of fill.
            unsafe { $crate::__sys::mem::fill(dst, byte as u8, n) };
            dst
        }

        /// `memcmp(3)`.
        ///
        /// # Safety
        ///
        /// As C's: both ranges valid for `n` bytes of reads.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the caller's contract is that of compare.
            unsafe { $crate::__sys::mem::compare(a, b, n) }
        }

        /// `bcmp(3)`: LLVM emits it for equality-only comparisons.
        ///
        /// # Safety
        ///
        /// As `memcmp`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the caller's contract is that of compare.
            unsafe { $crate::__sys::mem::compare(a, b, n) }
        }

        /// `strlen(3)`: `CStr::from_ptr` calls it.
        ///
        /// # Safety
        ///
        /// As C's: `s` points at a NUL-terminated string.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
            // SAFETY: the caller's contract is that of c_string_length.
            unsafe { $crate::__sys::mem::c_string_length(s) }
        }

        /// The precompiled `core` is built with unwinding, and an unoptimised
        /// build keeps its references to the personality routine even though
        /// this binary aborts on panic. Nothing ever calls it.
        #[unsafe(no_mangle)]
        pub extern "C" fn rust_eh_personality() {}
    };
}
