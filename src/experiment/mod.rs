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
//! is the kernel that refuses `brk` and `mmap`; it reports through a pipe,
//! and the parent collects it with `wait4`. A contender that crashes is
//! reported in its row; the others still run.

pub mod contender;
pub mod report;
pub mod traces;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

pub use contender::{Contender, Contenders, Contestant};
use report::Report;

use crate::cli::{Format, Options, Seed};
use crate::inspect;
use crate::rt::fmt::{Bytes, Hex, Ratio, Thousands};
use crate::rt::{self, Startup, fs};
use crate::sys::{self, ExitStatus, Fd, Forked, Rlimit, clock, open, rlimit, signal};
use crate::workload::consume_memory::ConsumeMemory;
use crate::{eprint, eprintln, print, println};

/// How a contender's process ended.
enum Row {
    Done(Report),
    /// It died before reporting: by a signal, or with an exit status.
    Crashed(ExitStatus),
}

/// Memory a contender needs beyond what the binary already maps, to do
/// anything at all: one growth step of the heap.
const WORKING_ROOM: u64 = 256 << 10;

/// Runs the experiment; returns the exit status (1 if a contender crashed).
pub fn run(options: &Options, startup: &Startup) -> i32 {
    let seed = match options.seed {
        Seed::Fixed(n) => n,
        Seed::Random => seed_from_auxv(startup),
    };
    let mapped = mapped_bytes().unwrap_or(0);
    if options.limit < mapped + WORKING_ROOM {
        eprintln!(
            "tmalloc: --limit {} is below what the experiment needs: the binary already maps {}; use at least {}K",
            Bytes(options.limit),
            Bytes(mapped),
            (mapped + WORKING_ROOM).div_ceil(1024)
        );
        return crate::cli::USAGE_EXIT_CODE;
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
        before_any_allocation();
        if let Err(status) = in_child(first_allocation) {
            let (what, n) = crash_text(&status);
            println!("   (the demonstration child ended with {what} {n})");
        }
    }
    let crash = crate::test_fault::crashing_contender(startup);
    let progress = table && sys::is_terminal(Fd::STDERR);
    let rows: [(Contender, Option<Row>); Contender::ALL.len()] = Contender::ALL.map(|c| {
        let chosen = options.contenders.contains(c);
        (c, chosen.then(|| run_contender(c, options, seed, progress, crash == Some(c.name().as_bytes()))))
    });
    let rows = rows.iter().filter_map(|(c, r)| r.as_ref().map(|r| (*c, r)));
    match options.format {
        Format::Table => print_table(rows.clone(), options.limit),
        Format::Csv => print_csv(rows.clone(), options.limit),
    }
    if table {
        print_after_free(rows.clone());
    }
    let crashed = rows.clone().any(|(_, r)| matches!(r, Row::Crashed(_)));
    i32::from(crashed)
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

/// The bytes this process maps now (VmSize), all of which count against
/// `RLIMIT_AS` in every contender.
pub fn mapped_bytes() -> Option<u64> {
    let mut buf = [0u8; 4096];
    let (status, _) = fs::read_into(c"/proc/self/status", &mut buf).ok()?;
    let line = status.split(|&b| b == b'\n').find(|l| l.starts_with(b"VmSize:"))?;
    let digits: &[u8] = line[7..].trim_ascii().split(|&b| b == b' ').next()?;
    Some(crate::cli::parse_u64(digits)? * 1024)
}

fn before_any_allocation() {
    println!("1. Before any allocation");
    inspect::print_segments();
    println!("   program break: brk(0) = {:#x}", sys::current_break());
    inspect::print_maps("   ");
}

/// Runs in a child: one allocation, then what changed.
fn first_allocation() -> i32 {
    let before = sys::current_break();
    let block = crate::allocator::api::tmalloc(24);
    let after = sys::current_break();
    println!(
        "\n2. After the first allocation: tmalloc(24) = {}",
        Hex(block.map_or(0, |p| p.as_ptr() as u64))
    );
    println!(
        "   program break: {before:#x} -> {after:#x}, up {} bytes: the heap exists because userland asked for it",
        Thousands(after.saturating_sub(before) as u64)
    );
    inspect::print_maps("   ");
    println!();
    0
}

/// Forks; runs `work` in the child, which exits with its result; waits.
fn in_child(work: fn() -> i32) -> Result<(), ExitStatus> {
    match rt::fork() {
        Ok(Forked::Child) => rt::exit(work()),
        Ok(Forked::Parent(pid)) => match sys::wait4(pid) {
            Ok(ExitStatus::Exited(0)) => Ok(()),
            Ok(status) => Err(status),
            Err(_) => Err(ExitStatus::Other(-1)),
        },
        Err(_) => Err(ExitStatus::Other(-1)),
    }
}

/// Runs one contender in its own process and collects its report.
fn run_contender(c: Contender, options: &Options, seed: u64, progress: bool, crash: bool) -> Row {
    match in_reporting_child(|| contend(c, options, seed, progress, crash).to_words()) {
        Ok(words) => Row::Done(Report::from_words(words)),
        Err(status) => Row::Crashed(status),
    }
}

/// Marks a complete report from a child.
const REPORT_MAGIC: u64 = 0x7A11_0C5E_7E90_0B1D;

/// Runs `work` in a forked child, which sends its `N` words back through
/// a pipe; `Err` with how the child ended if they did not all arrive.
pub fn in_reporting_child<const N: usize>(work: impl FnOnce() -> [u64; N]) -> Result<[u64; N], ExitStatus> {
    let Ok([read_end, write_end]) = sys::pipe2(open::CLOEXEC) else {
        return Err(ExitStatus::Other(-1));
    };
    match rt::fork() {
        Ok(Forked::Child) => {
            let _ = sys::close(read_end);
            for word in work().into_iter().chain([REPORT_MAGIC]) {
                let _ = rt::io::write_all(write_end, &word.to_le_bytes());
            }
            rt::exit(0)
        }
        Ok(Forked::Parent(pid)) => {
            let _ = sys::close(write_end);
            let mut words = [0u64; N];
            let mut complete = true;
            for i in 0..=N {
                let mut bytes = [0u8; 8];
                complete &= fs::read_full(read_end, &mut bytes) == Ok(bytes.len());
                let word = u64::from_le_bytes(bytes);
                match words.get_mut(i) {
                    Some(w) => *w = word,
                    None => complete &= word == REPORT_MAGIC,
                }
            }
            let _ = sys::close(read_end);
            match sys::wait4(pid).unwrap_or(ExitStatus::Other(-1)) {
                ExitStatus::Exited(0) if complete => Ok(words),
                ExitStatus::Exited(0) => Err(ExitStatus::Other(-1)),
                status => Err(status),
            }
        }
        Err(_) => {
            let _ = sys::close(read_end);
            let _ = sys::close(write_end);
            Err(ExitStatus::Other(-1))
        }
    }
}

/// Lowers this process's `RLIMIT_AS` to `bytes`; the hard limit stays.
pub fn limit_address_space(bytes: u64) -> Result<(), sys::Errno> {
    let old = sys::prlimit64(0, rlimit::AS, None)
        .unwrap_or(Rlimit { cur: rlimit::INFINITY, max: rlimit::INFINITY });
    sys::prlimit64(0, rlimit::AS, Some(&Rlimit { cur: bytes, max: old.max })).map(drop)
}

/// In the contender's process: lower the limit, run, free everything.
fn contend(c: Contender, options: &Options, seed: u64, progress: bool, crash: bool) -> Report {
    if limit_address_space(options.limit).is_err() {
        eprintln!("tmalloc: {}: cannot lower RLIMIT_AS", c.name());
        rt::exit(1);
    }
    c.with_contestant(|alloc| measure(alloc, c, options, seed, progress, crash))
}

pub fn now_ns() -> u64 {
    sys::clock_gettime(clock::MONOTONIC).map_or(0, |t| t.as_nanos())
}

fn measure(
    alloc: &mut dyn Contestant,
    c: Contender,
    options: &Options,
    seed: u64,
    progress: bool,
    crash: bool,
) -> Report {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut work = ConsumeMemory::new(options.pattern, options.sizes);
    let break_start = sys::current_break() as u64;
    let start = now_ns();
    let outcome = work.run(alloc, &mut rng, u64::MAX, &mut |o| {
        if crash {
            // A deliberately broken contender, for the tests (TMALLOC_TEST_FAULT).
            let _ = sys::kill(sys::getpid(), signal::SIGSEGV);
        }
        if progress {
            eprint!("\r   {}: {} calls", c.name(), Thousands(o.calls));
        }
    });
    let elapsed_ns = now_ns() - start;
    if progress {
        eprint!("\r\x1b[2K");
    }
    let at_failure = alloc.counters();
    let break_at_failure = sys::current_break() as u64;
    work.free_all(alloc);
    Report {
        outcome,
        kernel_bytes: at_failure.total_bytes() as u64,
        brk_calls: at_failure.brk_calls,
        mmap_calls: at_failure.mmap_calls,
        munmap_calls: at_failure.munmap_calls,
        elapsed_ns,
        break_start,
        break_at_failure,
        break_after_free: sys::current_break() as u64,
        kernel_bytes_after_free: alloc.counters().total_bytes() as u64,
    }
}

fn crash_text(status: &ExitStatus) -> (&'static str, i32) {
    match *status {
        ExitStatus::Signaled(sig) => ("signal", sig),
        ExitStatus::Exited(code) => ("exit status", code),
        ExitStatus::Other(raw) => ("wait status", raw),
    }
}

/// The numbers of a row, in table and CSV order.
fn cells(r: &Report) -> [u64; 11] {
    let o = &r.outcome;
    [
        o.calls,
        o.allocs,
        o.frees,
        o.live_blocks,
        o.live_bytes,
        r.kernel_bytes,
        r.brk_calls,
        r.mmap_calls,
        r.munmap_calls,
        r.elapsed_ns,
        r.break_after_free,
    ]
}

fn print_table<'a>(rows: impl Iterator<Item = (Contender, &'a Row)>, limit: u64) {
    println!(
        "3. Until the first failed allocation, each contender in its own process, RLIMIT_AS = {}",
        Bytes(limit)
    );
    println!(
        "   {:<22} {:>9} {:>9} {:>11} {:>11} {:>6} {:>4} {:>4} {:>6} {:>8} {:>7}",
        "contender",
        "calls",
        "live",
        "payload B",
        "kernel B",
        "eff.",
        "brk",
        "mmap",
        "munmap",
        "ms",
        "ns/call"
    );
    for (c, row) in rows {
        print!("   {:<22}", c.name());
        match row {
            Row::Done(r) => {
                let [calls, _, _, live, payload, kernel, brk, mmap, munmap, elapsed, _] = cells(r);
                for (value, width) in [(calls, 9), (live, 9), (payload, 11), (kernel, 11)] {
                    print!(" {:>width$}", Thousands(value));
                }
                print!(" {:>6}", Ratio::new(payload, limit, 3));
                for (value, width) in [(brk, 4), (mmap, 4), (munmap, 6)] {
                    print!(" {value:>width$}");
                }
                println!(" {:>8} {:>7}", Ratio::new(elapsed, 1_000_000, 1), Ratio::new(elapsed, calls, 1));
            }
            Row::Crashed(status) => {
                let (what, n) = crash_text(status);
                println!(" crashed ({what} {n}): no results");
            }
        }
    }
    println!("   eff. = live payload / limit; the binary's own mappings count against the limit too");
}

/// The CSV header; the columns after `status` are [`cells`] in order.
pub const CSV_HEADER: &str = "contender,status,calls,allocs,frees,live_blocks,live_payload_bytes,kernel_bytes,brk_calls,mmap_calls,munmap_calls,elapsed_ns,break_after_free,efficiency,ns_per_call,limit_bytes";

fn print_csv<'a>(rows: impl Iterator<Item = (Contender, &'a Row)>, limit: u64) {
    println!("{CSV_HEADER}");
    for (c, row) in rows {
        print!("{}", c.name());
        match row {
            Row::Done(r) => {
                let cells = cells(r);
                print!(",ok");
                for value in cells {
                    print!(",{value}");
                }
                println!(",{},{},{limit}", Ratio::new(cells[4], limit, 4), Ratio::new(cells[9], cells[0], 1));
            }
            Row::Crashed(status) => {
                let (what, n) = crash_text(status);
                println!(",crashed: {what} {n},,,,,,,,,,,,,,{limit}");
            }
        }
    }
}

fn print_after_free<'a>(rows: impl Iterator<Item = (Contender, &'a Row)>) {
    println!("\n4. After freeing everything: did free give memory back to the kernel?");
    println!(
        "   {:<22} {:>14} {:>14} {:>14} {:>12}",
        "contender", "break at start", "at failure", "after free", "still held B"
    );
    for (c, row) in rows {
        if let Row::Done(r) = row {
            print!("   {:<22}", c.name());
            for address in [r.break_start, r.break_at_failure, r.break_after_free] {
                print!(" {:>14}", Hex(address));
            }
            println!(" {:>12}", Thousands(r.kernel_bytes_after_free));
        }
    }
}
