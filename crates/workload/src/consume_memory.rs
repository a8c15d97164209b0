//! consume_memory, the experiment of the original C project.
//!
//! Each step draws an operation: 3 times out of 4 allocate, once free.
//! An allocation is a list head (two pointers, 16 bytes) plus a payload the
//! RNG picks; the block is linked into a list *through its own first
//! bytes*, as in the original, so the workload keeps no memory of its own
//! outside the allocator. A free unlinks a live block and frees it; a free
//! with nothing live is skipped. The run ends at the first failed
//! allocation, and counts the successful calls before it.
//!
//! ```text
//!   block:  ┌──────────┬──────────┬──────────┬────────────────┐
//!           │ next     │ prev     │ size u32 │ payload …      │
//!           └──────────┴──────────┴──────────┴────────────────┘
//!             the list head (16 B)  the block's own size, so that a
//!                                   free can pass it back (allocators
//!                                   such as linked_list_allocator need it)
//! ```
//!
//! Patterns: [`Pattern::Lifo`] frees the most recently allocated live block
//! (the original); [`Pattern::Random`] frees a uniformly random live block.
//! For that the live blocks are spread over [`BUCKETS`] lists, so the k-th
//! live block is found by skipping whole lists and then walking one.
//!
//! Sizes: [`Sizes::Seed`] is the original's 16 + 4, 8 or 16 bytes;
//! [`Sizes::Wide`] is log-uniform up to 4 KiB: an octave (16–31, 32–63, …,
//! 2048–4095) uniformly, then a size within it, and never below 20 bytes,
//! the smallest block that holds the list head and the size.

use core::alloc::Layout;
use core::ptr::NonNull;

use rand_core::Rng;

use super::{Allocator, below};
use tmalloc_alloc::list::{Link, Linked, List};

/// Which live block a free takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// The most recently allocated: a stack, as the original.
    Lifo,
    /// A uniformly random one.
    Random,
}

/// Which sizes allocations ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizes {
    /// 16 + 4, 8 or 16 bytes: 20, 24 or 32.
    Seed,
    /// Log-uniform from 20 bytes to 4 KiB.
    Wide,
}

impl Pattern {
    pub const fn name(self) -> &'static str {
        match self {
            Pattern::Lifo => "lifo",
            Pattern::Random => "random",
        }
    }
}

impl Sizes {
    pub const fn name(self) -> &'static str {
        match self {
            Sizes::Seed => "seed",
            Sizes::Wide => "wide",
        }
    }

    /// A size for one allocation.
    #[inline]
    pub fn draw(self, rng: &mut impl Rng) -> usize {
        match self {
            Sizes::Seed => HEAD + [4, 8, 16][below(rng.next_u64(), 3) as usize],
            Sizes::Wide => {
                let octave = HEAD << below(rng.next_u64(), 8);
                let low = octave.max(MIN_BLOCK);
                low + below(rng.next_u64(), (2 * octave - low) as u64) as usize
            }
        }
    }
}

/// The list head at the start of every block.
const HEAD: usize = 16;
/// Where a block keeps its own size.
const SIZE_AT: usize = HEAD;
/// The smallest block: the list head and the size.
const MIN_BLOCK: usize = SIZE_AT + 4;
/// Blocks are aligned for the list head, and no more: the allocator may
/// not pad them to 16 bytes on our account.
pub const ALIGN: usize = 8;
/// Lists the live blocks are spread over for random frees.
pub const BUCKETS: usize = 1024;

/// A live block, as the workload sees it.
#[repr(C)]
struct Node {
    link: Link,
}

// SAFETY: the link is the first field.
unsafe impl Linked for Node {
    #[inline]
    fn link(this: NonNull<Self>) -> NonNull<Link> {
        this.cast()
    }
    #[inline]
    unsafe fn from_link(link: NonNull<Link>) -> NonNull<Self> {
        link.cast()
    }
}

/// # Safety
///
/// `node` must be a live block of this workload.
#[inline]
unsafe fn size_of(node: NonNull<Node>) -> usize {
    // SAFETY: every block has at least HEAD + 4 bytes; the size sits after the head.
    unsafe { node.cast::<u8>().add(SIZE_AT).cast::<u32>().read_unaligned() as usize }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, ALIGN).expect("workload sizes are small")
}

/// The result of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Successful calls: allocations plus frees.
    pub calls: u64,
    pub allocs: u64,
    pub frees: u64,
    /// Live blocks and their requested bytes when the run ended.
    pub live_blocks: u64,
    pub live_bytes: u64,
    /// The size whose allocation failed (0 if the run stopped at its call budget).
    pub failed_size: usize,
}

/// The experiment's state: the live blocks, linked through themselves.
pub struct ConsumeMemory {
    pattern: Pattern,
    sizes: Sizes,
    buckets: [List<Node>; BUCKETS],
    outcome: Outcome,
}

impl ConsumeMemory {
    pub fn new(pattern: Pattern, sizes: Sizes) -> ConsumeMemory {
        ConsumeMemory {
            pattern,
            sizes,
            buckets: [const { List::new() }; BUCKETS],
            outcome: Outcome::default(),
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Runs until an allocation fails, or until `max_calls` successful
    /// calls; `progress` is called every 2^16 calls.
    pub fn run<A: Allocator + ?Sized, R: Rng>(
        &mut self,
        alloc: &mut A,
        rng: &mut R,
        max_calls: u64,
        progress: &mut dyn FnMut(&Outcome),
    ) -> Outcome {
        while self.outcome.calls < max_calls {
            if below(rng.next_u64(), 4) < 3 {
                let size = self.sizes.draw(rng);
                let Some(ptr) = alloc.alloc(layout(size)) else {
                    self.outcome.failed_size = size;
                    break;
                };
                // SAFETY: the block is fresh, at least HEAD + 4 bytes, 8-aligned.
                unsafe { self.adopt(ptr, size) };
            } else if self.outcome.live_blocks > 0 {
                let victim = match self.pattern {
                    Pattern::Lifo => 0,
                    Pattern::Random => below(rng.next_u64(), self.outcome.live_blocks),
                };
                // SAFETY: victim < live blocks; the block is ours to free.
                unsafe { self.release(alloc, victim) };
            } else {
                continue;
            }
            self.outcome.calls += 1;
            if self.outcome.calls & 0xffff == 0 {
                progress(&self.outcome);
            }
        }
        self.outcome
    }

    /// Frees every live block (the calls are not counted).
    pub fn free_all<A: Allocator + ?Sized>(&mut self, alloc: &mut A) {
        for list in &mut self.buckets {
            while let Some(node) = list.pop_front() {
                // SAFETY: every listed node is a live block of this workload.
                unsafe { alloc.free(node.cast(), layout(size_of(node))) };
            }
        }
        self.outcome.live_blocks = 0;
        self.outcome.live_bytes = 0;
    }

    /// Links a fresh block in.
    ///
    /// # Safety
    ///
    /// `ptr` must be a fresh block of `size` bytes.
    #[inline]
    unsafe fn adopt(&mut self, ptr: NonNull<u8>, size: usize) {
        let bucket = match self.pattern {
            Pattern::Lifo => 0,
            Pattern::Random => self.outcome.allocs as usize % BUCKETS,
        };
        // SAFETY: per the caller; the head and the size fit in the block.
        unsafe {
            ptr.add(SIZE_AT).cast::<u32>().write_unaligned(size as u32);
            self.buckets[bucket].push_front(ptr.cast());
        }
        self.outcome.allocs += 1;
        self.outcome.live_blocks += 1;
        self.outcome.live_bytes += size as u64;
    }

    /// Unlinks and frees the `victim`-th live block, counting list by list
    /// (with LIFO, the front of the one list: the newest block).
    ///
    /// # Safety
    ///
    /// `victim` must be below the number of live blocks.
    #[inline]
    unsafe fn release<A: Allocator + ?Sized>(&mut self, alloc: &mut A, mut victim: u64) {
        let mut bucket = 0;
        while victim >= self.buckets[bucket].len() as u64 {
            victim -= self.buckets[bucket].len() as u64;
            bucket += 1;
        }
        let list = &mut self.buckets[bucket];
        let node = list.iter().nth(victim as usize).expect("victim is in this list");
        // SAFETY: the node is a live block in this list.
        unsafe {
            let size = size_of(node);
            list.remove(node);
            alloc.free(node.cast(), layout(size));
            self.outcome.live_bytes -= size as u64;
        }
        self.outcome.frees += 1;
        self.outcome.live_blocks -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;
    use tmalloc_alloc::testing::TestMemory;
    use tmalloc_alloc::{PolicyKind, Tmalloc};

    fn run(kind: PolicyKind, pattern: Pattern, sizes: Sizes, seed: u64, arena: usize) -> Outcome {
        let memory = TestMemory::new(arena);
        let mut t = Tmalloc::new(kind, memory.arena());
        let mut w = ConsumeMemory::new(pattern, sizes);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let outcome = w.run(&mut t, &mut rng, u64::MAX, &mut |_| {});
        t.check().unwrap();
        assert_eq!(t.stats().live_blocks as u64, outcome.live_blocks);
        w.free_all(&mut t);
        assert_eq!(t.stats().live_blocks, 0);
        t.check().unwrap();
        outcome
    }

    #[test]
    fn calls_blocks_and_bytes_add_up_for_every_policy_and_variant() {
        for kind in PolicyKind::ALL {
            for (pattern, sizes) in [(Pattern::Lifo, Sizes::Seed), (Pattern::Random, Sizes::Wide)] {
                let o = run(kind, pattern, sizes, 10, 1 << 20);
                assert_eq!(o.calls, o.allocs + o.frees, "{kind}");
                assert_eq!(o.live_blocks, o.allocs - o.frees);
                assert!(o.failed_size >= 20 && o.failed_size < 4096);
                assert!(o.live_bytes >= o.live_blocks * 20 && o.live_bytes < 1 << 20, "{kind}: {o:?}");
            }
        }
    }

    #[test]
    fn freeing_everything_gives_the_memory_back() {
        for kind in PolicyKind::ALL {
            if kind == PolicyKind::Buddy {
                continue; // documented: buddy never trims
            }
            let memory = TestMemory::new(8 << 20);
            let mut t = Tmalloc::new(kind, memory.arena());
            let mut w = ConsumeMemory::new(Pattern::Lifo, Sizes::Seed);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(10);
            w.run(&mut t, &mut rng, u64::MAX, &mut |_| {});
            w.free_all(&mut t);
            // The heap keeps up to twice its last trim (a trim threshold
            // that only rises keeps brk from going up and down): a quarter
            // of its peak here, never more than half.
            let stats = t.stats();
            let held = stats.kernel_bytes;
            assert!(
                held <= stats.peak_kernel_bytes / 2,
                "{kind}: {held} bytes still held after freeing everything"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_run_and_another_seed_another() {
        let a = run(PolicyKind::SlabTlsf, Pattern::Random, Sizes::Wide, 7, 1 << 20);
        let b = run(PolicyKind::SlabTlsf, Pattern::Random, Sizes::Wide, 7, 1 << 20);
        let c = run(PolicyKind::SlabTlsf, Pattern::Random, Sizes::Wide, 8, 1 << 20);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn seed_sizes_are_the_originals_and_wide_sizes_are_log_uniform() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            let s = Sizes::Seed.draw(&mut rng);
            seen[[20, 24, 32].iter().position(|&x| x == s).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        let mut octaves = [0u32; 8];
        for _ in 0..80_000 {
            let s = Sizes::Wide.draw(&mut rng);
            assert!((MIN_BLOCK..4096).contains(&s), "{s}");
            octaves[(s / 16).ilog2() as usize] += 1;
        }
        assert!(octaves.iter().all(|&n| (9000..11000).contains(&n)), "{octaves:?}");
    }
}

/// The experiment near exhaustion, with every invariant checked after
/// every call: the conditions the property tests' large arenas never reach.
#[cfg(test)]
mod checked_tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;
    use tmalloc_alloc::testing::TestMemory;
    use tmalloc_alloc::{Arena, PolicyKind, Tmalloc};

    struct Checked(Tmalloc<Arena>);

    impl Allocator for Checked {
        fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
            let p = self.0.alloc(layout.size(), layout.align());
            self.0.check().unwrap_or_else(|e| panic!("{}: after alloc {layout:?}: {e}", self.0.kind()));
            p
        }

        unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
            self.0.try_free(Some(ptr)).unwrap_or_else(|e| panic!("{}: free {ptr:p}: {e}", self.0.kind()));
            self.0.check().unwrap_or_else(|e| panic!("{}: after free {layout:?}: {e}", self.0.kind()));
        }
    }

    #[test]
    fn check_holds_after_every_call_until_memory_runs_out() {
        for kind in PolicyKind::ALL {
            for (pattern, sizes) in [(Pattern::Lifo, Sizes::Seed), (Pattern::Random, Sizes::Wide)] {
                let memory = TestMemory::new(256 << 10);
                let mut t = Checked(Tmalloc::new(kind, memory.arena()));
                let mut w = ConsumeMemory::new(pattern, sizes);
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(10);
                let outcome = w.run(&mut t, &mut rng, u64::MAX, &mut |_| {});
                assert!(outcome.failed_size > 0, "{kind}: ran until an allocation failed");
                w.free_all(&mut t);
            }
        }
    }
}
