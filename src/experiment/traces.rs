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

use core::ffi::CStr;

use super::{Contender, Contestant, in_reporting_child, limit_address_space, mapped_bytes, now_ns};
use crate::cli::{Format, MAX_TRACES, ReplayOptions, USAGE_EXIT_CODE};
use crate::rt::fmt::{Bytes, Lossy, Ratio, Thousands};
use crate::rt::mapvec::MapVec;
use crate::sys::ExitStatus;
use crate::trace::{self, Skip, Trace};
use crate::workload::replay::{self, Failure, Mode, Slot};
use crate::{eprintln, print, println};

/// One contender's replay of one trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    Done { ops: u64, peak_heap: u64, elapsed_ns: u64, failure: Option<Failure> },
    Crashed(ExitStatus),
}

/// Per contender, over all traces, for the average row.
#[derive(Clone, Copy, Default)]
struct Sums {
    /// Utilization of each trace, in millionths, summed.
    utilization_ppm: u64,
    ops: u64,
    elapsed_ns: u64,
    /// Traces it replayed to the end.
    complete: u64,
}

/// Runs the replay; returns the exit status: 2 for a bad trace, 1 if a
/// contender crashed or changed a block's contents.
pub fn run(options: &ReplayOptions<'_>) -> i32 {
    let files = options.files();
    let mut traces: [Option<Trace>; MAX_TRACES] = [const { None }; MAX_TRACES];
    for (name, slot) in files.iter().zip(&mut traces) {
        match load(name, options.strict) {
            Ok(t) => *slot = Some(t),
            Err(()) => return USAGE_EXIT_CODE,
        }
    }
    let table = options.format == Format::Table;
    if table {
        println!(
            "tmalloc {}: trace replay, {} trace{}, each contender in its own process, heap limit {} beyond the trace's bookkeeping",
            env!("CARGO_PKG_VERSION"),
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            Bytes(options.heap_limit),
        );
    } else {
        println!("{CSV_HEADER}");
    }
    let mut sums = [Sums::default(); Contender::ALL.len()];
    let mut broken = false;
    for (name, t) in files.iter().zip(traces.iter().flatten()) {
        describe(name, t, table);
        let Ok(mut slots) = MapVec::filled(t.slots as usize, Slot::EMPTY) else {
            eprintln!("tmalloc: {}: out of memory for the replay's block table", Lossy(name));
            return 1;
        };
        if table {
            println!(
                "   {:<22} {:>11} {:>14} {:>14} {:>6} {:>7}  contents",
                "contender", "ops", "peak payload B", "peak heap B", "util.", "ns/op"
            );
        }
        for (c, sum) in Contender::ALL.iter().zip(&mut sums) {
            if !options.contenders.contains(*c) {
                continue;
            }
            let row = measure(*c, t, slots.as_mut_slice(), options.heap_limit);
            broken |= matches!(
                row,
                Row::Crashed(_) | Row::Done { failure: Some(Failure::ContentsChanged { .. }), .. }
            );
            if let Row::Done { ops, peak_heap, elapsed_ns, failure: None } = row {
                sum.utilization_ppm += t.peak_payload * 1_000_000 / peak_heap.max(1);
                sum.ops += ops;
                sum.elapsed_ns += elapsed_ns;
                sum.complete += 1;
            }
            print_row(name, *c, t, &row, table);
        }
    }
    print_average(options, &sums, files.len() as u64, table);
    i32::from(broken)
}

/// Decodes `name`, or prints why not.
fn load(name: &[u8], strict: bool) -> Result<Trace, ()> {
    let mut path = [0u8; 4096];
    let Some(path) = c_path(name, &mut path) else {
        eprintln!("tmalloc: {}: path too long", Lossy(name));
        return Err(());
    };
    trace::load(path, strict).map_err(|e| match e.line {
        Some(_) => eprintln!("tmalloc: {}:{e}", Lossy(name)),
        None => eprintln!("tmalloc: {}: {e}", Lossy(name)),
    })
}

/// `name` with a NUL after it, in `buf`; `None` if it does not fit.
fn c_path<'b>(name: &[u8], buf: &'b mut [u8]) -> Option<&'b CStr> {
    buf.get_mut(..name.len())?.copy_from_slice(name);
    *buf.get_mut(name.len())? = 0;
    CStr::from_bytes_with_nul(&buf[..=name.len()]).ok()
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
/// another.
fn measure(c: Contender, t: &Trace, slots: &mut [Slot], heap_limit: u64) -> Row {
    let mut run = |mode| {
        in_reporting_child(|| {
            let room = mapped_bytes().unwrap_or(0).saturating_add(heap_limit);
            if limit_address_space(room).is_err() {
                eprintln!("tmalloc: {}: cannot lower RLIMIT_AS", c.name());
                crate::rt::exit(1);
            }
            c.with_contestant(|alloc| replay_with(alloc, t, slots, mode))
        })
    };
    let (timed, checked) = match (run(Mode::Timed), run(Mode::Checked)) {
        (Ok(timed), Ok(checked)) => (timed, checked),
        (Err(status), _) | (_, Err(status)) => return Row::Crashed(status),
    };
    // The checked run's failure is the one to report: it sees changed
    // contents, and runs out of memory where the timed one does.
    let [ops, peak_heap, failure, failed_op, _] = checked;
    let failure = match failure {
        0 => None,
        1 => Some(Failure::OutOfMemory { op: failed_op }),
        _ => Some(Failure::ContentsChanged { op: failed_op }),
    };
    Row::Done { ops, peak_heap, elapsed_ns: timed[4], failure }
}

/// In the child: the replay, as words for the parent.
fn replay_with(alloc: &mut dyn Contestant, t: &Trace, slots: &mut [Slot], mode: Mode) -> [u64; 5] {
    let start = now_ns();
    let out = replay::replay(alloc, t.ops.as_slice(), slots, mode, |a| a.counters().total_bytes() as u64);
    let elapsed_ns = now_ns() - start;
    let (failure, op) = match out.failure {
        None => (0, 0),
        Some(Failure::OutOfMemory { op }) => (1, op),
        Some(Failure::ContentsChanged { op }) => (2, op),
    };
    [out.ops, out.peak_footprint, failure, op, elapsed_ns]
}

/// The CSV header; average rows have `average` as their trace.
pub const CSV_HEADER: &str =
    "trace,contender,status,ops,peak_payload_bytes,peak_heap_bytes,utilization,ns_per_op";

/// What a row's status column says.
struct Status<'r>(&'r Row);

impl core::fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Row::Done { failure: None, .. } => f.write_str("ok"),
            Row::Done { failure: Some(Failure::OutOfMemory { op }), .. } => {
                write!(f, "out of memory at op {op}")
            }
            Row::Done { failure: Some(Failure::ContentsChanged { op }), .. } => {
                write!(f, "CHANGED: a block's contents at op {op}")
            }
            Row::Crashed(status) => {
                let (what, n) = super::crash_text(status);
                write!(f, "crashed ({what} {n})")
            }
        }
    }
}

fn print_row(name: &[u8], c: Contender, t: &Trace, row: &Row, table: bool) {
    let (ops, peak_heap, elapsed_ns, complete) = match *row {
        Row::Done { ops, peak_heap, elapsed_ns, failure } => (ops, peak_heap, elapsed_ns, failure.is_none()),
        Row::Crashed(_) => (0, 0, 0, false),
    };
    // A replay that stopped early has no utilization or speed to speak of.
    let (utilization, ns_per_op) = if complete {
        (Ratio::new(t.peak_payload, peak_heap, 3), Ratio::new(elapsed_ns, ops, 1))
    } else {
        (Ratio::new(0, 0, 0), Ratio::new(0, 0, 0))
    };
    if table {
        print!("   {:<22}", c.name());
        if let Row::Crashed(_) = row {
            println!(" {}", Status(row));
            return;
        }
        println!(
            " {:>11} {:>14} {:>14} {utilization:>6} {ns_per_op:>7}  {}",
            Thousands(ops),
            Thousands(t.peak_payload),
            Thousands(peak_heap),
            Status(row)
        );
    } else {
        println!(
            "{},{},{},{ops},{},{peak_heap},{utilization},{ns_per_op}",
            Lossy(name),
            c.name(),
            Status(row),
            t.peak_payload
        );
    }
}

fn print_average(options: &ReplayOptions<'_>, sums: &[Sums], traces: u64, table: bool) {
    if table && traces > 1 {
        println!(
            "\naverage over {traces} traces (utilization: the mean of the traces'; ns/op: all time over all ops)"
        );
        println!("   {:<22} {:>11} {:>6} {:>7}", "contender", "ops", "util.", "ns/op");
    }
    if table && traces == 1 {
        return;
    }
    for (c, sum) in Contender::ALL.iter().zip(sums) {
        if !options.contenders.contains(*c) {
            continue;
        }
        let (utilization, ns_per_op) = if sum.complete == traces {
            (Ratio::new(sum.utilization_ppm, traces * 1_000_000, 3), Ratio::new(sum.elapsed_ns, sum.ops, 1))
        } else {
            (Ratio::new(0, 0, 0), Ratio::new(0, 0, 0))
        };
        let status = if sum.complete == traces { "ok" } else { "incomplete" };
        if table {
            println!("   {:<22} {:>11} {utilization:>6} {ns_per_op:>7}", c.name(), Thousands(sum.ops));
        } else {
            println!("average,{},{status},{},,,{utilization},{ns_per_op}", c.name(), sum.ops);
        }
    }
}
