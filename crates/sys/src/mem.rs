//! The byte primitives behind `memcpy`, `memmove`, `memset`, `memcmp` and
//! `strlen`.
//!
//! Without libc, nobody provides those symbols, yet the compiler calls them
//! for every struct copy and slice fill. They are written with x86 string
//! instructions: a loop in Rust could be recognised by LLVM as a `memcpy`
//! idiom and compiled into a call to itself. On CPUs with ERMS (every x86_64
//! since 2012), `rep movsb` / `rep stosb` are also the fast path.
//!
//! The runtime's `freestanding_runtime!` exports them under
//! their C names, in the binary only: host tests keep glibc's.

use core::arch::asm;

/// Copies `n` bytes from `src` to `dst`, low addresses first.
///
/// # Safety
///
/// Both ranges must be valid for `n` bytes; if they overlap, `dst` must not
/// lie above `src` (a forward copy would read bytes it already overwrote).
#[inline(always)]
pub unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller vouches for both ranges. The direction flag is clear,
    // as the ABI guarantees at every call.
    unsafe {
        asm!(
            "rep movsb",                         // while rcx: [rdi++] = [rsi++], rcx--
            inout("rcx") n => _,                 // count
            inout("rdi") dst => _,               // destination cursor
            inout("rsi") src => _,               // source cursor
            options(nostack, preserves_flags)
        );
    }
}

/// Copies `n` bytes from `src` to `dst`, high addresses first, so that an
/// overlapping destination above the source is handled.
///
/// # Safety
///
/// Both ranges must be valid for `n` bytes.
#[inline(always)]
pub unsafe fn copy_backward(dst: *mut u8, src: *const u8, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the caller vouches for both ranges; the cursors start on the
    // last byte of each. The direction flag is restored before returning.
    unsafe {
        asm!(
            "std",                               // set DF: string ops walk downwards
            "rep movsb",                         // while rcx: [rdi--] = [rsi--], rcx--
            "cld",                               // clear DF again, as the ABI requires
            inout("rcx") n => _,                 // count
            inout("rdi") dst.add(n - 1) => _,    // destination cursor, last byte
            inout("rsi") src.add(n - 1) => _,    // source cursor, last byte
            options(nostack)
        );
    }
}

/// Copies `n` bytes between possibly overlapping ranges.
///
/// # Safety
///
/// Both ranges must be valid for `n` bytes.
#[inline(always)]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) {
    // A forward copy is right unless dst starts inside [src, src + n).
    let dst_inside_src = (dst as usize).wrapping_sub(src as usize) < n;
    // SAFETY: forwarded to the caller's guarantee; the direction is chosen so
    // that no byte is read after it was overwritten.
    unsafe { if dst_inside_src { copy_backward(dst, src, n) } else { copy_forward(dst, src, n) } }
}

/// Fills `n` bytes at `dst` with `byte`.
///
/// # Safety
///
/// `dst` must be valid for `n` bytes of writes.
#[inline(always)]
pub unsafe fn fill(dst: *mut u8, byte: u8, n: usize) {
    // SAFETY: the caller vouches for the range; DF is clear per the ABI.
    unsafe {
        asm!(
            "rep stosb",                         // while rcx: [rdi++] = al, rcx--
            inout("rcx") n => _,                 // count
            inout("rdi") dst => _,               // destination cursor
            in("al") byte,                       // the fill byte
            options(nostack, preserves_flags)
        );
    }
}

/// Compares `n` bytes; returns the difference of the first unequal pair
/// (`a[i] - b[i]` as unsigned bytes), or 0 when they are equal.
///
/// # Safety
///
/// Both ranges must be valid for `n` bytes of reads.
#[inline(always)]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    let left: usize;
    // SAFETY: the caller vouches for both ranges; DF is clear per the ABI.
    unsafe {
        asm!(
            "repe cmpsb",                        // while rcx and [rsi++] == [rdi++]: rcx--
            inout("rcx") n => left,              // count; what is left when it stopped
            inout("rsi") a => _,                 // cursor in a
            inout("rdi") b => _,                 // cursor in b
            options(nostack, readonly)
        );
    }
    // `repe cmpsb` stops one past the pair it compared last: that pair is at
    // index n - left - 1, and it is the first unequal one if they differ.
    let i = n - left - 1;
    // SAFETY: i < n.
    let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
    x as i32 - y as i32
}

/// The length of the NUL-terminated string at `s`, without the NUL.
///
/// # Safety
///
/// `s` must point at a NUL-terminated string.
#[inline(always)]
pub unsafe fn c_string_length(s: *const u8) -> usize {
    let left: usize;
    // SAFETY: the caller vouches for the terminator, so the scan stops inside
    // the string; DF is clear per the ABI.
    unsafe {
        asm!(
            "repne scasb",                       // while rcx and [rdi++] != al: rcx--
            inout("rcx") usize::MAX => left,     // count: as many as it takes
            inout("rdi") s => _,                 // cursor
            in("al") 0u8,                        // the byte looked for: NUL
            options(nostack, readonly)
        );
    }
    // The scan consumed the string and its NUL: usize::MAX - left bytes.
    usize::MAX - left - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_handles_both_overlaps() {
        let mut buf: [u8; 10] = core::array::from_fn(|i| i as u8);
        let p = buf.as_mut_ptr();
        // SAFETY: all ranges lie inside `buf`.
        unsafe { copy(p.add(2), p, 6) }; // dst above src: must copy backwards
        assert_eq!(buf, [0, 1, 0, 1, 2, 3, 4, 5, 8, 9]);
        let mut buf: [u8; 10] = core::array::from_fn(|i| i as u8);
        let p = buf.as_mut_ptr();
        // SAFETY: as above.
        unsafe { copy(p, p.add(2), 6) }; // dst below src: forwards
        assert_eq!(buf, [2, 3, 4, 5, 6, 7, 6, 7, 8, 9]);
    }

    #[test]
    fn c_string_length_stops_at_the_nul() {
        // SAFETY: literals with a NUL.
        unsafe {
            assert_eq!(c_string_length(c"".as_ptr().cast()), 0);
            assert_eq!(c_string_length(c"tmalloc".as_ptr().cast()), 7);
            let interior_nul = [b'a', b'b', 0, b'c', 0];
            assert_eq!(c_string_length(interior_nul.as_ptr()), 2);
        }
    }

    #[test]
    fn fill_and_compare() {
        let mut a = [0u8; 33];
        // SAFETY: inside `a`.
        unsafe { fill(a.as_mut_ptr().add(1), 0xAB, 31) };
        assert_eq!(a[0], 0);
        assert!(a[1..32].iter().all(|&b| b == 0xAB));
        assert_eq!(a[32], 0);
        let b = a;
        // SAFETY: both 33 bytes long.
        unsafe {
            assert_eq!(compare(a.as_ptr(), b.as_ptr(), 33), 0);
            assert_eq!(compare(a.as_ptr(), b.as_ptr(), 0), 0);
        }
        let mut c = a;
        c[20] = 0xAC;
        // SAFETY: both 33 bytes long.
        unsafe {
            assert_eq!(compare(a.as_ptr(), c.as_ptr(), 33), -1);
            assert_eq!(compare(c.as_ptr(), a.as_ptr(), 33), 1);
            assert_eq!(compare(c.as_ptr(), a.as_ptr(), 20), 0);
        }
    }
}
