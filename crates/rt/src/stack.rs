//! Room on the stack for the children's work.
//!
//! A contender's process builds its allocator (20 KB) and its workload
//! (16 KB) on the stack, and building a tmalloc heap takes 14 KB more of
//! transient stack inside the allocator: Rust builds every value on the
//! stack, and copies it wherever it goes, so a mapping or `.bss` would not
//! spare the stack. Within the 128 KiB the kernel maps for the stack at
//! exec, that costs nothing more against `RLIMIT_AS`, and the numbers the
//! experiment measures are those of the binary alone. Under a small stack
//! limit (`ulimit -s 32`) it would not fit: the work runs on a stack mapped
//! for it ([`with_room`]).

use tmalloc_sys::{self as sys, Errno, map, rlimit};

/// The stack limit from which the kernel's stack is used: the kernel then
/// maps 128 KiB of stack at exec, and lets it grow beyond.
const ROOMY: u64 = 256 << 10;

/// The stack mapped for work when the limit is below [`ROOMY`]: more than
/// any child uses, debug builds included.
const MAPPED_STACK: usize = 256 << 10;

/// A page at the bottom of a mapped stack that no access may touch: an
/// overflow faults there instead of writing over another mapping.
const GUARD: usize = 4096;

/// Whether the stack limit (`ulimit -s`) leaves room for the children's
/// work on the kernel's stack.
pub fn roomy() -> bool {
    sys::prlimit64(0, rlimit::STACK, None).is_ok_and(|limit| limit.cur >= ROOMY)
}

/// Runs `work` on the kernel's stack when the limit leaves room for it
/// ([`roomy`]), else on a stack of 256 KiB mapped for it, with a guard page
/// below; the error is the mapping's.
pub fn with_room(work: &mut dyn FnMut()) -> Result<(), Errno> {
    if roomy() {
        work();
        return Ok(());
    }
    let len = MAPPED_STACK + GUARD;
    let stack = sys::mmap_anonymous(len)?;
    // SAFETY: the guard page is ours, fresh, and nothing points into it;
    // the call runs on the rest of the mapping, which nothing else uses,
    // and ends before the mapping is unmapped.
    unsafe {
        let guarded = sys::mprotect(stack, GUARD, map::PROT_NONE);
        if guarded.is_ok() {
            sys::stack::call_on_stack(stack.add(len), work);
        }
        let _ = sys::munmap(stack, len);
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_stack_with_room() {
        let mut sum = 0u64;
        with_room(&mut || {
            let local = [1u64; 4096];
            sum = local.iter().sum();
        })
        .unwrap();
        assert_eq!(sum, 4096);
    }
}
