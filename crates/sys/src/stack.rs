//! Running a function on a stack of our own.
//!
//! The kernel grows the main stack up to `RLIMIT_STACK` (`ulimit -s`).
//! Under a small limit, work that needs more (an allocator of 20 KB built
//! on the stack, as Rust builds every value) runs on a stack mapped for it
//! instead: [`call_on_stack`] points `rsp` at it for the length of a call.

use core::arch::asm;

/// Calls `f` with the stack pointer at `top`, then returns here on the
/// caller's stack.
///
/// The frame-pointer chain goes on through the switch (the callee pushes
/// our `rbp`), so gdb's backtrace still reaches `_start`.
///
/// # Safety
///
/// `top` must be the 16-byte-aligned end of writable memory that nothing
/// else uses, large enough for everything `f` puts on the stack.
pub unsafe fn call_on_stack(top: *mut u8, f: &mut dyn FnMut()) {
    extern "C" fn trampoline(f: *mut &mut dyn FnMut()) {
        // SAFETY: `call_on_stack` passes a live `&mut &mut dyn FnMut()`.
        unsafe { (*f)() }
    }
    let mut f = f;
    // SAFETY: the caller vouches for the new stack. The old stack pointer
    // waits in r12, which the callee saves (System V ABI); the call is
    // made with rsp 16-byte aligned, as the ABI wants; clobber_abi covers
    // every register the callee may change.
    unsafe {
        asm!(
            "mov r12, rsp",                          // keep our stack pointer
            "mov rsp, {top}",                        // switch to the new stack
            "call {trampoline}",                     // f(), on the new stack
            "mov rsp, r12",                          // back on ours
            top = in(reg) top,
            trampoline = sym trampoline,
            in("rdi") &mut f as *mut &mut dyn FnMut(),
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{mmap_anonymous, munmap};

    #[test]
    fn a_call_runs_on_the_given_stack_and_returns() {
        const LEN: usize = 64 << 10;
        let stack = mmap_anonymous(LEN).unwrap();
        let mut seen = 0usize;
        let mut sum = 0u64;
        // SAFETY: a fresh mapping of LEN bytes, page-aligned, ours alone.
        unsafe {
            call_on_stack(stack.add(LEN), &mut || {
                let local = [3u64; 512];
                seen = &local as *const _ as usize;
                sum = local.iter().sum();
            })
        };
        assert_eq!(sum, 3 * 512);
        assert!((stack as usize..stack as usize + LEN).contains(&seen), "the local was on the new stack");
        // SAFETY: the call is over; nothing points into the mapping.
        unsafe { munmap(stack, LEN).unwrap() };
    }
}
