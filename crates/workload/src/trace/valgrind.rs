//! valgrind's `--trace-malloc=yes` log, as `valgrind --trace-malloc=yes
//! PROGRAM 2> log` writes it (valgrind 3.19 here):
//!
//! ```text
//! ==32022== Memcheck, a memory error detector
//! --32022-- malloc(16) = 0x4A40040
//! --32022-- calloc(3,8) = 0x4A40090
//! --32022-- realloc(0x4A40040,100) = 0x4A400F0
//! --32022-- realloc(0x0,40)malloc(40) = 0x4A401A0     realloc(NULL, n)
//! --32022-- memalign(al 64, size 100) = 0x4A40280     also posix_memalign, aligned_alloc
//! --32022-- realloc(0x4A401A0,0)free(0x4A401A0)       realloc(p, 0) frees p
//! --32022--  = 0
//! partial--32022-- free(0x4A400F0)                    after the program's own output
//! --32023-- _Znwm(4) = 0x4D6DC80                      operator new, in a forked child
//! --32023-- _ZdlPvm(0x4D6DC80)                        operator delete
//! ```
//!
//! A record starts at the first `--PID-- ` on a line, wherever the
//! program's output left the cursor, and ends the line. valgrind prints a
//! call, then its result when the call returns, so another thread's record
//! may come in between: `--15282-- malloc(765)calloc(17,16) = 0x6DEF090`.
//! The last call of such a line is replayed with the result; each call
//! before it is [`Skip::Interrupted`] (its result comes later, on a line of
//! its own that does not say whose it is). Only the first process's
//! records are used; other processes' are counted. Calls that are not
//! allocation events (`malloc_usable_size`, `mallinfo`) and every other
//! line are ignored. Allocation events the replay cannot use are
//! [`Skip`]ped.
//!
//! A line longer than the read buffer comes in parts ([`Part`]); its
//! record is read whole if it is no longer than [`super::OVERLAP`], and
//! [`Skip::LongLine`] otherwise.

use super::{OVERLAP, OtherProcesses, Problem, Recorder, Refusal, Skip};
use tmalloc_rt::keys::KeyMap;
use tmalloc_rt::lines::Part;

/// Whether `text` starts the way every valgrind line does: `==PID==` or
/// `--PID--`.
pub fn is_log_line(text: &[u8]) -> bool {
    prefix(text, b'=').or_else(|| prefix(text, b'-')).is_some()
}

/// `MMdigitsMM` at the start of `text` (`M` is `mark`): the pid, and what
/// follows.
fn prefix(text: &[u8], mark: u8) -> Option<(u64, &[u8])> {
    let rest = text.strip_prefix(&[mark, mark])?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let pid = tmalloc_rt::parse::parse_u64(&rest[..digits])?;
    Some((pid, rest[digits..].strip_prefix(&[mark, mark])?))
}

/// The first `--PID--` record that starts in the first `own` bytes of the
/// line: the pid, and the record after the one space valgrind puts there.
fn record(text: &[u8], own: usize) -> Option<(u64, &[u8])> {
    (0..own.min(text.len())).filter(|&i| text[i] == b'-').find_map(|i| {
        let (pid, rest) = prefix(&text[i..], b'-')?;
        Some((pid, rest.strip_prefix(b" ").unwrap_or(rest)))
    })
}

/// What a function does to the heap, by its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Alloc,
    Calloc,
    Realloc,
    Free,
    /// Not an allocation event.
    Other,
}

/// The allocator functions valgrind names, by what they do. A table, not
/// a `match` on byte strings: the match compiles to a comparison tree four
/// times the size.
const CALLS: [(&[u8], Call); 14] = [
    (b"malloc", Call::Alloc),
    (b"valloc", Call::Alloc),
    (b"pvalloc", Call::Alloc),
    (b"memalign", Call::Alloc),
    (b"posix_memalign", Call::Alloc),
    (b"aligned_alloc", Call::Alloc),
    (b"__builtin_new", Call::Alloc),
    (b"__builtin_vec_new", Call::Alloc),
    (b"calloc", Call::Calloc),
    (b"realloc", Call::Realloc),
    (b"free", Call::Free),
    (b"cfree", Call::Free),
    (b"__builtin_delete", Call::Free),
    (b"__builtin_vec_delete", Call::Free),
];

fn classify(name: &[u8]) -> Call {
    if let Some(&(_, call)) = CALLS.iter().find(|(n, _)| *n == name) {
        return call;
    }
    // The Itanium C++ ABI's operator new / new[] (`_Znwm`, `_Znam`, their
    // nothrow and align_val_t forms) and operator delete / delete[].
    match name.get(..3) {
        Some(b"_Zn") => Call::Alloc,
        Some(b"_Zd") => Call::Free,
        _ => Call::Other,
    }
}

pub struct Parser {
    pid: Option<u64>,
    other: OtherProcesses,
    other_pids: KeyMap,
    /// A record was found in an earlier part of the current long line.
    record_on_line: bool,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            pid: None,
            other: OtherProcesses::default(),
            other_pids: KeyMap::new(),
            record_on_line: false,
        }
    }

    pub fn pid(&self) -> Option<u64> {
        self.pid
    }

    pub fn other_processes(&self) -> OtherProcesses {
        self.other
    }

    /// Whether `pid` is the first process of the log (the first pid seen
    /// is); counts the lines of the others.
    fn first_process(&mut self, pid: u64) -> Result<bool, Problem> {
        match self.pid {
            None => self.pid = Some(pid),
            Some(first) if first != pid => {
                if self.other_pids.insert(pid, 0)?.is_none() {
                    if self.other.count == 0 {
                        self.other.first_pid = pid;
                    }
                    self.other.count += 1;
                }
                self.other.lines += 1;
                return Ok(false);
            }
            Some(_) => {}
        }
        Ok(true)
    }

    /// A part of a line ([`Part`]). A record found in the own bytes of a
    /// part before the last is followed by more than [`OVERLAP`] bytes: too
    /// long to be valgrind's. One found in the last part is read.
    pub fn part(&mut self, record: &mut Recorder, text: &[u8], part: Part) -> Result<(), Problem> {
        if part.starts_line() {
            self.record_on_line = false;
        }
        if self.record_on_line {
            return Ok(());
        }
        if let Part::Whole | Part::Last = part {
            return self.line(record, text);
        }
        let Some((pid, rest)) = self::record(text, part.own(text.len(), OVERLAP)) else { return Ok(()) };
        self.record_on_line = true;
        if self.first_process(pid)? { record.skip(Skip::LongLine, rest) } else { Ok(()) }
    }

    pub fn line(&mut self, record: &mut Recorder, text: &[u8]) -> Result<(), Problem> {
        let Some((pid, mut rest)) = self::record(text, text.len()) else { return Ok(()) };
        if !self.first_process(pid)? {
            return Ok(());
        }
        while let Some((name, args, tail)) = call(rest) {
            let seen = rest;
            rest = tail;
            // Another call right after this one: this one was interrupted,
            // unless valgrind's realloc handed over to its malloc or free.
            let interrupted = call(tail).is_some();
            match classify(name) {
                Call::Other => {}
                Call::Free => {
                    let first = args.split(|&b| b == b',').next().unwrap_or(args);
                    match (address(first), interrupted || tail.trim_ascii().is_empty()) {
                        (Some(address), true) => free(record, address, seen)?,
                        _ => record.skip(Skip::Malformed, seen)?,
                    }
                }
                Call::Realloc if interrupted && realloc_hands_over(args, tail) => {}
                _ if interrupted => record.skip(Skip::Interrupted, &seen[..seen.len() - tail.len()])?,
                Call::Alloc => match alloc_args(args) {
                    Some((size, align_log2)) => finish_alloc(record, tail, size, align_log2, seen)?,
                    None => record.skip(Skip::Malformed, seen)?,
                },
                Call::Calloc => {
                    let mut nums =
                        args.split(|&b| b == b',').map(|a| tmalloc_rt::parse::parse_u64(a.trim_ascii()));
                    match (nums.next().flatten(), nums.next().flatten(), nums.next()) {
                        (Some(n), Some(each), None) => match n.checked_mul(each) {
                            Some(size) => finish_alloc(record, tail, size, 0, seen)?,
                            None => record.skip(Skip::Malformed, seen)?,
                        },
                        _ => record.skip(Skip::Malformed, seen)?,
                    }
                }
                Call::Realloc => realloc(record, args, tail, seen)?,
            }
        }
        Ok(())
    }
}

/// `NAME(ARGS)TAIL` with `NAME` an identifier, or `None`.
fn call(rest: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let open = rest.iter().position(|&b| b == b'(')?;
    let name = &rest[..open];
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let close = open + rest[open..].iter().position(|&b| b == b')')?;
    Some((name, &rest[open + 1..close], &rest[close + 1..]))
}

/// `0x` and hex digits.
fn address(text: &[u8]) -> Option<u64> {
    let digits = text.trim_ascii().strip_prefix(b"0x")?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| Some(n << 4 | (d as char).to_digit(16)? as u64))
}

/// ` = 0xADDR`, the result of an allocation.
fn result(tail: &[u8]) -> Option<u64> {
    address(tail.trim_ascii().strip_prefix(b"=")?)
}

/// The size and log2 alignment of `N`, `al A, size N` or `size N, al A`.
fn alloc_args(args: &[u8]) -> Option<(u64, u8)> {
    if let Some(size) = tmalloc_rt::parse::parse_u64(args.trim_ascii()) {
        return Some((size, 0));
    }
    let (mut size, mut align) = (None, None);
    for arg in args.split(|&b| b == b',') {
        let arg = arg.trim_ascii();
        if let Some(n) = arg.strip_prefix(b"size ") {
            size = Some(tmalloc_rt::parse::parse_u64(n.trim_ascii())?);
        } else if let Some(n) = arg.strip_prefix(b"al ") {
            align = Some(tmalloc_rt::parse::parse_u64(n.trim_ascii()).filter(|a| a.is_power_of_two())?);
        } else {
            return None;
        }
    }
    Some((size?, align.map_or(0, |a| a.trailing_zeros() as u8)))
}

/// An allocation of `size` whose result is in `tail`; `seen` is the
/// record, for a message.
fn finish_alloc(
    record: &mut Recorder,
    tail: &[u8],
    size: u64,
    align_log2: u8,
    seen: &[u8],
) -> Result<(), Problem> {
    if tail.trim_ascii().is_empty() {
        return record.skip(Skip::NoAddress, seen);
    }
    match result(tail) {
        None => record.skip(Skip::Malformed, seen),
        Some(0) => record.skip(Skip::NullResult, seen),
        Some(at) => match record.alloc(at, size, align_log2) {
            Ok(()) => Ok(()),
            Err(Refusal::Live) => {
                // The address came back without a free in the log: free the
                // old block here, where it must have been freed at the latest.
                free(record, at, seen)?;
                record.alloc(at, size, align_log2).map_err(refused)?;
                record.skip(Skip::AddressStillLive, seen)
            }
            Err(other) => Err(refused(other)),
        },
    }
}

fn free(record: &mut Recorder, at: u64, seen: &[u8]) -> Result<(), Problem> {
    if at == 0 {
        return Ok(()); // free(NULL) does nothing
    }
    match record.free(at, None) {
        Ok(()) => Ok(()),
        Err(Refusal::NotLive(_)) => record.skip(Skip::UnknownFree, seen),
        Err(other) => Err(refused(other)),
    }
}

/// `realloc(P,N)`'s two numbers.
fn realloc_args(args: &[u8]) -> Option<(u64, u64)> {
    let mut parts = args.split(|&b| b == b',');
    match (
        parts.next().and_then(address),
        parts.next().and_then(|n| tmalloc_rt::parse::parse_u64(n.trim_ascii())),
        parts.next(),
    ) {
        (Some(old), Some(size), None) => Some((old, size)),
        _ => None,
    }
}

/// Whether the call in `tail` is the one valgrind's `realloc(ARGS)` made:
/// `realloc(0x0,N)malloc(N)`, or `realloc(P,0)free(P)`. That call is then
/// the record.
fn realloc_hands_over(args: &[u8], tail: &[u8]) -> bool {
    match (realloc_args(args), call(tail)) {
        (Some((0, size)), Some((b"malloc", inner, _))) => alloc_args(inner) == Some((size, 0)),
        (Some((old, 0)), Some((b"free", inner, _))) => address(inner) == Some(old),
        _ => false,
    }
}

/// `realloc(P,N)` followed by ` = Q`.
fn realloc(record: &mut Recorder, args: &[u8], tail: &[u8], seen: &[u8]) -> Result<(), Problem> {
    let Some((old, size)) = realloc_args(args) else {
        return record.skip(Skip::Malformed, seen);
    };
    match result(tail) {
        None if tail.trim_ascii().is_empty() => record.skip(Skip::NoAddress, seen),
        None => record.skip(Skip::Malformed, seen),
        Some(0) => record.skip(Skip::NullResult, seen),
        Some(_) if old == 0 => finish_alloc(record, tail, size, 0, seen),
        Some(new) => match record.realloc(old, new, size) {
            Ok(()) => Ok(()),
            Err(Refusal::NotLive(_)) => {
                // The old block is unknown; the new one is real, and its free
                // will follow: replay it as an allocation.
                finish_alloc(record, tail, size, 0, seen)?;
                record.skip(Skip::UnknownRealloc, seen)
            }
            Err(Refusal::Live) => {
                free(record, new, seen)?;
                record.realloc(old, new, size).map_err(refused)?;
                record.skip(Skip::AddressStillLive, seen)
            }
            Err(Refusal::NoMemory) => Err(Problem::NoMemory),
        },
    }
}

/// A refusal that cannot happen where it is asked, or no memory.
fn refused(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::NoMemory => Problem::NoMemory,
        Refusal::Live | Refusal::NotLive(_) => {
            Problem::Strict { why: Skip::Malformed, seen: super::Excerpt::NONE }
        }
    }
}
