//! `cargo run --profile perf -p tmalloc-bench`: every tmalloc policy and
//! the peers (linked_list_allocator, talc, rlsf, buddy_system_allocator,
//! dlmalloc, mimalloc, glibc's malloc) on the experiment's workloads: one
//! table (`target/bench/results.md`) and two SVG plots beside it. (`perf`
//! is `release` optimised for speed; `release` itself is optimised for the
//! binary's size.)
//!
//! - seed: consume_memory as the original (LIFO frees of 20/24/32-byte
//!   blocks) in a 10 MiB arena: live payload / arena at the first failure.
//! - fragmenting: consume_memory with random frees and wide sizes (20 B to
//!   4 KiB, log-uniform) in a 10 MiB arena: the same ratio.
//! - steady: 20,000 live blocks of 8 to 512 B, a random one replaced per
//!   step: ns per operation (alloc or free), median of 5 runs, min and max.
//!   A run is 2,000,000 steps, or fewer if it passes 0.3 s (the
//!   list-scanning allocators are O(live blocks) per step).
//! - scaling: steady at 2,000, 20,000 and 200,000 live blocks.
//! - traces: the recorded traces of `tests/traces/*.vglog` (real programs,
//!   see `tests/traces/record.sh`), replayed as `tmalloc --trace` replays
//!   them (16-byte aligned, realloc through the allocator's own): ns per
//!   operation, median of 5 replays, each by a fresh allocator (arena ones
//!   on one reused, warm arena: see `subjects::warm_arenas`); for tmalloc,
//!   utilization (peak payload / peak bytes taken from the arena).
//!   linked_list_allocator is left out: its O(free blocks) calls take
//!   minutes on these traces.
//!
//! Arena allocators get the arena. Hosted ones (dlmalloc, mimalloc, glibc)
//! get their memory from the kernel; for the efficiency columns each runs
//! in a fresh process of this program (`--hosted-child`) whose `RLIMIT_AS`
//! allows the arena's size beyond what the process maps at its start.
//!
//! `--quick` runs everything tiny (into `target/bench/quick/`): `cargo test`
//! uses it so the code cannot rot. `--only NAME,...` runs just those.

mod plot;
mod subjects;

use std::alloc::Layout;
use std::fmt::Write as _;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use subjects::Home;
use tmalloc_alloc::PolicyKind;
use tmalloc_rt::process::{limit_address_space, mapped_bytes};
use tmalloc_workload::Allocator;
use tmalloc_workload::consume_memory::{ConsumeMemory, Pattern, Sizes};
use tmalloc_workload::replay::{self, Mode, Slot};
use tmalloc_workload::steady;

/// Sizes of a run.
#[derive(Clone, Copy)]
struct Scale {
    arena: usize,
    steady_live: usize,
    scaling_live: [usize; 3],
    steps: u64,
    runs: usize,
    /// Time after which a steady run stops early.
    budget: Duration,
}

const FULL: Scale = Scale {
    arena: 10 << 20,
    steady_live: 20_000,
    scaling_live: [2_000, 20_000, 200_000],
    steps: 2_000_000,
    runs: 5,
    budget: Duration::from_millis(300),
};
const QUICK: Scale = Scale {
    arena: 256 << 10,
    steady_live: 200,
    scaling_live: [20, 200, 2_000],
    steps: 2_000,
    runs: 1,
    budget: Duration::from_millis(50),
};

const SEED: u64 = 10;

/// Live payload / arena at the first failure, and the successful calls.
fn efficiency<A: Allocator>(
    make: &dyn Fn(usize) -> A,
    pattern: Pattern,
    sizes: Sizes,
    arena: usize,
) -> (f64, u64) {
    let mut a = make(arena);
    let mut w = ConsumeMemory::new(pattern, sizes);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED);
    let outcome = w.run(&mut a, &mut rng, u64::MAX, &mut |_| {});
    w.free_all(&mut a);
    (outcome.live_bytes as f64 / arena as f64, outcome.calls)
}

/// ns per operation with `live` blocks: median, min, max over `runs` runs.
fn steady_ns<A: Allocator>(
    name: &str,
    home: Home,
    make: &dyn Fn(usize) -> A,
    live: usize,
    scale: Scale,
) -> (f64, f64, f64) {
    let mut samples = Vec::new();
    for run in 0..scale.runs {
        // Room for the live set several times over: speed, not capacity, is measured.
        let mut a = make((live * 600 * 4).max(64 << 20));
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED + run as u64);
        let mut slots = vec![(NonNull::dangling(), Layout::new::<u8>()); live];
        assert!(steady::fill(&mut a, &mut rng, &mut slots), "{name}: the arena holds the live set");
        replace_for(name, &mut a, &mut rng, &mut slots, scale.steps / 10, scale.budget / 3); // warm up
        samples.push(replace_for(name, &mut a, &mut rng, &mut slots, scale.steps, scale.budget));
        // An arena goes away whole; freeing 200,000 blocks one by one would
        // take hours in the allocators whose free is O(free blocks).
        if home == Home::Hosted {
            steady::drain(&mut a, &slots);
        }
    }
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[0], samples[samples.len() - 1])
}

/// Replaces random blocks for up to `steps` steps, in chunks, stopping
/// early once `budget` has passed (the list-scanning allocators are
/// O(live blocks) per step); returns ns per operation.
fn replace_for<A: Allocator>(
    name: &str,
    a: &mut A,
    rng: &mut Xoshiro256PlusPlus,
    slots: &mut [(NonNull<u8>, Layout)],
    steps: u64,
    budget: Duration,
) -> f64 {
    let start = Instant::now();
    let (mut ops, mut done) = (0, 0);
    while done < steps && start.elapsed() < budget {
        let chunk = (steps - done).min(1_000);
        let got = steady::replace(a, rng, slots, chunk);
        assert_eq!(got, chunk * 2, "{name}: memory ran out");
        ops += got;
        done += chunk;
    }
    start.elapsed().as_nanos() as f64 / ops.max(1) as f64
}

/// The hidden first argument that makes this program a measuring child.
const HOSTED_CHILD: &str = "--hosted-child";

/// Measures a hosted allocator's efficiency in a fresh process (this
/// program, run again): a forked child would inherit the parent's malloc
/// heap, free memory that its limit would not count. Returns live payload /
/// arena at the first failure and the successful calls, or `None` if the
/// child failed.
fn hosted_efficiency(name: &str, workload: &str, arena: usize) -> Option<(f64, u64)> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .args([HOSTED_CHILD, name, workload, &arena.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let efficiency = words.next()?.parse::<f64>().ok()?;
    let calls = words.next()?.parse::<u64>().ok()?;
    out.status.success().then_some((efficiency, calls))
}

/// In the child: limit the address space to what the process maps now plus
/// `arena`, run the workload, print `EFFICIENCY CALLS` (Rust's `f64`
/// display reads back exactly).
fn hosted_child(args: &[String]) -> ! {
    let (Some(name), Some(workload), Some(Ok(arena))) =
        (args.first(), args.get(1), args.get(2).map(|a| a.parse::<usize>()))
    else {
        eprintln!("tmalloc-bench: {HOSTED_CHILD} NAME seed|fragmenting ARENA_BYTES");
        std::process::exit(2)
    };
    let (pattern, sizes) =
        if workload == "seed" { (Pattern::Lifo, Sizes::Seed) } else { (Pattern::Random, Sizes::Wide) };
    let limit = mapped_bytes().unwrap_or(0) + arena as u64;
    limit_address_space(limit).expect("lower RLIMIT_AS");
    let (eff, calls) = match name.as_str() {
        "dlmalloc" => efficiency(&|_| subjects::dlmalloc(), pattern, sizes, arena),
        "mimalloc" => efficiency(&|_| subjects::mimalloc(), pattern, sizes, arena),
        "glibc" => efficiency(&|_| subjects::glibc(), pattern, sizes, arena),
        other => {
            eprintln!("tmalloc-bench: {other} is not a hosted allocator");
            std::process::exit(2)
        }
    };
    println!("{eff} {calls}");
    std::process::exit(0)
}

/// One allocator's results.
struct Row {
    name: String,
    home: Home,
    seed: Option<(f64, u64)>,
    fragmenting: Option<f64>,
    steady: (f64, f64, f64),
    scaling: [f64; 3],
}

fn measure<A: Allocator>(name: &str, home: Home, make: &dyn Fn(usize) -> A, scale: Scale) -> Row {
    let (seed, fragmenting) = match home {
        Home::Arena => {
            let seed = efficiency(make, Pattern::Lifo, Sizes::Seed, scale.arena);
            (Some(seed), Some(efficiency(make, Pattern::Random, Sizes::Wide, scale.arena).0))
        }
        // The same ratio, with the limit as the arena: the allocator may map
        // `arena` bytes beyond what the fresh process maps.
        Home::Hosted => (
            hosted_efficiency(name, "seed", scale.arena),
            hosted_efficiency(name, "fragmenting", scale.arena).map(|r| r.0),
        ),
    };
    let steady = steady_ns(name, home, make, scale.steady_live, scale);
    let scaling = scale.scaling_live.map(|n| steady_ns(name, home, make, n, scale).0);
    Row { name: name.to_string(), home, seed, fragmenting, steady, scaling }
}

/// The recorded traces, decoded.
fn recorded_traces() -> Vec<(String, tmalloc_workload::trace::Trace)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/traces");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/traces")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "vglog"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read(&path).expect("read a trace");
            let trace = tmalloc_workload::trace::decode(&text, false).expect("the shipped traces decode");
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, trace)
        })
        .collect()
}

/// A trace's operations, cut short in quick mode.
fn ops_of(trace: &tmalloc_workload::trace::Trace, quick: bool) -> &[tmalloc_workload::trace::Op] {
    let ops = trace.ops.as_slice();
    if quick { &ops[..ops.len().min(2_000)] } else { ops }
}

/// Arena for a trace replay: the sort trace's 211 MiB buffer fits.
const TRACE_ARENA: usize = 1 << 30;

/// ns per operation replaying each trace (median of `scale.runs` fresh
/// replays), and the mean utilization when `held` reads the footprint.
fn trace_cells<A: Allocator>(
    name: &str,
    make: &dyn Fn(usize) -> A,
    traces: &[(String, tmalloc_workload::trace::Trace)],
    scale: Scale,
    quick: bool,
    held: Option<&dyn Fn(&A) -> u64>,
) -> (Vec<Option<f64>>, Option<f64>) {
    let mut utilization = Vec::new();
    let ns = traces
        .iter()
        .map(|(trace_name, t)| {
            let ops = ops_of(t, quick);
            let mut slots = vec![Slot::EMPTY; t.slots as usize];
            if let Some(held) = held {
                // The checked replay, for the footprint (and the contents).
                let mut a = make(TRACE_ARENA);
                let out = replay::replay(&mut a, ops, &mut slots, Mode::Checked, held);
                if out.failure.is_none() && !quick {
                    utilization.push(t.peak_payload as f64 / out.peak_footprint as f64);
                }
                replay::drain(&mut a, &mut slots);
            }
            let mut samples = Vec::new();
            for _ in 0..scale.runs {
                let mut a = make(TRACE_ARENA);
                let start = Instant::now();
                let out = replay::replay(&mut a, ops, &mut slots, Mode::Timed, |_| 0);
                let elapsed = start.elapsed().as_nanos() as f64;
                replay::drain(&mut a, &mut slots);
                if out.failure.is_some() {
                    eprintln!("{name}: {trace_name}: {:?}", out.failure);
                    return None;
                }
                samples.push(elapsed / ops.len().max(1) as f64);
            }
            samples.sort_by(f64::total_cmp);
            Some(samples[samples.len() / 2])
        })
        .collect();
    let mean = (!utilization.is_empty() && utilization.len() == traces.len())
        .then(|| utilization.iter().sum::<f64>() / utilization.len() as f64);
    (ns, mean)
}

fn trace_row(name: &str, (ns, utilization): (Vec<Option<f64>>, Option<f64>)) -> String {
    let cells: Vec<String> = ns.iter().map(|v| v.map_or("failed".into(), |v| format!("{v:.1}"))).collect();
    let mean = (ns.iter().all(Option::is_some))
        .then(|| ns.iter().flatten().sum::<f64>() / ns.len() as f64)
        .map_or("-".into(), |v| format!("{v:.1}"));
    let utilization = utilization.map_or("-".into(), |u| format!("{u:.3}"));
    format!("| {name} | {} | {mean} | {utilization} |", cells.join(" | "))
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

/// Today's date (UTC), `YYYY-MM-DD`, from the system clock.
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Howard Hinnant's civil_from_days.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn cell(v: Option<f64>) -> String {
    v.map_or("failed".to_string(), |v| format!("{v:.3}"))
}

fn table_row(r: &Row) -> String {
    let home = match r.home {
        Home::Arena => "arena",
        Home::Hosted => "child, RLIMIT_AS",
    };
    let (median, min, max) = r.steady;
    let [a, b, c] = r.scaling;
    format!(
        "| {} | {home} | {} | {} | {} | {median:.1} ({min:.1}-{max:.1}) | {a:.1} | {b:.1} | {c:.1} | {:.2} |",
        r.name,
        cell(r.seed.map(|s| s.0)),
        r.seed.map_or("-".to_string(), |s| s.1.to_string()),
        cell(r.fragmenting),
        c / a
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == HOSTED_CHILD) {
        hosted_child(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--only NAME[,NAME]`: just these allocators.
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args.get(i + 1).map_or(vec![], |list| list.split(',').map(str::to_string).collect()));
    let chosen = |name: &str| only.as_ref().is_none_or(|names| names.iter().any(|n| n == name));
    let scale = if quick { QUICK } else { FULL };
    let mut out = String::new();
    let mut command = "cargo run --profile perf -p tmalloc-bench".to_string();
    if !args.is_empty() {
        command = format!("{command} -- {}", args.join(" "));
    }
    writeln!(out, "date: {} (UTC)", today()).unwrap();
    writeln!(out, "machine: {}", machine()).unwrap();
    writeln!(out, "command: {command}").unwrap();
    writeln!(
        out,
        "arena: {} KiB (hosted allocators: the same bytes of RLIMIT_AS beyond what the child maps); \
         steady: {} live blocks, {} steps x {} runs",
        scale.arena >> 10,
        scale.steady_live,
        scale.steps,
        scale.runs
    )
    .unwrap();
    writeln!(out).unwrap();
    let [s0, s1, s2] = scale.scaling_live;
    writeln!(out, "| allocator | measured in | seed: payload/arena | seed: calls | fragmenting: payload/arena | steady ns/op (min-max) | ns/op @{s0} | @{s1} | @{s2} | {s2}/{s0} |").unwrap();
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    print!("{out}");
    let mut rows = Vec::new();
    let mut add = |row: Row, out: &mut String| {
        let line = table_row(&row);
        println!("{line}");
        writeln!(out, "{line}").unwrap();
        rows.push(row);
    };
    for kind in PolicyKind::ALL {
        let name = format!("tmalloc {kind}");
        if chosen(kind.name()) || chosen(&name) {
            add(measure(&name, Home::Arena, &|n| subjects::tmalloc(kind, n), scale), &mut out);
        }
    }
    if chosen("linked_list_allocator") {
        add(measure("linked_list_allocator", Home::Arena, &subjects::linked_list, scale), &mut out);
    }
    if chosen("talc") {
        add(measure("talc", Home::Arena, &subjects::talc, scale), &mut out);
    }
    if chosen("rlsf") {
        add(measure("rlsf", Home::Arena, &subjects::rlsf, scale), &mut out);
    }
    if chosen("buddy_system_allocator") {
        add(measure("buddy_system_allocator", Home::Arena, &subjects::buddy_system, scale), &mut out);
    }
    if chosen("dlmalloc") {
        add(measure("dlmalloc", Home::Hosted, &|_| subjects::dlmalloc(), scale), &mut out);
    }
    if chosen("mimalloc") {
        add(measure("mimalloc", Home::Hosted, &|_| subjects::mimalloc(), scale), &mut out);
    }
    if chosen("glibc") {
        add(measure("glibc", Home::Hosted, &|_| subjects::glibc(), scale), &mut out);
    }
    // Workload 5: the recorded traces.
    let traces = recorded_traces();
    subjects::warm_arenas(TRACE_ARENA, || {
        let names: Vec<&str> = traces.iter().map(|(n, _)| n.as_str()).collect();
        writeln!(out, "\ntraces: ns/op replaying each recorded trace (median of {} replays), their mean, and utilization (mean peak payload / peak heap; tmalloc only: the arena's bytes taken)\n", scale.runs).unwrap();
        writeln!(out, "| allocator | {} | mean ns/op | utilization |", names.join(" | ")).unwrap();
        writeln!(out, "|---|{}---:|---:|", "---:|".repeat(names.len())).unwrap();
        let trace_line = |line: String, out: &mut String| {
            println!("{line}");
            writeln!(out, "{line}").unwrap();
        };
        println!("\n| allocator | {} | mean ns/op | utilization |", names.join(" | "));
        for kind in PolicyKind::ALL {
            let name = format!("tmalloc {kind}");
            if chosen(kind.name()) || chosen(&name) {
                let make = |n| subjects::tmalloc(kind, n);
                let held: &dyn Fn(&_) -> u64 = &|a: &subjects::InArena<_>| a.held();
                trace_line(
                    trace_row(&name, trace_cells(&name, &make, &traces, scale, quick, Some(held))),
                    &mut out,
                );
            }
        }
        if chosen("talc") {
            trace_line(
                trace_row("talc", trace_cells("talc", &subjects::talc, &traces, scale, quick, None)),
                &mut out,
            );
        }
        if chosen("rlsf") {
            trace_line(
                trace_row("rlsf", trace_cells("rlsf", &subjects::rlsf, &traces, scale, quick, None)),
                &mut out,
            );
        }
        if chosen("buddy_system_allocator") {
            let row =
                trace_cells("buddy_system_allocator", &subjects::buddy_system, &traces, scale, quick, None);
            trace_line(trace_row("buddy_system_allocator", row), &mut out);
        }
        if chosen("dlmalloc") {
            let row = trace_cells("dlmalloc", &|_| subjects::dlmalloc(), &traces, scale, quick, None);
            trace_line(trace_row("dlmalloc", row), &mut out);
        }
        if chosen("mimalloc") {
            let row = trace_cells("mimalloc", &|_| subjects::mimalloc(), &traces, scale, quick, None);
            trace_line(trace_row("mimalloc", row), &mut out);
        }
        if chosen("glibc") {
            let row = trace_cells("glibc", &|_| subjects::glibc(), &traces, scale, quick, None);
            trace_line(trace_row("glibc", row), &mut out);
        }
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let dir = if quick { dir.join("quick") } else { dir };
    std::fs::create_dir_all(&dir).expect("create target/bench");
    std::fs::write(dir.join("results.md"), &out).expect("write the table");
    let charts = plot::Chart { rows: &rows, scaling_live: scale.scaling_live, arena: scale.arena };
    charts.efficiency(&dir.join("efficiency.svg")).expect("draw efficiency.svg");
    charts.scaling(&dir.join("scaling.svg")).expect("draw scaling.svg");
    println!("\nwrote {}/results.md, efficiency.svg, scaling.svg", dir.display());
}
