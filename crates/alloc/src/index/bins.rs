//! An array of free lists with a two-level bitmap of the non-empty ones:
//! the index structure of TLSF, shared with the segregated policy.
//!
//! ```text
//!   summary  0b…0101            bit w set ⇔ words[w] != 0
//!   words[0] 0b…1000_0100       bit b set ⇔ lists[64·w + b] is non-empty
//!   words[1] 0
//!   words[2] 0b…0001
//!   lists    [ ∅ ∅ ● ∅ ∅ ∅ ∅ ● … ]
//! ```
//!
//! "The first non-empty list at or after `i`" is two count-trailing-zeros
//! instructions, whatever the number of lists: O(1).

use core::ptr::NonNull;

use crate::error::{HeapError, ensure};
use crate::list::{Linked, List};

/// `N` lists of free elements `T`, tracked by `W` bitmap words
/// (`W * 64 >= N`, `W <= 64`).
pub(crate) struct Bins<const N: usize, const W: usize, T: Linked> {
    summary: u64,
    words: [u64; W],
    lists: [List<T>; N],
}

impl<const N: usize, const W: usize, T: Linked> Default for Bins<N, W, T> {
    fn default() -> Self {
        Bins::new()
    }
}

impl<const N: usize, const W: usize, T: Linked> Bins<N, W, T> {
    pub(crate) const fn new() -> Bins<N, W, T> {
        assert!(W * 64 >= N && W <= 64);
        Bins { summary: 0, words: [0; W], lists: [const { List::new() }; N] }
    }

    /// `bin`, which callers keep below `N`, clamped so that the compiler
    /// sees it in bounds: no bounds check and panic path on the hot paths.
    #[inline]
    fn clamp(bin: usize) -> usize {
        debug_assert!(bin < N, "bin {bin} of {N}");
        bin.min(N - 1)
    }

    pub(crate) fn list(&self, bin: usize) -> &List<T> {
        &self.lists[Self::clamp(bin)]
    }

    /// # Safety
    ///
    /// `elem` must be free and in no list.
    #[inline]
    pub(crate) unsafe fn insert(&mut self, bin: usize, elem: NonNull<T>) {
        let bin = Self::clamp(bin);
        // SAFETY: forwarded from the caller.
        unsafe { self.lists[bin].push_front(elem) };
        self.words[bin / 64] |= 1 << (bin % 64);
        self.summary |= 1 << (bin / 64);
    }

    /// # Safety
    ///
    /// `elem` must be in list `bin`.
    #[inline]
    pub(crate) unsafe fn remove(&mut self, bin: usize, elem: NonNull<T>) {
        let bin = Self::clamp(bin);
        // SAFETY: forwarded from the caller.
        unsafe { self.lists[bin].remove(elem) };
        if self.lists[bin].is_empty() {
            self.words[bin / 64] &= !(1 << (bin % 64));
            if self.words[bin / 64] == 0 {
                self.summary &= !(1 << (bin / 64));
            }
        }
    }

    /// The first non-empty list at index `bin` or above.
    #[inline]
    pub(crate) fn first_at_or_after(&self, bin: usize) -> Option<usize> {
        if bin >= N {
            return None;
        }
        let (w, b) = (bin / 64, bin % 64);
        let here = self.words[w] & (!0u64 << b);
        if here != 0 {
            return Some(w * 64 + here.trailing_zeros() as usize);
        }
        let later = if w + 1 >= 64 { 0 } else { self.summary & (!0u64 << (w + 1)) };
        if later == 0 {
            return None;
        }
        // A summary bit is only ever set for a word that exists.
        let w = (later.trailing_zeros() as usize).min(W - 1);
        Some(w * 64 + self.words[w].trailing_zeros() as usize)
    }

    /// Checks every list, the bitmaps, and that each block is free (as
    /// `size_of` judges, returning its size) and sits in the bin `bin_of`
    /// assigns its size; returns the blocks and bytes held.
    pub(crate) fn check(
        &self,
        size_of: impl Fn(NonNull<T>) -> Result<usize, HeapError>,
        bin_of: impl Fn(usize) -> usize,
    ) -> Result<(usize, usize), HeapError> {
        let (mut count, mut bytes) = (0, 0);
        for (bin, list) in self.lists.iter().enumerate() {
            list.check(list.len() + 1)?;
            let marked = self.words[bin / 64] & (1 << (bin % 64)) != 0;
            ensure(marked != list.is_empty(), "bin bitmap disagrees with its list", bin, marked as usize, 1)?;
            for elem in list.iter() {
                let size = size_of(elem)?;
                ensure(
                    bin_of(size) == bin,
                    "a free block is in the wrong bin",
                    elem.as_ptr() as usize,
                    bin,
                    bin_of(size),
                )?;
                bytes += size;
            }
            count += list.len();
        }
        for (w, &word) in self.words.iter().enumerate() {
            ensure(
                (self.summary >> w) & 1 == (word != 0) as u64,
                "bin summary disagrees with its word",
                w,
                (self.summary >> w) as usize & 1,
                (word != 0) as usize,
            )?;
        }
        Ok((count, bytes))
    }
}
