//! The process entry point.
//!
//! The kernel starts a static executable at `_start` with nothing set up but
//! the stack (argc, argv, envp, the auxiliary vector: the runtime reads
//! them). `_start` must be assembly: there is no valid Rust frame yet, the
//! stack pointer is 16-byte aligned *at* entry while the ABI wants it
//! aligned *before a call*, and the frame-pointer chain must end here.
//!
//! The host test executables are ordinary glibc programs with their own
//! `_start`, so this cannot be a plain item of a library: [`entry_point!`]
//! writes it into the binary that asks for it, and into nothing else.

/// Defines `_start` in the calling crate, which must be the `no_main`
/// binary. `_start` calls `$entry`, an `unsafe extern "C" fn(*const usize)
/// -> !`, with the kernel's initial stack pointer (the address of `argc`).
#[macro_export]
macro_rules! entry_point {
    ($entry:path) => {
        // Registers at entry: rsp = &argc (16-byte aligned), rdx = a function
        // to register with atexit (0 for static programs; ignored),
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
            entry = sym $entry,
        );
    };
}
