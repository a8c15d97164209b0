//! The suite every policy passes: the same tests, run for each.

extern crate std;

use core::ptr::NonNull;
use std::vec::Vec;

use super::*;
use crate::pattern;
use crate::testing::{Faulty, TestMemory};

/// [`pattern::fill`] over a whole block the test allocated.
pub fn fill(p: NonNull<u8>, len: usize, seed: u64) {
    // SAFETY: the tests pass live blocks of at least `len` bytes.
    unsafe { pattern::fill(p, 0, len, seed) }
}

/// [`pattern::intact`] on a block the test allocated.
pub fn intact(p: NonNull<u8>, len: usize, seed: u64) -> bool {
    // SAFETY: as for fill.
    unsafe { pattern::intact(p, len, seed) }
}

fn each_policy(mut test: impl FnMut(PolicyKind, Tmalloc<Arena>)) {
    let memory = TestMemory::new(64 << 20);
    for kind in PolicyKind::ALL {
        test(kind, Tmalloc::new(kind, memory.arena()));
    }
}

#[test]
fn blocks_are_aligned_disjoint_and_keep_their_contents() {
    each_policy(|kind, mut t| {
        let mut live = Vec::new();
        for (i, &(size, align)) in [
            (1, 16),
            (20, 8),
            (24, 8),
            (32, 8),
            (100, 16),
            (1000, 64),
            (4000, 4096),
            (70_000, 16),
            (200_000, 16),
        ]
        .iter()
        .cycle()
        .take(90)
        .enumerate()
        {
            let p = t.alloc(size, align).unwrap_or_else(|| panic!("{kind}: alloc({size}, {align})"));
            assert_eq!(p.as_ptr() as usize % align, 0, "{kind}: alignment {align}");
            assert!(t.try_usable_size(p).unwrap() >= size, "{kind}");
            fill(p, size, i as u64);
            live.push((p, size, i as u64));
            if i % 3 == 2 {
                let (p, size, seed) = live.remove(i % live.len());
                assert!(intact(p, size, seed), "{kind}: contents of a {size}-byte block");
                t.try_free(Some(p)).unwrap();
            }
            t.check().unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
        let mut spans: Vec<(usize, usize)> = live.iter().map(|&(p, s, _)| (p.as_ptr() as usize, s)).collect();
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{kind}: blocks overlap");
        }
        for (p, size, seed) in live {
            assert!(intact(p, size, seed), "{kind}");
            t.try_free(Some(p)).unwrap();
        }
        let totals = t.check().unwrap();
        assert_eq!((totals.used_blocks, totals.used_bytes), (0, 0), "{kind}");
        assert_eq!(t.stats().live_blocks, 0);
    });
}

#[test]
fn zero_bytes_gives_a_unique_freeable_pointer() {
    each_policy(|kind, mut t| {
        let a = t.alloc(0, 16).unwrap();
        let b = t.alloc(0, 16).unwrap();
        assert_ne!(a, b, "{kind}");
        t.try_free(Some(a)).unwrap();
        t.try_free(Some(b)).unwrap();
        t.try_free(None).unwrap();
        t.check().unwrap();
    });
}

#[test]
fn overflowing_sizes_return_none() {
    each_policy(|kind, mut t| {
        for size in [usize::MAX, usize::MAX - 7, usize::MAX / 2, isize::MAX as usize] {
            assert_eq!(t.alloc(size, 16), None, "{kind}: alloc({size})");
            assert_eq!(t.alloc(size, 4096), None, "{kind}");
        }
        assert_eq!(t.alloc(16, 3), None, "{kind}: alignment must be a power of two");
        t.check().unwrap();
    });
}

#[test]
fn misuse_is_detected_and_leaves_the_heap_intact() {
    each_policy(|kind, mut t| {
        let keep = t.alloc(200, 16).unwrap();
        fill(keep, 200, 7);
        let a = t.alloc(256, 16).unwrap();
        let guard = t.alloc(64, 16).unwrap(); // keeps `a` from merging with the top

        let on_stack = 0u64;
        let outside = NonNull::from(&on_stack).cast::<u8>();
        assert_eq!(t.try_free(Some(outside)), Err(Misuse::InvalidPointer), "{kind}: not from the heap");
        // SAFETY: only the address is used.
        let misaligned = unsafe { a.add(1) };
        assert!(
            matches!(t.try_free(Some(misaligned)), Err(Misuse::Misaligned | Misuse::InvalidPointer)),
            "{kind}"
        );
        // SAFETY: as above.
        let interior = unsafe { a.add(128) };
        assert!(t.try_free(Some(interior)).is_err(), "{kind}: interior pointer");
        t.try_free(Some(a)).unwrap();
        assert_eq!(t.try_free(Some(a)), Err(Misuse::DoubleFree), "{kind}: second free");
        assert_eq!(t.try_usable_size(a), Err(Misuse::DoubleFree), "{kind}");

        let big = t.alloc(300_000, 16).unwrap();
        t.try_free(Some(big)).unwrap();
        assert_eq!(t.try_free(Some(big)), Err(Misuse::InvalidPointer), "{kind}: large block freed twice");

        assert!(intact(keep, 200, 7), "{kind}");
        t.check().unwrap_or_else(|e| panic!("{kind}: {e}"));
        t.try_free(Some(guard)).unwrap();
        t.try_free(Some(keep)).unwrap();
        t.check().unwrap();
    });
}

#[test]
fn small_double_frees_are_caught_in_every_size() {
    each_policy(|kind, mut t| {
        for size in [1, 16, 20, 24, 32, 48, 100, 128, 129, 500] {
            let a = t.alloc(size, 8).unwrap();
            let b = t.alloc(size, 8).unwrap();
            t.try_free(Some(a)).unwrap();
            assert_eq!(t.try_free(Some(a)), Err(Misuse::DoubleFree), "{kind}: size {size}");
            t.try_free(Some(b)).unwrap();
            t.check().unwrap();
        }
    });
}

#[test]
fn realloc_grows_and_shrinks_in_place_when_the_neighbour_allows() {
    each_policy(|kind, mut t| {
        let a = t.alloc(1000, 16).unwrap();
        fill(a, 1000, 1);
        let b = t.alloc(1000, 16).unwrap();
        let _fence = t.alloc(1000, 16).unwrap();
        t.try_free(Some(b)).unwrap();
        let grown = t.try_realloc(a, 1500, 16).unwrap().unwrap();
        if kind != PolicyKind::Buddy {
            assert_eq!(grown, a, "{kind}: grows into the free neighbour");
        }
        assert!(intact(grown, 1000, 1), "{kind}");
        let shrunk = t.try_realloc(grown, 200, 16).unwrap().unwrap();
        assert_eq!(shrunk, grown, "{kind}: shrinks in place");
        assert!(intact(shrunk, 200, 1), "{kind}");
        t.check().unwrap_or_else(|e| panic!("{kind}: {e}"));
        let moved = t.try_realloc(shrunk, 50_000, 16).unwrap().unwrap();
        assert!(intact(moved, 200, 1), "{kind}");
        t.check().unwrap();
    });
}

#[test]
fn large_blocks_get_their_own_mapping_and_a_size_that_comes_back_is_kept() {
    each_policy(|kind, mut t| {
        let before = t.stats();
        let p = t.alloc(MMAP_THRESHOLD, 16).unwrap();
        fill(p, MMAP_THRESHOLD, 3);
        let during = t.stats();
        assert_eq!(during.mmap_calls, before.mmap_calls + 1, "{kind}");
        assert_eq!(during.mapped_blocks, 1);
        t.try_free(Some(p)).unwrap();
        let after = t.stats();
        assert_eq!(after.munmap_calls, before.munmap_calls + 1, "{kind}: a first size goes back");
        assert_eq!(after.kernel_bytes, before.kernel_bytes, "{kind}");
        // The same size again: this time its mapping is kept, and serves
        // the same size and a bit more without another system call.
        let q = t.alloc(MMAP_THRESHOLD, 16).unwrap();
        t.try_free(Some(q)).unwrap();
        let kept = t.stats();
        assert_eq!(
            (kept.mmap_calls, kept.munmap_calls),
            (after.mmap_calls + 1, after.munmap_calls),
            "{kind}"
        );
        for size in [MMAP_THRESHOLD, MMAP_THRESHOLD + 1000] {
            let q = t.alloc(size, 16).unwrap();
            assert!(t.try_usable_size(q).unwrap() >= size);
            fill(q, size, 4);
            t.try_free(Some(q)).unwrap();
        }
        let last = t.stats();
        assert_eq!((last.mmap_calls, last.munmap_calls), (kept.mmap_calls, kept.munmap_calls), "{kind}");
        // Too large to keep: always unmapped at once. (Mapping it first
        // gives the kept spare back: spares never add to what is held.)
        for _ in 0..2 {
            let big = t.alloc(SPARE_BYTES + 1, 16).unwrap();
            t.try_free(Some(big)).unwrap();
        }
        assert_eq!(t.stats().munmap_calls, last.munmap_calls + 1 + 2, "{kind}");
        assert_eq!(t.stats().kernel_bytes, before.kernel_bytes, "{kind}");
        t.check().unwrap();
    });
}

#[test]
fn spare_mappings_go_back_before_the_heap_grows() {
    for kind in PolicyKind::ALL {
        let memory = TestMemory::new(3 << 20);
        let mut t = Tmalloc::new(kind, memory.arena());
        for _ in 0..2 {
            let large = t.alloc(1 << 20, 16).unwrap();
            t.try_free(Some(large)).unwrap();
        }
        assert_eq!(t.stats().kernel_bytes, (1 << 20) + 4096, "{kind}: the second mapping is kept");
        // The heap needs the arena: the spare goes back first.
        let mut small = Vec::new();
        while let Some(p) = t.alloc(1000, 16) {
            small.push(p);
        }
        let held = small.len() * 1000;
        assert!(held > 2_200_000, "{kind}: only {held} bytes: the spare was not given back");
        assert_eq!(t.stats().munmap_calls, 2, "{kind}");
        for p in small {
            t.try_free(Some(p)).unwrap();
        }
        t.check().unwrap();
    }
}

#[test]
fn free_at_the_top_gives_memory_back_only_past_the_trim_threshold() {
    each_policy(|kind, mut t| {
        if kind == PolicyKind::Buddy {
            return; // documented: buddy never trims
        }
        let small: Vec<_> = (0..100).map(|_| t.alloc(1000, 16).unwrap()).collect();
        let held = t.stats().kernel_bytes;
        t.try_free(Some(small[99])).unwrap();
        assert_eq!(t.stats().kernel_bytes, held, "{kind}: a small free gives nothing back");
        let big: Vec<_> = (0..100).map(|_| t.alloc(60_000, 16).unwrap()).collect();
        let grown = t.stats().kernel_bytes;
        assert!(grown >= held + 6_000_000, "{kind}");
        for p in big.into_iter().rev() {
            t.try_free(Some(p)).unwrap();
        }
        let trimmed = t.stats().kernel_bytes;
        assert!(trimmed < grown - 5_000_000, "{kind}: trimmed {grown} -> {trimmed}");
        assert!(t.stats().brk_calls > 0);
        t.check().unwrap_or_else(|e| panic!("{kind}: {e}"));
        for p in &small[..99] {
            t.try_free(Some(*p)).unwrap();
        }
    });
}

/// A program that fills its heap and empties it again, over and over,
/// regrows and trims in its first cycles only: the trim threshold rises
/// with each trim, so the kernel calls over the whole run stop growing and
/// stay within 4 per MiB of the peak.
#[test]
fn filling_and_emptying_over_and_over_does_not_go_up_and_down() {
    each_policy(|kind, mut t| {
        if kind == PolicyKind::Buddy {
            return; // documented: buddy never trims
        }
        let calls = |t: &Tmalloc<Arena>| {
            let s = t.stats();
            s.brk_calls + s.mmap_calls + s.munmap_calls
        };
        let mut after_three = 0;
        for cycle in 0..20 {
            let blocks: Vec<_> = (0..6_000).map(|_| t.alloc(1000, 16).unwrap()).collect();
            for p in blocks.into_iter().rev() {
                t.try_free(Some(p)).unwrap();
            }
            if cycle == 2 {
                after_three = calls(&t);
            }
        }
        let peak_mib = t.stats().peak_kernel_bytes.div_ceil(1 << 20) as u64;
        assert!(calls(&t) <= 4 * peak_mib, "{kind}: {} calls for a peak of {peak_mib} MiB", calls(&t));
        assert_eq!(calls(&t), after_three, "{kind}: calls after 3 cycles and after 20");
        t.check().unwrap();
    });
}

/// Steps of at least GROW_STEP that grow with the heap: 8 MiB in 14.
#[test]
fn the_heap_grows_in_steps_that_grow_with_it() {
    each_policy(|kind, mut t| {
        let mut live = Vec::new();
        while t.source().counters().total_bytes() < 8 << 20 {
            live.push(t.alloc(100, 8).unwrap());
        }
        let calls = t.stats().brk_calls;
        assert!(calls <= 2 * 8, "{kind}: {calls} growths for 8 MiB");
    });
}

#[test]
fn a_refused_growth_is_not_asked_for_again_until_memory_goes_back() {
    each_policy(|kind, _| {
        let memory = TestMemory::new(1 << 20);
        let mut t = Tmalloc::new(kind, memory.arena());
        let mut live = Vec::new();
        while let Some(p) = t.alloc(3000, 8) {
            live.push(p);
        }
        let calls = t.stats().brk_calls;
        for _ in 0..100 {
            assert_eq!(t.alloc(3000, 8), None);
        }
        let asked = t.stats().brk_calls - calls;
        assert!(asked <= 100, "{kind}: {asked} growth requests for 100 failures: one at most each");
        for p in live {
            t.try_free(Some(p)).unwrap();
        }
        assert!(t.alloc(3000, 8).is_some(), "{kind}: memory is usable again");
    });
}

#[test]
fn a_failing_source_returns_none_and_loses_nothing() {
    for kind in PolicyKind::ALL {
        let memory = TestMemory::new(16 << 20);
        // Fail the k-th request for memory, for every k the workload reaches.
        for k in 1..=12 {
            let mut t = Tmalloc::new(kind, Faulty::new(memory.arena(), k));
            let mut live: Vec<(NonNull<u8>, usize, u64)> = Vec::new();
            let mut failed = false;
            for i in 0..400u64 {
                let size = [24, 200, 3000, 40_000, 150_000][i as usize % 5];
                match t.alloc(size, 16) {
                    Some(p) => {
                        fill(p, size, i);
                        live.push((p, size, i));
                    }
                    None => {
                        failed = true;
                        t.check().unwrap_or_else(|e| panic!("{kind}, k={k}: {e}"));
                        for &(p, size, seed) in &live {
                            assert!(intact(p, size, seed), "{kind}, k={k}: a live block changed");
                        }
                        t.source_mut().failing = false;
                        let p = t.alloc(size, 16).unwrap_or_else(|| panic!("{kind}, k={k}: memory is back"));
                        live.push((p, size, i));
                        fill(p, size, i);
                    }
                }
                if i % 4 == 3 {
                    let (p, size, seed) = live.swap_remove((i as usize * 7) % live.len());
                    assert!(intact(p, size, seed));
                    t.try_free(Some(p)).unwrap();
                }
            }
            assert!(failed, "{kind}: request {k} was made");
            for (p, size, seed) in live {
                assert!(intact(p, size, seed));
                t.try_free(Some(p)).unwrap();
            }
            t.check().unwrap();
        }
    }
}
