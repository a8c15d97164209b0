//! The process entry point and the C symbols a libc would have provided.
//!
//! The kernel starts a static executable at `_start` with nothing set up but
//! the stack (see [`crate::rt::startup`] for what is on it). `_start` must be
//! assembly: there is no valid Rust frame yet, the stack pointer is 16-byte
//! aligned *at* entry while the ABI wants it aligned *before a call*, and the
//! frame-pointer chain must end here.
//!
//! The host test executables are ordinary glibc programs with their own
//! `_start` and `memcpy`, so these definitions cannot live in the library as
//! plain items. [`freestanding_runtime!`](crate::freestanding_runtime) writes
//! them into the binary that asks for them, and into nothing else.

/// Defines `_start`, `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`,
/// `strlen` and `rust_eh_personality` in the calling crate, which must be the `no_main`
/// binary; `_start` runs [`crate::rt::start`] with `$main`.
///
/// `$main` is `fn(&tmalloc::rt::Startup) -> i32`; its result is the exit code.
#[macro_export]
macro_rules! freestanding_runtime {
    ($main:path) => {
        // The entry point. Registers at entry: rsp = &argc (16-byte aligned),
        // rdx = a function to register with atexit (0 for static programs; ignored),
        // everything else unspecified.
        ::core::arch::global_asm!(
            ".pushsection .text.start, \"ax\", @progbits",
            ".globl _start",
            ".type _start, @function",
            "_start:",
            ".cfi_startproc",
            ".cfi_undefined rip",        // tell unwinders and gdb: no caller above this frame
            "    xor ebp, ebp",          // rbp = 0: the end of the frame-pointer chain
            "    mov rdi, rsp",          // argument 1: the initial stack pointer (&argc)
            "    and rsp, -16",          // keep 16-byte alignment (already so per the ABI)
            "    call {entry}",          // pushes a return address: callee sees rsp % 16 == 8
            "    ud2",                   // entry never returns; trap if it ever does
            ".cfi_endproc",
            ".size _start, . - _start",
            ".popsection",
            entry = sym __tmalloc_entry,
        );

        /// Called by `_start` with the initial stack pointer.
        ///
        /// # Safety
        ///
        /// Only `_start` calls it, once, with the pointer the kernel gave.
        unsafe extern "C" fn __tmalloc_entry(initial_sp: *const usize) -> ! {
            // SAFETY: `initial_sp` is the kernel's initial stack pointer.
            unsafe { $crate::rt::start(initial_sp, $main) }
        }

        /// `memcpy(3)`.
        ///
        /// # Safety
        ///
        /// As C's: both ranges valid for `n` bytes, not overlapping.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the caller's contract is that of copy_forward.
            unsafe { $crate::sys::mem::copy_forward(dst, src, n) };
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
            unsafe { $crate::sys::mem::copy(dst, src, n) };
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
            unsafe { $crate::sys::mem::fill(dst, byte as u8, n) };
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
            unsafe { $crate::sys::mem::compare(a, b, n) }
        }

        /// `bcmp(3)`: LLVM emits it for equality-only comparisons.
        ///
        /// # Safety
        ///
        /// As `memcmp`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the caller's contract is that of compare.
            unsafe { $crate::sys::mem::compare(a, b, n) }
        }

        /// `strlen(3)`: `CStr::from_ptr` calls it.
        ///
        /// # Safety
        ///
        /// As C's: `s` points at a NUL-terminated string.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
            // SAFETY: the caller's contract is that of c_string_length.
            unsafe { $crate::sys::mem::c_string_length(s) }
        }

        /// The precompiled `core` is built with unwinding, and an unoptimised
        /// build keeps its references to the personality routine even though
        /// this binary aborts on panic. Nothing ever calls it.
        #[unsafe(no_mangle)]
        pub extern "C" fn rust_eh_personality() {}
    };
}
