//! Steady state: a live set of fixed size in which one random block is
//! replaced per step (freed, then a new one of a random size allocated in
//! its place). It measures what alloc + free cost once the heap is warm.

use core::alloc::Layout;
use core::ptr::NonNull;

use rand_core::Rng;

use super::{Allocator, below};

/// Block sizes: uniform from 8 to 512 bytes, 8-byte aligned.
pub const MIN_SIZE: usize = 8;
pub const MAX_SIZE: usize = 512;

#[inline]
fn draw(rng: &mut impl Rng) -> Layout {
    let size = MIN_SIZE + below(rng.next_u64(), (MAX_SIZE - MIN_SIZE + 1) as u64) as usize;
    Layout::from_size_align(size, 8).expect("small sizes")
}

/// Fills `slots` with live blocks. Returns false if memory ran out.
pub fn fill<A: Allocator>(alloc: &mut A, rng: &mut impl Rng, slots: &mut [(NonNull<u8>, Layout)]) -> bool {
    for slot in slots.iter_mut() {
        let layout = draw(rng);
        let Some(p) = alloc.alloc(layout) else { return false };
        *slot = (p, layout);
    }
    true
}

/// Replaces a random live block `steps` times; returns the operations done
/// (two per step). Returns early if memory runs out.
pub fn replace<A: Allocator>(
    alloc: &mut A,
    rng: &mut impl Rng,
    slots: &mut [(NonNull<u8>, Layout)],
    steps: u64,
) -> u64 {
    for step in 0..steps {
        let i = below(rng.next_u64(), slots.len() as u64) as usize;
        let (p, layout) = slots[i];
        // SAFETY: the slot holds a live block with its layout.
        unsafe { alloc.free(p, layout) };
        let layout = draw(rng);
        let Some(p) = alloc.alloc(layout) else { return step * 2 + 1 };
        // Touch the block, as a program would.
        // SAFETY: the block holds at least 8 bytes.
        unsafe { p.cast::<u64>().write(step) };
        slots[i] = (p, layout);
    }
    steps * 2
}

/// Frees every block in `slots`.
pub fn drain<A: Allocator>(alloc: &mut A, slots: &[(NonNull<u8>, Layout)]) {
    for &(p, layout) in slots {
        // SAFETY: each slot holds a live block with its layout.
        unsafe { alloc.free(p, layout) };
    }
}
