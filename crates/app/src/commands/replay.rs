//! `tmalloc --trace FILE...`: recorded allocation traces replayed through
//! every contender.
//!
//! Every file is decoded first, so a bad one stops the run before anything
//! is measured. Then, for each trace and contender, two forked processes
//! replay it from a fresh heap: one timed, with nothing but the
//! allocator's calls; one checked, with each block filled with a pattern
//! and verified, and the heap's footprint sampled. The decoded trace lives
//! in mappings of the parent, inherited by both; each child's `RLIMIT_AS`
//! is what it maps at the start plus `--limit`, so the bookkeeping never
//! counts against the contender.
//!
//! Utilization is the CS:APP malloc lab's: the most payload live at once
//! (by the trace's sizes) over the most bytes the allocator held from the
//! kernel.

use tmalloc_rt::fmt::{Bytes, Cut, ErrnoText, Lossy, Ratio, Thousands};
use tmalloc_rt::mapvec::MapVec;
use tmalloc_rt::process::{
    ChildFailed, Wire, address_space_ceiling, limit_address_space, mapped_bytes, now_ns, run_in_child,
};
use tmalloc_rt::{eprintln, print, println};
use tmalloc_sys::Errno;
use tmalloc_workload::replay::{self, Failure, Mode, Slot};
use tmalloc_workload::trace::{self, Problem, Skip, Trace};

use crate::cli::ECHO;
use crate::contenders::{Contender, Lineup, Measured};
use crate::report::{Cell, Column, Failed, Format, Table, column};
use crate::{Exit, HardLimit, cannot_go_on};

/// The most trace files one command replays.
pub(crate) const MAX_TRACES: usize = 32;

/// The default heap room per contender when replaying traces, if the hard
/// address-space limit leaves that much.
pub(crate) const DEFAULT_TRACE_LIMIT: u64 = 1 << 30;

/// The least heap room the default settles for: one growth step.
const LEAST_HEAP: u64 = 256 << 10;

/// Settings for replaying traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReplayOptions<'a> {
    files: [&'a [u8]; MAX_TRACES],
    file_count: usize,
    /// RLIMIT_AS for each contender, beyond what the process maps already
    /// (the binary and the decoded trace); `None`: the default.
    pub(crate) heap_limit: Option<u64>,
    pub(crate) lineup: Lineup,
    pub(crate) format: Format,
    pub(crate) strict: bool,
}

/// More than [`MAX_TRACES`] files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooManyTraces;

impl<'a> ReplayOptions<'a> {
    pub(crate) const fn new() -> ReplayOptions<'a> {
        ReplayOptions {
            files: [&[]; MAX_TRACES],
            file_count: 0,
            heap_limit: None,
            lineup: Lineup::ALL,
            format: Format::Table,
            strict: false,
        }
    }

    pub(crate) fn files(&self) -> &[&'a [u8]] {
        &self.files[..self.file_count]
    }

    pub(crate) fn add_file(&mut self, file: &'a [u8]) -> Result<(), TooManyTraces> {
        *self.files.get_mut(self.file_count).ok_or(TooManyTraces)? = file;
        self.file_count += 1;
        Ok(())
    }
}

impl Default for ReplayOptions<'_> {
    fn default() -> Self {
        ReplayOptions::new()
    }
}

/// What one replay sends back: operations done, peak footprint, how it
/// stopped, its time, and the `brk`, `mmap` and `munmap` calls it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Replayed {
    ops: u64,
    peak_heap: u64,
    failure: Option<Failure>,
    elapsed_ns: u64,
    kernel_calls: u64,
}

impl Wire<6> for Replayed {
    fn encode(&self) -> [u64; 6] {
        let (kind, op) = match self.failure {
            None => (0, 0),
            Some(Failure::OutOfMemory { op }) => (1, op),
            Some(Failure::ContentsChanged { op }) => (2, op),
        };
        [self.ops, self.peak_heap, kind, op, self.elapsed_ns, self.kernel_calls]
    }

    fn decode([ops, peak_heap, kind, op, elapsed_ns, kernel_calls]: [u64; 6]) -> Replayed {
        let failure = match kind {
            0 => None,
            1 => Some(Failure::OutOfMemory { op }),
            _ => Some(Failure::ContentsChanged { op }),
        };
        Replayed { ops, peak_heap, failure, elapsed_ns, kernel_calls }
    }
}

/// Per contender, over all traces, for the average row.
#[derive(Clone, Copy, Default)]
struct Sums {
    /// Utilization of each trace, in millionths, summed.
    utilization_ppm: u64,
    ops: u64,
    elapsed_ns: u64,
    kernel_calls: u64,
    /// Traces it replayed to the end.
    complete: u64,
}

/// Runs the replay: [`Exit::Usage`] for a bad trace, [`Exit::Failure`] if
/// a contender crashed or changed a block's contents.
pub(crate) fn run(options: &ReplayOptions<'_>) -> Exit {
    let files = options.files();
    // The decoded traces (250 bytes each, before their operations) live in
    // a mapping, off the stack.
    let mut traces = MapVec::new();
    for name in files {
        let pushed = match load(name, options.strict) {
            Ok(t) => traces.push(t),
            Err(exit) => return exit,
        };
        if pushed.is_err() {
            eprintln!("tmalloc: out of memory for the decoded traces");
            return Exit::Failure;
        }
    }
    let traces = traces.as_slice();
    // One table of live blocks, long enough for every trace: the children
    // write into their copies of it, so it stays empty here.
    let most_slots = traces.iter().map(|t| t.slots as usize).max().unwrap_or(0);
    let Ok(mut slots) = MapVec::filled(most_slots, Slot::EMPTY) else {
        eprintln!("tmalloc: out of memory for the replay's block table");
        return Exit::Failure;
    };
    let heap_limit = match heap_limit(options.heap_limit) {
        Ok(limit) => limit,
        Err(exit) => return exit,
    };
    let table = options.format == Format::Table;
    if table {
        println!(
            "tmalloc {}: trace replay, {} trace{}, each contender in its own process, heap limit {} beyond the trace's bookkeeping",
            env!("CARGO_PKG_VERSION"),
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            Bytes(heap_limit),
        );
    }
    let rows = Table { format: options.format, columns: &COLUMNS, indent: "   " };
    if !table {
        rows.header();
    }
    let mut sums = [Sums::default(); Contender::ALL.len()];
    let mut broken = false;
    for (name, t) in files.iter().zip(traces) {
        describe(name, t, table);
        let slots = &mut slots.as_mut_slice()[..t.slots as usize];
        if table {
            rows.header();
        }
        for (c, sum) in Contender::ALL.iter().zip(&mut sums) {
            if !options.lineup.contains(*c) {
                continue;
            }
            match measure(*c, t, slots, heap_limit) {
                Ok(r) => {
                    broken |= matches!(r.failure, Some(Failure::ContentsChanged { .. }));
                    if r.failure.is_none() {
                        sum.utilization_ppm += t.peak_payload * 1_000_000 / r.peak_heap.max(1);
                        sum.ops += r.ops;
                        sum.elapsed_ns += r.elapsed_ns;
                        sum.kernel_calls += r.kernel_calls;
                        sum.complete += 1;
                    }
                    rows.row(&cells(&Lossy(name), *c, t, &r, &Status(r.failure)));
                }
                Err(why) if why.is_environment() => return cannot_go_on(&why),
                Err(why) => {
                    broken = true;
                    let (lossy, failed) = (Lossy(name), Failed(&why));
                    let mut cells = [Cell::Empty; COLUMNS.len()];
                    cells[0] = Cell::Show(&lossy);
                    cells[1] = Cell::Text(c.name());
                    cells[2] = Cell::Show(&failed);
                    rows.failed_row(c.name(), &why, &cells);
                }
            }
        }
    }
    print_average(options, &sums, files.len() as u64, table);
    if broken { Exit::Failure } else { Exit::Success }
}

/// The heap room each contender gets beyond what the process maps now (the
/// binary, the decoded traces): `asked`, or by default 1 GiB, or less if
/// the hard address-space limit leaves less. Asking for more than it
/// leaves is a usage error that names the most.
fn heap_limit(asked: Option<u64>) -> Result<u64, Exit> {
    let mapped = mapped_bytes().unwrap_or(0);
    let ceiling = address_space_ceiling();
    let most = ceiling.saturating_sub(mapped);
    match asked {
        Some(limit) if limit > most => {
            eprintln!(
                "tmalloc: --limit {} is more than {} leaves beyond the {} the process maps: use at most {}K",
                Bytes(limit),
                HardLimit(ceiling),
                Bytes(mapped),
                most / 1024
            );
            Err(Exit::Usage)
        }
        Some(limit) => Ok(limit),
        None if most < LEAST_HEAP => {
            eprintln!(
                "tmalloc: {} leaves no room for a heap beyond the {} the process maps",
                HardLimit(ceiling),
                Bytes(mapped)
            );
            Err(Exit::Failure)
        }
        None => Ok(most.min(DEFAULT_TRACE_LIMIT)),
    }
}

/// Decodes `name`, or prints why not and returns the exit status that
/// says it: [`Exit::Usage`] for a bad trace or a path that names no
/// readable file, [`Exit::Failure`] when the system failed (out of
/// descriptors or memory, an I/O error).
fn load(name: &[u8], strict: bool) -> Result<Trace, Exit> {
    // A pipe or FIFO whose writer is silent is waited for, but not silently.
    let mut said = false;
    let mut waiting = || {
        if !said {
            eprintln!("tmalloc: {}: waiting for a writer (nothing to read yet)", Cut(name, ECHO));
            said = true;
        }
    };
    trace::load(name, strict, &mut waiting).map_err(|e| {
        match e.line {
            Some(_) => eprintln!("tmalloc: {}:{e}", Cut(name, ECHO)),
            None => eprintln!("tmalloc: {}: {e}", Cut(name, ECHO)),
        }
        match e.problem {
            Problem::Open(errno) | Problem::Read(errno) if environment_failed(errno) => Exit::Failure,
            Problem::NoMemory => Exit::Failure,
            _ => Exit::Usage,
        }
    })
}

/// Whether a file could not be opened or read because the system failed,
/// not because of the path: the errors the same path may not give again.
fn environment_failed(errno: Errno) -> bool {
    matches!(errno, Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM | Errno::EIO | Errno::EINTR | Errno::EAGAIN)
}

/// What the trace holds, and what of it was left out.
fn describe(name: &[u8], t: &Trace, table: bool) {
    if table {
        print!("\n{}: {}", Lossy(name), t.format.name());
        if let Some(pid) = t.pid {
            print!(" of pid {pid}");
        }
        println!(
            ", {} lines: {} operations ({} allocs, {} reallocs, {} frees), at most {} blocks live, peak payload {}",
            Thousands(t.lines),
            Thousands(t.ops.len() as u64),
            Thousands(t.allocs),
            Thousands(t.reallocs),
            Thousands(t.frees),
            Thousands(t.slots as u64),
            Bytes(t.peak_payload),
        );
    }
    // In CSV mode the notes go to stderr, keeping stdout one table.
    let note = |text: core::fmt::Arguments<'_>| {
        if table {
            println!("   {text}");
        } else {
            eprintln!("tmalloc: {}: {text}", Lossy(name));
        }
    };
    if t.skipped.total() > 0 {
        note(format_args!("skipped {} lines (--strict makes them errors):", Thousands(t.skipped.total())));
        for why in Skip::ALL {
            let (count, line) = (t.skipped.count[why as usize], t.skipped.first_line[why as usize]);
            if count > 0 {
                note(format_args!("  {} {} (first on line {line})", Thousands(count), why.describe()));
            }
        }
    }
    let others = t.other_processes;
    if others.count > 0 {
        note(format_args!(
            "ignored {} lines of {} other process{} (first pid {}): only the first process is replayed",
            Thousands(others.lines),
            others.count,
            if others.count == 1 { "" } else { "es" },
            others.first_pid,
        ));
    }
}

/// Replays `t` through contender `c`, timed in one child and checked in
/// another. The checked run's failure is the one to report: it sees
/// changed contents, and runs out of memory where the timed one does.
fn measure(c: Contender, t: &Trace, slots: &mut [Slot], heap_limit: u64) -> Result<Replayed, ChildFailed> {
    let mut run = |mode| {
        run_in_child(|| {
            // Never above the hard limit, should this child map more than
            // its parent did when it checked the room.
            let room = mapped_bytes().unwrap_or(0).saturating_add(heap_limit).min(address_space_ceiling());
            if let Err(e) = limit_address_space(room) {
                eprintln!("tmalloc: {}: cannot lower RLIMIT_AS: {}", c.name(), ErrnoText(e));
                tmalloc_rt::exit(1);
            }
            c.with_allocator(|alloc| replay_with(alloc, t, slots, mode))
        })
    };
    let timed = run(Mode::Timed)?;
    let checked = run(Mode::Checked)?;
    Ok(Replayed { elapsed_ns: timed.elapsed_ns, ..checked })
}

/// In the child: the replay, and its time.
fn replay_with(alloc: &mut dyn Measured, t: &Trace, slots: &mut [Slot], mode: Mode) -> Replayed {
    let start = now_ns();
    let out = replay::replay(alloc, t.ops.as_slice(), slots, mode, |a| a.counters().total_bytes() as u64);
    let elapsed_ns = now_ns() - start;
    let c = alloc.counters();
    let kernel_calls = c.brk_calls + c.mmap_calls + c.munmap_calls;
    Replayed { ops: out.ops, peak_heap: out.peak_footprint, failure: out.failure, elapsed_ns, kernel_calls }
}

/// The per-trace table; in CSV, average rows have `average` as their trace.
const COLUMNS: [Column; 10] = [
    column!("trace", "", 0),
    column!("contender", "contender", -22),
    column!("status", "", 0),
    column!("ops", "ops", 11),
    column!("peak_payload_bytes", "peak payload B", 14),
    column!("peak_heap_bytes", "peak heap B", 14),
    column!("utilization", "util.", 6),
    column!("ns_per_op", "ns/op", 7),
    column!("kernel_calls", "", 0),
    column!("", "contents", 0),
];

/// What a replay's status column says.
struct Status(Option<Failure>);

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            None => f.write_str("ok"),
            Some(Failure::OutOfMemory { op }) => write!(f, "out of memory at op {op}"),
            Some(Failure::ContentsChanged { op }) => write!(f, "CHANGED: a block's contents at op {op}"),
        }
    }
}

fn cells<'a>(
    name: &'a Lossy<'a>,
    c: Contender,
    t: &Trace,
    r: &Replayed,
    status: &'a Status,
) -> [Cell<'a>; 10] {
    // A replay that stopped early has no utilization or speed to speak of.
    let (utilization, ns_per_op) = match r.failure {
        None => (Ratio::new(t.peak_payload, r.peak_heap, 3), Ratio::new(r.elapsed_ns, r.ops, 1)),
        Some(_) => (Ratio::new(0, 0, 0), Ratio::new(0, 0, 0)),
    };
    [
        Cell::Show(name),
        Cell::Text(c.name()),
        Cell::Show(status),
        Cell::Count(r.ops),
        Cell::Count(t.peak_payload),
        Cell::Count(r.peak_heap),
        Cell::Ratio(utilization),
        Cell::Ratio(ns_per_op),
        Cell::Count(r.kernel_calls),
        Cell::Show(status),
    ]
}

fn print_average(options: &ReplayOptions<'_>, sums: &[Sums], traces: u64, table: bool) {
    // The CSV keeps the per-trace columns, with no peak figures.
    const AVERAGE: [Column; 9] = [
        column!("trace", "", 0),
        column!("contender", "contender", -22),
        column!("status", "", 0),
        column!("ops", "ops", 11),
        column!("peak_payload_bytes", "", 0),
        column!("peak_heap_bytes", "", 0),
        column!("utilization", "util.", 6),
        column!("ns_per_op", "ns/op", 7),
        column!("kernel_calls", "", 0),
    ];
    if table && traces == 1 {
        return;
    }
    let rows = Table { format: options.format, columns: &AVERAGE, indent: "   " };
    if table {
        println!(
            "\naverage over {traces} traces (utilization: the mean of the traces'; ns/op: all time over all ops)"
        );
        rows.header();
    }
    for (c, sum) in Contender::ALL.iter().zip(sums) {
        if !options.lineup.contains(*c) {
            continue;
        }
        let complete = sum.complete == traces;
        let (utilization, ns_per_op) = if complete {
            (Ratio::new(sum.utilization_ppm, traces * 1_000_000, 3), Ratio::new(sum.elapsed_ns, sum.ops, 1))
        } else {
            (Ratio::new(0, 0, 0), Ratio::new(0, 0, 0))
        };
        rows.row(&[
            Cell::Text("average"),
            Cell::Text(c.name()),
            Cell::Text(if complete { "ok" } else { "incomplete" }),
            Cell::Count(sum.ops),
            Cell::Empty,
            Cell::Empty,
            Cell::Ratio(utilization),
            Cell::Ratio(ns_per_op),
            Cell::Count(sum.kernel_calls),
        ]);
    }
}
