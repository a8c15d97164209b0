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
//! program's output left the cursor. Only the first process's records are
//! used; other processes' are counted. Calls that are not allocation
//! events (`malloc_usable_size`, `mallinfo`) and every other line are
//! ignored. Allocation events the replay cannot use are [`Skip`]ped.

use super::{OtherProcesses, Problem, Recorder, Refusal, Skip};
use tmalloc_rt::keys::KeyMap;

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

/// The first `--PID--` record on the line: the pid, and the record after
/// the one space valgrind puts there.
fn record(text: &[u8]) -> Option<(u64, &[u8])> {
    (0..text.len()).filter(|&i| text[i] == b'-').find_map(|i| {
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
}

/// A skipped line, as the decoder expects it.
fn skip(why: Skip, address: u64) -> Result<(), Problem> {
    Err(Problem::Strict { why, address })
}

impl Parser {
    pub fn new() -> Parser {
        Parser { pid: None, other: OtherProcesses::default(), other_pids: KeyMap::new() }
    }

    pub fn pid(&self) -> Option<u64> {
        self.pid
    }

    pub fn other_processes(&self) -> OtherProcesses {
        self.other
    }

    pub fn line(&mut self, record: &mut Recorder, text: &[u8]) -> Result<(), Problem> {
        let Some((pid, rest)) = self::record(text) else { return Ok(()) };
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
                return Ok(());
            }
            Some(_) => {}
        }
        let Some((name, args, tail)) = call(rest) else { return Ok(()) };
        match classify(name) {
            Call::Other => Ok(()),
            Call::Alloc => match alloc_args(args) {
                Some((size, align_log2)) => finish_alloc(record, tail, size, align_log2),
                None => skip(Skip::Malformed, 0),
            },
            Call::Calloc => {
                let mut nums =
                    args.split(|&b| b == b',').map(|a| tmalloc_rt::parse::parse_u64(a.trim_ascii()));
                match (nums.next().flatten(), nums.next().flatten(), nums.next()) {
                    (Some(n), Some(each), None) => match n.checked_mul(each) {
                        Some(size) => finish_alloc(record, tail, size, 0),
                        None => skip(Skip::Malformed, 0),
                    },
                    _ => skip(Skip::Malformed, 0),
                }
            }
            Call::Realloc => realloc(record, args, tail),
            Call::Free => {
                let first = args.split(|&b| b == b',').next().unwrap_or(args);
                match (address(first), tail.trim_ascii().is_empty()) {
                    (Some(address), true) => free(record, address),
                    _ => skip(Skip::Malformed, 0),
                }
            }
        }
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

/// An allocation of `size` whose result is in `tail`.
fn finish_alloc(record: &mut Recorder, tail: &[u8], size: u64, align_log2: u8) -> Result<(), Problem> {
    if tail.trim_ascii().is_empty() {
        return skip(Skip::NoAddress, 0);
    }
    match result(tail) {
        None => skip(Skip::Malformed, 0),
        Some(0) => skip(Skip::NullResult, 0),
        Some(at) => match record.alloc(at, size, align_log2) {
            Ok(()) => Ok(()),
            Err(Refusal::Live) => {
                // The address came back without a free in the log: free the
                // old block here, where it must have been freed at the latest.
                free(record, at)?;
                record.alloc(at, size, align_log2).map_err(refused)?;
                skip(Skip::AddressStillLive, at)
            }
            Err(other) => Err(refused(other)),
        },
    }
}

fn free(record: &mut Recorder, at: u64) -> Result<(), Problem> {
    if at == 0 {
        return Ok(()); // free(NULL) does nothing
    }
    match record.free(at, None) {
        Ok(()) => Ok(()),
        Err(Refusal::NotLive(_)) => skip(Skip::UnknownFree, at),
        Err(other) => Err(refused(other)),
    }
}

/// `realloc(P,N)` followed by ` = Q`, or by `malloc(N) = Q` when P is
/// NULL, or by `free(P)` when N is 0.
fn realloc(record: &mut Recorder, args: &[u8], tail: &[u8]) -> Result<(), Problem> {
    let mut parts = args.split(|&b| b == b',');
    let (Some(old), Some(size), None) = (
        parts.next().and_then(address),
        parts.next().and_then(|n| tmalloc_rt::parse::parse_u64(n.trim_ascii())),
        parts.next(),
    ) else {
        return skip(Skip::Malformed, 0);
    };
    if let Some((name @ (b"malloc" | b"free"), inner, tail)) = call(tail) {
        return match name {
            b"malloc" if old == 0 => match alloc_args(inner) {
                Some((n, 0)) if n == size => finish_alloc(record, tail, size, 0),
                _ => skip(Skip::Malformed, 0),
            },
            b"free" if size == 0 && address(inner) == Some(old) => free(record, old),
            _ => skip(Skip::Malformed, 0),
        };
    }
    match result(tail) {
        None if tail.trim_ascii().is_empty() => skip(Skip::NoAddress, old),
        None => skip(Skip::Malformed, 0),
        Some(0) => skip(Skip::NullResult, old),
        Some(_) if old == 0 => finish_alloc(record, tail, size, 0),
        Some(new) => match record.realloc(old, new, size) {
            Ok(()) => Ok(()),
            Err(Refusal::NotLive(_)) => {
                // The old block is unknown; the new one is real, and its free
                // will follow: replay it as an allocation.
                finish_alloc(record, tail, size, 0)?;
                skip(Skip::UnknownRealloc, old)
            }
            Err(Refusal::Live) => {
                free(record, new)?;
                record.realloc(old, new, size).map_err(refused)?;
                skip(Skip::AddressStillLive, new)
            }
            Err(Refusal::NoMemory) => Err(Problem::NoMemory),
        },
    }
}

/// A refusal that cannot happen where it is asked, or no memory.
fn refused(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::NoMemory => Problem::NoMemory,
        Refusal::Live | Refusal::NotLive(_) => Problem::Strict { why: Skip::Malformed, address: 0 },
    }
}
