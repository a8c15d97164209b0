//! A pattern to fill blocks with and check later: how the test suite and
//! the trace replay see that an allocator kept every block's contents.
//! Each block's pattern derives from a seed of its own, so a block that
//! overlaps another, or moves without its bytes, is caught. Any byte range
//! of a block can be written or checked alone (a realloc fills only what
//! it added).

use core::ptr::{self, NonNull};

/// The pattern's 8 bytes at word `index` of a block with `seed`: a
/// splitmix64 step, so neighbouring words and blocks differ.
fn word(seed: u64, index: usize) -> [u8; 8] {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_add(0xD1B5_4A32_D192_ED03);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)).to_le_bytes()
}

/// Calls `each(offset, pattern bytes)` for the pattern over bytes
/// `from..to` of a block, a word (or part of one) at a time, until `each`
/// says stop; returns whether it never did.
#[inline]
fn each_piece(seed: u64, from: usize, to: usize, mut each: impl FnMut(usize, &[u8]) -> bool) -> bool {
    let mut at = from;
    while at < to {
        let index = at / 8;
        let end = ((index + 1) * 8).min(to);
        let w = word(seed, index);
        if !each(at, &w[at % 8..at % 8 + (end - at)]) {
            return false;
        }
        at = end;
    }
    true
}

/// Writes the pattern of `seed` into bytes `from..to` of the block at `p`.
///
/// # Safety
///
/// `p` must be valid for writes of `to` bytes.
pub unsafe fn fill(p: NonNull<u8>, from: usize, to: usize, seed: u64) {
    each_piece(seed, from, to, |at, bytes| {
        // SAFETY: `at + bytes.len() <= to` (the caller's promise).
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr().add(at), bytes.len()) };
        true
    });
}

/// Whether the first `len` bytes of the block at `p` hold the pattern of `seed`.
///
/// # Safety
///
/// `p` must be valid for reads of `len` bytes.
pub unsafe fn intact(p: NonNull<u8>, len: usize, seed: u64) -> bool {
    each_piece(seed, 0, len, |at, bytes| {
        // SAFETY: `at + bytes.len() <= len` (the caller's promise).
        unsafe { core::slice::from_raw_parts(p.as_ptr().add(at), bytes.len()) == bytes }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn patterns_differ_between_blocks_and_words() {
        assert_ne!(word(1, 0), word(2, 0));
        assert_ne!(word(1, 0), word(1, 1));
        let mut seen = Vec::new();
        each_piece(3, 5, 21, |at, bytes| {
            seen.push((at, bytes.len()));
            true
        });
        assert_eq!(seen, [(5, 3), (8, 8), (16, 5)]);
    }
}
