//! Property tests: random sequences of malloc / calloc / realloc / free,
//! for every policy, checked against a model after every operation.

extern crate std;

use core::ptr::NonNull;
use std::vec::Vec;

use proptest::prelude::*;

use super::tests::{fill, intact};
use super::*;
use crate::testing::TestMemory;

#[derive(Clone, Debug)]
enum Op {
    Malloc { size: usize, align: usize },
    Calloc { count: usize, size: usize },
    Realloc { victim: usize, size: usize },
    Free { victim: usize },
}

/// Sizes from 1 byte to 1 MiB, most of them small, as real programs ask.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        5 => 1usize..=64,
        4 => 65usize..=4096,
        1 => 4097usize..=(1 << 20),
    ]
}

fn align() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(8usize), 4 => Just(16usize), 1 => (5u32..=12).prop_map(|s| 1usize << s)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size(), align()).prop_map(|(size, align)| Op::Malloc { size, align }),
        1 => (1usize..=64, 1usize..=256).prop_map(|(count, size)| Op::Calloc { count, size }),
        2 => (any::<usize>(), size()).prop_map(|(victim, size)| Op::Realloc { victim, size }),
        3 => any::<usize>().prop_map(|victim| Op::Free { victim }),
    ]
}

/// A block the model knows: where, how big, which pattern, which alignment.
struct Live {
    ptr: NonNull<u8>,
    size: usize,
    seed: u64,
    align: usize,
}

/// The block lies in memory the allocator owns, and overlaps no other.
fn assert_placed(t: &Tmalloc<Arena>, live: &[Live], ptr: NonNull<u8>, size: usize, align: usize) {
    let start = ptr.as_ptr() as usize;
    assert_eq!(start % align, 0, "aligned to {align}");
    assert!(t.try_usable_size(ptr).unwrap() >= size, "usable size covers the request");
    if let Some(region) = t.regions().iter().find(|r| r.contains(start)) {
        assert!(start + size <= region.end, "inside its region");
    }
    for other in live {
        let o = other.ptr.as_ptr() as usize;
        assert!(start + size.max(1) <= o || o + other.size.max(1) <= start, "overlaps a live block");
    }
}

fn run(kind: PolicyKind, ops: &[Op]) {
    let memory = TestMemory::new(256 << 20);
    let mut t = Tmalloc::new(kind, memory.arena());
    let mut live: Vec<Live> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let seed = step as u64;
        match *op {
            Op::Malloc { size, align } => {
                let ptr = t.alloc(size, align).expect("the arena is large enough");
                assert_placed(&t, &live, ptr, size, align);
                fill(ptr, size, seed);
                live.push(Live { ptr, size, seed, align });
            }
            Op::Calloc { count, size } => {
                let bytes = count * size;
                let ptr = t.calloc(count, size, 16).expect("the arena is large enough");
                assert_placed(&t, &live, ptr, bytes, 16);
                // SAFETY: the block holds `bytes` bytes.
                assert!((0..bytes).all(|i| unsafe { ptr.as_ptr().add(i).read() } == 0), "calloc zeroes");
                fill(ptr, bytes, seed);
                live.push(Live { ptr, size: bytes, seed, align: 16 });
            }
            Op::Realloc { victim, size } if !live.is_empty() => {
                let old = live.swap_remove(victim % live.len());
                let ptr =
                    t.try_realloc(old.ptr, size, old.align).unwrap().expect("the arena is large enough");
                assert!(intact(ptr, old.size.min(size), old.seed), "realloc keeps the contents");
                assert_placed(&t, &live, ptr, size, old.align);
                fill(ptr, size, seed);
                live.push(Live { ptr, size, seed, align: old.align });
            }
            Op::Free { victim } if !live.is_empty() => {
                let old = live.swap_remove(victim % live.len());
                assert!(intact(old.ptr, old.size, old.seed), "contents kept until free");
                t.try_free(Some(old.ptr)).unwrap();
            }
            _ => {}
        }
        let totals = t.check().unwrap_or_else(|e| panic!("{kind}, after {op:?}: {e}"));
        assert_eq!(totals.used_blocks, live.len(), "{kind}: blocks counted");
    }
    for block in live.drain(..) {
        assert!(intact(block.ptr, block.size, block.seed));
        t.try_free(Some(block.ptr)).unwrap();
    }
    let totals = t.check().unwrap();
    assert_eq!((totals.used_blocks, totals.used_bytes), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_policy_matches_the_model(
        kind in proptest::sample::select(PolicyKind::ALL.to_vec()),
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        run(kind, &ops);
    }
}
