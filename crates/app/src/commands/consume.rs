//! consume_memory, the binary's main job: every contender, each in its own
//! forked process under the same `RLIMIT_AS`, on the same request stream.
//!
//! The story, as printed:
//!
//! 1. the process before any allocation: segments, break, `/proc/self/maps`,
//!    and no `[heap]`;
//! 2. a child that makes one allocation: the break moves and `[heap]`
//!    appears. The parent itself never allocates: a heap in the parent
//!    would be copied into every contender and count against its limit;
//! 3. each contender runs until its first failed allocation; the table;
//! 4. each contender frees everything: where its break is then.
//!
//! A contender's process lowers its own `RLIMIT_AS` with `prlimit64`, so it
//! is the kernel that refuses `brk` and `mmap`; it reports through a pipe
//! ([`run_in_child`]). A contender that crashes is reported in its row; the
//! others still run.

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use tmalloc_rt::fmt::{Bytes, ErrnoText, Hex, Ratio, Thousands};
use tmalloc_rt::process::{
    ChildFailed, Wire, address_space_ceiling, limit_address_space, mapped_bytes, now_ns, run_in_child,
};
use tmalloc_rt::{Startup, eprint, eprintln, println};
use tmalloc_sys::{self as sys, Fd};
use tmalloc_workload::consume_memory::{ConsumeMemory, Outcome, Pattern, Sizes};

use super::image;
use crate::contenders::{Contender, Lineup, Measured};
use crate::report::{Cell, Column, Failed, Format, Table, column};
use crate::{Exit, HardLimit, cannot_go_on};

/// Settings for a run of the experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// RLIMIT_AS for each contender, in bytes.
    pub(crate) limit: u64,
    pub(crate) seed: Seed,
    pub(crate) lineup: Lineup,
    pub(crate) pattern: Pattern,
    pub(crate) sizes: Sizes,
    pub(crate) format: Format,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limit: 10 << 20,
            seed: Seed::Fixed(10),
            lineup: Lineup::ALL,
            pattern: Pattern::Lifo,
            sizes: Sizes::Seed,
            format: Format::Table,
        }
    }
}

/// Where the request stream's seed comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seed {
    Fixed(u64),
    /// From the 16 bytes the kernel passes in AT_RANDOM.
    Random,
}

/// Memory a contender needs beyond what the binary already maps, to do
/// anything at all: one growth step of the heap.
const WORKING_ROOM: u64 = 256 << 10;

/// One contender's results, as its process sends them back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) outcome: Outcome,
    /// At the first failure: bytes held from the kernel.
    pub(crate) kernel_bytes: u64,
    /// System calls over the whole run, the frees at the end included
    /// (the heap's and the page map's).
    pub(crate) brk_calls: u64,
    pub(crate) mmap_calls: u64,
    pub(crate) munmap_calls: u64,
    /// Time from the first request to the failure.
    pub(crate) elapsed_ns: u64,
    /// The program break before the first request, at the failure, and
    /// after every block was freed.
    pub(crate) break_start: u64,
    pub(crate) break_at_failure: u64,
    pub(crate) break_after_free: u64,
    /// Bytes still held from the kernel after every block was freed.
    pub(crate) kernel_bytes_after_free: u64,
}

impl Wire<15> for Report {
    fn encode(&self) -> [u64; 15] {
        let o = &self.outcome;
        [
            o.calls,
            o.allocs,
            o.frees,
            o.live_blocks,
            o.live_bytes,
            o.failed_size as u64,
            self.kernel_bytes,
            self.brk_calls,
            self.mmap_calls,
            self.munmap_calls,
            self.elapsed_ns,
            self.break_start,
            self.break_at_failure,
            self.break_after_free,
            self.kernel_bytes_after_free,
        ]
    }

    fn decode(w: [u64; 15]) -> Report {
        let [calls, allocs, frees, live_blocks, live_bytes, failed_size, rest @ ..] = w;
        let [
            kernel_bytes,
            brk_calls,
            mmap_calls,
            munmap_calls,
            elapsed_ns,
            break_start,
            break_at_failure,
            break_after_free,
            kernel_bytes_after_free,
        ] = rest;
        Report {
            outcome: Outcome {
                calls,
                allocs,
                frees,
                live_blocks,
                live_bytes,
                failed_size: failed_size as usize,
            },
            kernel_bytes,
            brk_calls,
            mmap_calls,
            munmap_calls,
            elapsed_ns,
            break_start,
            break_at_failure,
            break_after_free,
            kernel_bytes_after_free,
        }
    }
}

/// Runs the experiment.
pub(crate) fn run(options: &Options, startup: &Startup) -> Exit {
    let seed = match options.seed {
        Seed::Fixed(n) => n,
        Seed::Random => seed_from_auxv(startup),
    };
    let mapped = mapped_bytes().unwrap_or(0);
    // Checked here, once: a child cannot raise its limit above the hard one.
    let ceiling = address_space_ceiling();
    if ceiling < mapped + WORKING_ROOM {
        eprintln!(
            "tmalloc: {} is below what the experiment needs: the binary already maps {}; it needs at least {}K",
            HardLimit(ceiling),
            Bytes(mapped),
            (mapped + WORKING_ROOM).div_ceil(1024)
        );
        return Exit::Failure;
    }
    if options.limit > ceiling {
        eprintln!(
            "tmalloc: --limit {} is above {}: use at most {}K",
            Bytes(options.limit),
            HardLimit(ceiling),
            ceiling / 1024
        );
        return Exit::Usage;
    }
    if options.limit < mapped + WORKING_ROOM {
        eprintln!(
            "tmalloc: --limit {} is below what the experiment needs: the binary already maps {}; use at least {}K",
            Bytes(options.limit),
            Bytes(mapped),
            (mapped + WORKING_ROOM).div_ceil(1024)
        );
        return Exit::Usage;
    }
    let table = options.format == Format::Table;
    if table {
        println!(
            "tmalloc {}: consume_memory, seed {seed}, pattern {}, sizes {}, limit {} per contender\n",
            env!("CARGO_PKG_VERSION"),
            options.pattern.name(),
            options.sizes.name(),
            Bytes(options.limit),
        );
        if !before_any_allocation() {
            return Exit::Failure;
        }
        match run_in_child(first_allocation) {
            Err(why) if why.is_environment() => return cannot_go_on(&why),
            Err(why) => println!("   (the demonstration child failed: {why})"),
            Ok(()) => {}
        }
    }
    let progress = table && sys::is_terminal(Fd::STDERR);
    let mut rows: [(Contender, Option<Result<Report, ChildFailed>>); Contender::ALL.len()] =
        Contender::ALL.map(|c| (c, None));
    for (c, row) in &mut rows {
        if options.lineup.contains(*c) {
            match run_in_child(|| contend(*c, options, seed, progress)) {
                Err(why) if why.is_environment() => return cannot_go_on(&why),
                result => *row = Some(result),
            }
        }
    }
    let rows = rows.iter().filter_map(|(c, r)| r.as_ref().map(|r| (*c, r)));
    if table {
        println!(
            "3. Until the first failed allocation, each contender in its own process, RLIMIT_AS = {}",
            Bytes(options.limit)
        );
    }
    let results = Table { format: options.format, columns: &COLUMNS, indent: "   " };
    results.header();
    for (c, row) in rows.clone() {
        match row {
            Ok(r) => results.row(&cells(c, r, options.limit)),
            Err(why) => {
                let failed = Failed(why);
                let mut cells = [Cell::Empty; COLUMNS.len()];
                cells[0] = Cell::Text(c.name());
                cells[1] = Cell::Show(&failed);
                cells[COLUMNS.len() - 1] = Cell::Count(options.limit);
                results.failed_row(c.name(), why, &cells);
            }
        }
    }
    if table {
        println!("   eff. = live payload / limit; the binary's own mappings count against the limit too");
        print_after_free(rows.clone());
    }
    if rows.clone().any(|(_, r)| r.is_err()) { Exit::Failure } else { Exit::Success }
}

/// A seed from the kernel's 16 random bytes (AT_RANDOM), or from getrandom.
fn seed_from_auxv(startup: &Startup) -> u64 {
    let mut bytes = [0u8; 8];
    match startup.auxv.random {
        Some(random) => bytes.copy_from_slice(&random[..8]),
        None => {
            let _ = sys::getrandom(&mut bytes, 0);
        }
    }
    u64::from_le_bytes(bytes)
}

/// Step 1; false if `/proc/self/maps` could not be read (and it said so).
fn before_any_allocation() -> bool {
    println!("1. Before any allocation");
    image::print_segments();
    println!("   program break: brk(0) = {:#x}", sys::current_break());
    image::print_maps("   ")
}

/// Runs in a child: one allocation, then what changed.
fn first_allocation() {
    let before = sys::current_break();
    let block = tmalloc_alloc::global::tmalloc(24);
    let after = sys::current_break();
    println!(
        "\n2. After the first allocation: tmalloc(24) = {}",
        Hex(block.map_or(0, |p| p.as_ptr() as u64))
    );
    println!(
        "   program break: {before:#x} -> {after:#x}, up {} bytes: the heap exists because userland asked for it",
        Thousands(after.saturating_sub(before) as u64)
    );
    image::print_maps("   ");
    println!();
}

/// In the contender's process: lower the limit, run, free everything.
fn contend(c: Contender, options: &Options, seed: u64, progress: bool) -> Report {
    if let Err(e) = limit_address_space(options.limit) {
        eprintln!("tmalloc: {}: cannot lower RLIMIT_AS: {}", c.name(), ErrnoText(e));
        tmalloc_rt::exit(1);
    }
    #[cfg(debug_assertions)]
    crate::faults::crash_if_chosen(c);
    c.with_allocator(|alloc| measure(alloc, c, options, seed, progress))
}

fn measure(alloc: &mut dyn Measured, c: Contender, options: &Options, seed: u64, progress: bool) -> Report {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut work = ConsumeMemory::new(options.pattern, options.sizes);
    let break_start = sys::current_break() as u64;
    let start = now_ns();
    let outcome = work.run(alloc, &mut rng, u64::MAX, &mut |o| {
        if progress {
            eprint!("\r   {}: {} calls", c.name(), Thousands(o.calls));
        }
    });
    let elapsed_ns = now_ns() - start;
    if progress {
        eprint!("\r\x1b[2K");
    }
    let kernel_bytes = alloc.counters().total_bytes() as u64;
    let break_at_failure = sys::current_break() as u64;
    work.free_all(alloc);
    let whole_run = alloc.counters();
    Report {
        outcome,
        kernel_bytes,
        brk_calls: whole_run.brk_calls,
        mmap_calls: whole_run.mmap_calls,
        munmap_calls: whole_run.munmap_calls,
        elapsed_ns,
        break_start,
        break_at_failure,
        break_after_free: sys::current_break() as u64,
        kernel_bytes_after_free: whole_run.total_bytes() as u64,
    }
}

/// The results table; the CSV names are stable, for scripts.
const COLUMNS: [Column; 19] = [
    column!("contender", "contender", -22),
    column!("status", "", 0),
    column!("calls", "calls", 9),
    column!("allocs", "", 0),
    column!("frees", "", 0),
    column!("live_blocks", "live", 9),
    column!("live_payload_bytes", "payload B", 11),
    column!("kernel_bytes", "kernel B", 11),
    column!("", "eff.", 6),
    column!("brk_calls", "brk", 4),
    column!("mmap_calls", "mmap", 4),
    column!("munmap_calls", "munmap", 6),
    column!("elapsed_ns", "", 0),
    column!("", "ms", 8),
    column!("", "ns/call", 7),
    column!("break_after_free", "", 0),
    column!("efficiency", "", 0),
    column!("ns_per_call", "", 0),
    column!("limit_bytes", "", 0),
];

fn cells(c: Contender, r: &Report, limit: u64) -> [Cell<'static>; 19] {
    let o = &r.outcome;
    [
        Cell::Text(c.name()),
        Cell::Text("ok"),
        Cell::Count(o.calls),
        Cell::Count(o.allocs),
        Cell::Count(o.frees),
        Cell::Count(o.live_blocks),
        Cell::Count(o.live_bytes),
        Cell::Count(r.kernel_bytes),
        Cell::Ratio(Ratio::new(o.live_bytes, limit, 3)),
        Cell::Count(r.brk_calls),
        Cell::Count(r.mmap_calls),
        Cell::Count(r.munmap_calls),
        Cell::Count(r.elapsed_ns),
        Cell::Ratio(Ratio::new(r.elapsed_ns, 1_000_000, 1)),
        Cell::Ratio(Ratio::new(r.elapsed_ns, o.calls, 1)),
        Cell::Count(r.break_after_free),
        Cell::Ratio(Ratio::new(o.live_bytes, limit, 4)),
        Cell::Ratio(Ratio::new(r.elapsed_ns, o.calls, 1)),
        Cell::Count(limit),
    ]
}

fn print_after_free<'a>(rows: impl Iterator<Item = (Contender, &'a Result<Report, ChildFailed>)>) {
    println!("\n4. After freeing everything: did free give memory back to the kernel?");
    const AFTER_FREE: [Column; 5] = [
        column!("", "contender", -22),
        column!("", "break at start", 14),
        column!("", "at failure", 14),
        column!("", "after free", 14),
        column!("", "still held B", 12),
    ];
    let table = Table { format: Format::Table, columns: &AFTER_FREE, indent: "   " };
    table.header();
    for (c, row) in rows {
        if let Ok(r) = row {
            table.row(&[
                Cell::Text(c.name()),
                Cell::Hex(r.break_start),
                Cell::Hex(r.break_at_failure),
                Cell::Hex(r.break_after_free),
                Cell::Count(r.kernel_bytes_after_free),
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_through_words() {
        let r = Report {
            outcome: Outcome {
                calls: 7,
                allocs: 5,
                frees: 2,
                live_blocks: 3,
                live_bytes: 72,
                failed_size: 24,
            },
            kernel_bytes: 4096,
            brk_calls: 2,
            mmap_calls: 1,
            munmap_calls: 1,
            elapsed_ns: 99,
            break_start: 0x1000,
            break_at_failure: 0x2000,
            break_after_free: 0x1000,
            kernel_bytes_after_free: 0,
        };
        assert_eq!(Report::decode(r.encode()), r);
    }
}
