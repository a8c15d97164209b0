//! The `syscall` instruction, with 0 to 6 arguments.
//!
//! The x86_64 Linux system call convention:
//!
//! | register | carries                                    |
//! |----------|--------------------------------------------|
//! | `rax`    | the system call number in, the result out  |
//! | `rdi`    | argument 1                                 |
//! | `rsi`    | argument 2                                 |
//! | `rdx`    | argument 3                                 |
//! | `r10`    | argument 4 (not `rcx`, as in the C ABI)    |
//! | `r8`     | argument 5                                 |
//! | `r9`     | argument 6                                 |
//! | `rcx`    | clobbered: the CPU saves the return `rip`  |
//! | `r11`    | clobbered: the CPU saves `rflags`          |
//!
//! The result is the raw return value: `-4095..=-1` is `-errno`, anything
//! else is success. [`crate::calls`] turns it into a `Result`. The kernel
//! touches no stack of ours, so every block is `nostack`.

use core::arch::asm;

/// Issues system call `nr` with no argument.
///
/// # Safety
///
/// The call must be sound for this process: the kernel does whatever `nr`
/// means, and that may unmap memory, end the process, or write through
/// pointers the caller did not vouch for.
#[inline(always)]
pub unsafe fn syscall0(nr: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the call; the asm follows the convention above.
    unsafe {
        asm!(
            "syscall",                       // enter the kernel
            inlateout("rax") nr => ret,      // number in, result out
            lateout("rcx") _,                // saved rip
            lateout("r11") _,                // saved rflags
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Issues system call `nr` with one argument.
///
/// # Safety
///
/// As [`syscall0`], and `a1` must be what the call expects.
#[inline(always)]
pub unsafe fn syscall1(nr: usize, a1: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the call; the asm follows the convention above.
    unsafe {
        asm!(
            "syscall",                       // enter the kernel
            inlateout("rax") nr => ret,      // number in, result out
            in("rdi") a1,                    // argument 1
            lateout("rcx") _,                // saved rip
            lateout("r11") _,                // saved rflags
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Issues system call `nr` with two arguments.
///
/// # Safety
///
/// As [`syscall0`], and the arguments must be what the call expects.
#[inline(always)]
pub unsafe fn syscall2(nr: usize, a1: usize, a2: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the call; the asm follows the convention above.
    unsafe {
        asm!(
            "syscall",                       // enter the kernel
            inlateout("rax") nr => ret,      // number in, result out
            in("rdi") a1,                    // argument 1
            in("rsi") a2,                    // argument 2
            lateout("rcx") _,                // saved rip
            lateout("r11") _,                // saved rflags
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Issues system call `nr` with three arguments.
///
/// # Safety
///
/// As [`syscall0`], and the arguments must be what the call expects.
#[inline(always)]
pub unsafe fn syscall3(nr: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the call; the asm follows the convention above.
    unsafe {
        asm!(
            "syscall",                       // enter the kernel
            inlateout("rax") nr => ret,      // number in, result out
            in("rdi") a1,                    // argument 1
            in("rsi") a2,                    // argument 2
            in("rdx") a3,                    // argument 3
            lateout("rcx") _,                // saved rip
            lateout("r11") _,                // saved rflags
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Issues system call `nr` with four arguments.
///
/// # Safety
///
/// As [`syscall0`], and the arguments must be what the call expects.
#[inline(always)]
pub unsafe fn syscall4(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the call; the asm follows the convention above.
    unsafe {
        asm!(
            "syscall",                       // enter the kernel
            inlateout("rax") nr => ret,      // number in, result out
            in("rdi") a1,                    // argument 1
            in("rsi") a2,                    // argument 2
            in("rdx") a3,                    // argument 3
            in("r10") a4,                    // argument 4
            lateout("rcx") _,                // saved rip
            lateout("r11") _,                // saved rflags
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Issues system call `nr` with five arguments.
///
/// # Safety
///
/// As [`syscall0`], and the arguments must be what the call expects.
#[inline(always)]
pub unsafe fn syscall5(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the call; the asm follows the convention above.
    unsafe {
        asm!(
            "syscall",                       // enter the kernel
            inlateout("rax") nr => ret,      // number in, result out
            in("rdi") a1,                    // argument 1
            in("rsi") a2,                    // argument 2
            in("rdx") a3,                    // argument 3
            in("r10") a4,                    // argument 4
            in("r8") a5,                     // argument 5
            lateout("rcx") _,                // saved rip
            lateout("r11") _,                // saved rflags
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Issues system call `nr` with six arguments.
///
/// # Safety
///
/// As [`syscall0`], and the arguments must be what the call expects.
#[inline(always)]
pub unsafe fn syscall6(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the call; the asm follows the convention above.
    unsafe {
        asm!(
            "syscall",                       // enter the kernel
            inlateout("rax") nr => ret,      // number in, result out
            in("rdi") a1,                    // argument 1
            in("rsi") a2,                    // argument 2
            in("rdx") a3,                    // argument 3
            in("r10") a4,                    // argument 4
            in("r8") a5,                     // argument 5
            in("r9") a6,                     // argument 6
            lateout("rcx") _,                // saved rip
            lateout("r11") _,                // saved rflags
            options(nostack, preserves_flags)
        );
    }
    ret
}
