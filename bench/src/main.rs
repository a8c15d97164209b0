//! `cargo run --profile perf -p tmalloc-bench`: every tmalloc policy on
//! the experiment's workloads, one table. (`perf` is `release` optimised
//! for speed; `release` itself is optimised for the binary's size.)
//!
//! - seed: consume_memory as the original (LIFO frees of 20/24/32-byte
//!   blocks) in a 10 MiB arena: live payload / arena at the first failure.
//! - fragmenting: consume_memory with random frees and wide sizes (20 B to
//!   4 KiB, log-uniform) in a 10 MiB arena: the same ratio.
//! - steady: 20,000 live blocks of 8 to 512 B, a random one replaced per
//!   step: ns per operation (alloc or free), median of 5 runs, min and max.
//!   A run is 2,000,000 steps, or fewer if it passes 0.3 s (the
//!   list-scanning policies are O(live blocks) per step).
//! - scaling: steady at 2,000, 20,000 and 200,000 live blocks.
//!
//! `--quick` runs everything tiny: `cargo test` uses it so the code cannot rot.

use std::fmt::Write as _;
use std::time::Instant;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use tmalloc::allocator::{Arena, PolicyKind, Tmalloc};
use tmalloc::workload::consume_memory::{ConsumeMemory, Pattern, Sizes};
use tmalloc::workload::steady;

/// Sizes of a run.
#[derive(Clone, Copy)]
struct Scale {
    arena: usize,
    steady_live: usize,
    scaling_live: [usize; 3],
    steps: u64,
    runs: usize,
    /// Time after which a steady run stops early.
    budget: std::time::Duration,
}

const FULL: Scale = Scale {
    arena: 10 << 20,
    steady_live: 20_000,
    scaling_live: [2_000, 20_000, 200_000],
    steps: 2_000_000,
    runs: 5,
    budget: std::time::Duration::from_millis(300),
};
const QUICK: Scale = Scale {
    arena: 256 << 10,
    steady_live: 200,
    scaling_live: [20, 200, 2_000],
    steps: 2_000,
    runs: 1,
    budget: std::time::Duration::from_millis(50),
};

const SEED: u64 = 10;

/// Page-aligned memory for an arena, unmapped on drop.
struct Memory {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl Memory {
    fn new(len: usize) -> Memory {
        let ptr = tmalloc::sys::mmap_anonymous(len).expect("mmap an arena");
        Memory { ptr: std::ptr::NonNull::new(ptr).unwrap(), len }
    }

    fn arena(&self) -> Arena {
        // SAFETY: the memory outlives the allocator built on it (dropped first).
        unsafe { Arena::new(self.ptr, self.len) }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no longer used.
        unsafe { tmalloc::sys::munmap(self.ptr.as_ptr(), self.len).expect("munmap") };
    }
}

/// Live payload / arena at the first failure, and the successful calls.
fn efficiency(kind: PolicyKind, pattern: Pattern, sizes: Sizes, arena: usize) -> (f64, u64) {
    let memory = Memory::new(arena);
    let mut t = Tmalloc::new(kind, memory.arena());
    let mut w = ConsumeMemory::new(pattern, sizes);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED);
    let outcome = w.run(&mut t, &mut rng, u64::MAX, &mut |_| {});
    w.free_all(&mut t);
    (outcome.live_bytes as f64 / arena as f64, outcome.calls)
}

/// ns per operation with `live` blocks: median, min, max over `runs` runs.
fn steady_ns(kind: PolicyKind, live: usize, scale: Scale) -> (f64, f64, f64) {
    let mut samples = Vec::new();
    for run in 0..scale.runs {
        // Room for the live set several times over: speed, not capacity, is measured.
        let memory = Memory::new((live * 600 * 4).max(64 << 20));
        let mut t = Tmalloc::new(kind, memory.arena());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED + run as u64);
        let mut slots = vec![(std::ptr::NonNull::dangling(), std::alloc::Layout::new::<u8>()); live];
        assert!(steady::fill(&mut t, &mut rng, &mut slots), "{kind}: the arena holds the live set");
        replace_for(&mut t, &mut rng, &mut slots, scale.steps / 10, scale.budget / 3); // warm up
        samples.push(replace_for(&mut t, &mut rng, &mut slots, scale.steps, scale.budget));
        steady::drain(&mut t, &slots);
    }
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[0], samples[samples.len() - 1])
}

/// Replaces random blocks for up to `steps` steps, in chunks, stopping
/// early once `budget` has passed (the list-scanning policies are
/// O(live blocks) per step); returns ns per operation.
fn replace_for(
    t: &mut Tmalloc<Arena>,
    rng: &mut Xoshiro256PlusPlus,
    slots: &mut [(std::ptr::NonNull<u8>, std::alloc::Layout)],
    steps: u64,
    budget: std::time::Duration,
) -> f64 {
    let start = Instant::now();
    let (mut ops, mut done) = (0, 0);
    while done < steps && start.elapsed() < budget {
        let chunk = (steps - done).min(1_000);
        let got = steady::replace(t, rng, slots, chunk);
        assert_eq!(got, chunk * 2, "{}: memory ran out", t.kind());
        ops += got;
        done += chunk;
    }
    start.elapsed().as_nanos() as f64 / ops.max(1) as f64
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split(':').nth(1)))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only NAME[,NAME]`: just these allocators.
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args.get(i + 1).map_or(vec![], |list| list.split(',').map(str::to_string).collect()));
    let scale = if quick { QUICK } else { FULL };
    let mut out = String::new();
    let command = args.join(" ");
    writeln!(out, "machine: {}", machine()).unwrap();
    writeln!(out, "command: {command}").unwrap();
    writeln!(
        out,
        "arena: {} KiB; steady: {} live blocks, {} steps x {} runs",
        scale.arena >> 10,
        scale.steady_live,
        scale.steps,
        scale.runs
    )
    .unwrap();
    writeln!(out).unwrap();
    let [s0, s1, s2] = scale.scaling_live;
    writeln!(out, "| allocator | seed: payload/arena | seed: calls | fragmenting: payload/arena | steady ns/op (min-max) | ns/op @{s0} | @{s1} | @{s2} | {s2}/{s0} |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    print!("{out}");
    let mut printed = out.len();
    for kind in PolicyKind::ALL {
        if only.as_ref().is_some_and(|names| !names.iter().any(|n| n == kind.name())) {
            continue;
        }
        let (seed_eff, seed_calls) = efficiency(kind, Pattern::Lifo, Sizes::Seed, scale.arena);
        let (frag_eff, _) = efficiency(kind, Pattern::Random, Sizes::Wide, scale.arena);
        let (median, min, max) = steady_ns(kind, scale.steady_live, scale);
        let scaling: Vec<f64> = scale.scaling_live.iter().map(|&n| steady_ns(kind, n, scale).0).collect();
        writeln!(
            out,
            "| tmalloc {kind} | {seed_eff:.3} | {seed_calls} | {frag_eff:.3} | {median:.1} ({min:.1}-{max:.1}) | {:.1} | {:.1} | {:.1} | {:.2} |",
            scaling[0], scaling[1], scaling[2], scaling[2] / scaling[0]
        )
        .unwrap();
        print!("{}", &out[printed..]);
        printed = out.len();
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    std::fs::write(dir.join(if quick { "quick.md" } else { "results.md" }), &out).expect("write the table");
}
