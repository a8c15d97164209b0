//! What can go wrong: misuse by the caller, and broken heap invariants.

use core::fmt;

/// A caller's mistake that tmalloc detects at `tfree` / `trealloc` /
/// `tmalloc_usable_size`. The C ABI aborts on it, naming the call and the
/// address, as glibc does (`free(): invalid pointer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// The address is not one tmalloc returned: outside the heap and not a
    /// large mapping, or inside the heap but not at the start of a block.
    InvalidPointer,
    /// The address is not aligned as every block tmalloc returns is.
    Misaligned,
    /// The block is already free.
    DoubleFree,
    /// The block's header or its neighbour's contradicts itself: the heap
    /// was overwritten (a buffer overflow), or the pointer is an interior one.
    Corrupted,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Misuse::InvalidPointer => "invalid pointer",
            Misuse::Misaligned => "misaligned pointer",
            Misuse::DoubleFree => "double free",
            Misuse::Corrupted => "corrupted block header",
        })
    }
}

/// A broken invariant found by `check()`: what, where, and the two numbers
/// that disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapError {
    pub what: &'static str,
    pub at: usize,
    pub found: usize,
    pub expected: usize,
}

impl HeapError {
    pub const fn new(what: &'static str, at: usize, found: usize, expected: usize) -> HeapError {
        HeapError { what, at, found, expected }
    }
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {:#x} (found {}, expected {})", self.what, self.at, self.found, self.expected)
    }
}

/// Turns a failed condition into a [`HeapError`].
pub(crate) fn ensure(
    ok: bool,
    what: &'static str,
    at: usize,
    found: usize,
    expected: usize,
) -> Result<(), HeapError> {
    if ok { Ok(()) } else { Err(HeapError::new(what, at, found, expected)) }
}

/// One block, as a heap walk reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// The address a caller sees (the payload), or the block start for free blocks.
    pub addr: usize,
    /// Bytes the block occupies, its metadata included.
    pub size: usize,
    /// Bytes the caller may use (0 for free blocks).
    pub usable: usize,
    pub state: BlockState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    Used,
    Free,
    /// A large block in its own mapping.
    Mapped,
    /// The policy's own bookkeeping inside the heap (a slab run's header).
    Meta,
}

/// What a heap walk counted: the numbers `check()` compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub used_blocks: usize,
    pub used_bytes: usize,
    pub free_blocks: usize,
    pub free_bytes: usize,
    pub largest_free: usize,
}

impl Totals {
    pub fn count(&mut self, block: &BlockInfo) {
        match block.state {
            BlockState::Used | BlockState::Mapped => {
                self.used_blocks += 1;
                self.used_bytes += block.usable;
            }
            BlockState::Free => {
                self.free_blocks += 1;
                self.free_bytes += block.size;
                self.largest_free = self.largest_free.max(block.size);
            }
            BlockState::Meta => {}
        }
    }

    /// Two heaps' totals as one.
    pub fn plus(&self, other: &Totals) -> Totals {
        Totals {
            used_blocks: self.used_blocks + other.used_blocks,
            used_bytes: self.used_bytes + other.used_bytes,
            free_blocks: self.free_blocks + other.free_blocks,
            free_bytes: self.free_bytes + other.free_bytes,
            largest_free: self.largest_free.max(other.largest_free),
        }
    }
}
