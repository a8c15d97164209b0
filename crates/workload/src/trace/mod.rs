//! Recorded allocation traces, decoded for replay.
//!
//! Two formats, told apart by their first line:
//!
//! - the CS:APP malloc-lab `.rep` file ([`rep`]): a 4-line header, then
//!   `a ID BYTES`, `r ID BYTES`, `f ID`;
//! - valgrind's `--trace-malloc=yes` log ([`valgrind`]): `--PID--
//!   malloc(16) = 0x4A40040`, `free(0x4A40040)` and friends, among the
//!   program's own output.
//!
//! Both decode to the same list of [`Op`]s. A block is named by a *slot*, a
//! small integer handed out at allocation and recycled at free, so the
//! replay's table of live blocks is as long as the most blocks ever live
//! at once, not as the number of allocations. Everything decoded lives in
//! mapped memory ([`MapVec`]), apart from the heap a replay measures.

mod rep;
mod valgrind;

use core::ffi::CStr;
use core::fmt;
use core::ops::ControlFlow;

use tmalloc_rt::fmt::{Cut, ErrnoText};
use tmalloc_rt::fs;
use tmalloc_rt::keys::KeyMap;
use tmalloc_rt::lines::{self, Part};
use tmalloc_rt::mapvec::MapVec;
use tmalloc_sys::{self as sys, Errno};

/// What one operation does to its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OpKind {
    Alloc,
    Free,
    Realloc,
}

/// One decoded operation: 16 bytes, so 10 million take 160 MB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Op {
    /// Bytes requested (alloc, realloc); 0 for a free.
    pub size: u64,
    pub slot: u32,
    pub kind: OpKind,
    /// log2 of the alignment the trace asked for; 0 when it asked for none
    /// (malloc's, which the replay makes 16).
    pub align_log2: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Rep,
    Valgrind,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Rep => "CS:APP .rep",
            Format::Valgrind => "valgrind log",
        }
    }
}

/// Lines of a valgrind log that name an allocation event the replay cannot
/// use. Counted and reported; `--strict` makes the first one an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// `free(ADDR)` of an address no live block has.
    UnknownFree,
    /// `realloc(ADDR,N)` of an address no live block has: the result is
    /// replayed as a fresh allocation.
    UnknownRealloc,
    /// An allocation whose result the log does not show (newer valgrinds
    /// print `posix_memalign(al A, size N)` without it).
    NoAddress,
    /// The program got NULL: nothing to replay.
    NullResult,
    /// An allocation at an address that is still live: the log missed a
    /// free, which the replay supplies.
    AddressStillLive,
    /// An allocation function's line that does not parse.
    Malformed,
    /// An allocation call directly followed by another call: valgrind
    /// prints a call, then its result when it returns, and another
    /// thread's record came in between (`malloc(765)calloc(17,16) = 0x…`).
    /// Its result comes later, on a line that does not say whose it is.
    Interrupted,
    /// A record followed by more than [`OVERLAP`] bytes on its line: too
    /// long to be one valgrind wrote.
    LongLine,
}

impl Skip {
    pub const ALL: [Skip; 8] = [
        Skip::UnknownFree,
        Skip::UnknownRealloc,
        Skip::NoAddress,
        Skip::NullResult,
        Skip::AddressStillLive,
        Skip::Malformed,
        Skip::Interrupted,
        Skip::LongLine,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Skip::UnknownFree => "free of an address no live block has",
            Skip::UnknownRealloc => "realloc of an address no live block has",
            Skip::NoAddress => "allocation without its address",
            Skip::NullResult => "allocation that returned NULL",
            Skip::AddressStillLive => "allocation at a live block's address",
            Skip::Malformed => "allocation call that does not parse",
            Skip::Interrupted => "allocation call interrupted by another call",
            Skip::LongLine => "record followed by more than 4 KiB on its line",
        }
    }
}

/// How many lines were skipped for each [`Skip`], and the first of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    pub count: [u64; Skip::ALL.len()],
    pub first_line: [u64; Skip::ALL.len()],
}

impl Skipped {
    pub fn total(&self) -> u64 {
        self.count.iter().sum()
    }

    fn note(&mut self, why: Skip, line: u64) {
        let i = why as usize;
        if self.count[i] == 0 {
            self.first_line[i] = line;
        }
        self.count[i] += 1;
    }
}

/// Lines of processes other than the first in a valgrind log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtherProcesses {
    pub count: u64,
    pub lines: u64,
    /// The first of them.
    pub first_pid: u64,
}

/// A decoded trace.
pub struct Trace {
    pub format: Format,
    pub ops: MapVec<Op>,
    /// Slots the replay needs: the most blocks live at once.
    pub slots: u32,
    pub allocs: u64,
    pub reallocs: u64,
    pub frees: u64,
    /// The most bytes requested and live at once, by the trace's sizes.
    pub peak_payload: u64,
    pub lines: u64,
    /// The process whose lines were used (valgrind).
    pub pid: Option<u64>,
    pub skipped: Skipped,
    pub other_processes: OtherProcesses,
}

/// What is wrong with a trace, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The 1-based line, when the problem is on one.
    pub line: Option<u64>,
    pub problem: Problem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    Open(Errno),
    Read(Errno),
    /// The kernel refused memory for the decoded trace.
    NoMemory,
    Empty,
    NeitherFormat,
    TooLong,
    Header(&'static str),
    /// A `.rep` operation line that does not parse.
    BadOperation,
    IdOutOfRange {
        id: u64,
        ids: u64,
    },
    AllocatedTwice {
        id: u64,
    },
    NeverAllocated {
        id: u64,
        op: char,
    },
    AlreadyFreed {
        id: u64,
        op: char,
        freed_on: u64,
    },
    OperationCount {
        header: u64,
        found: u64,
    },
    /// A skipped valgrind line, under `--strict`: why, and what it said.
    Strict {
        why: Skip,
        seen: Excerpt,
    },
}

/// The start of a skipped record, kept for `--strict`'s message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Excerpt {
    /// One byte more than is shown, to tell a cut text.
    bytes: [u8; EXCERPT + 1],
    len: u8,
}

/// The most bytes of a record an error message shows.
const EXCERPT: usize = 48;

impl Excerpt {
    pub const NONE: Excerpt = Excerpt { bytes: [0; EXCERPT + 1], len: 0 };

    fn of(text: &[u8]) -> Excerpt {
        let text = text.trim_ascii();
        let mut excerpt = Excerpt::NONE;
        let len = text.len().min(excerpt.bytes.len());
        excerpt.bytes[..len].copy_from_slice(&text[..len]);
        excerpt.len = len as u8;
        excerpt
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Cut(&self.bytes[..self.len as usize], EXCERPT).fmt(f)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "{line}: ")?;
        }
        match self.problem {
            Problem::Open(e) => write!(f, "cannot open: {}", ErrnoText(e)),
            Problem::Read(e) => write!(f, "cannot read: {}", ErrnoText(e)),
            Problem::NoMemory => f.write_str("out of memory for the decoded trace"),
            Problem::Empty => f.write_str("empty file: neither a .rep trace nor a valgrind log"),
            Problem::NeitherFormat => f.write_str(
                "fits neither format: expected a .rep header (a number) or a valgrind line (==PID== or --PID--)",
            ),
            Problem::TooLong => f.write_str("line too long"),
            Problem::Header(what) => write!(f, "expected {what} (.rep header)"),
            Problem::BadOperation => f.write_str("expected `a ID BYTES`, `r ID BYTES` or `f ID`"),
            Problem::IdOutOfRange { id, ids } => {
                write!(f, "id {id} is out of range: the header announces {ids} ids")
            }
            Problem::AllocatedTwice { id } => write!(f, "id {id} is allocated again without a free"),
            Problem::NeverAllocated { id, op } => write!(f, "`{op} {id}`: id {id} was never allocated"),
            Problem::AlreadyFreed { id, op, freed_on } => {
                let what = if op == 'f' { "double free" } else { "realloc after free" };
                write!(f, "`{op} {id}`: {what}: id {id} was freed on line {freed_on}")
            }
            Problem::OperationCount { header, found } => {
                write!(f, "the header announces {header} operations, the file has {found}")
            }
            Problem::Strict { why, seen } => write!(f, "`{seen}`: {} (--strict)", why.describe()),
        }
    }
}

impl From<Errno> for Problem {
    fn from(_: Errno) -> Problem {
        Problem::NoMemory
    }
}

/// The buffer lines are read through, in a mapping of its own: 64 KiB
/// would be a large part of a small stack.
const READ_BUFFER: usize = 64 << 10;

/// How far the parts of a longer line overlap ([`lines::Part`]): a
/// valgrind record no longer than this is read whole wherever it is.
pub const OVERLAP: usize = 4 << 10;

/// The longest path `open` takes, with its NUL.
const PATH_MAX: usize = 4096;

/// How long a read may wait before [`load`] says that it waits.
const PATIENCE_MS: i32 = 2000;

/// Reads and decodes the trace at `path`. A pipe or FIFO is waited for as
/// long as it takes; when nothing came for 2 seconds, `waiting` is called
/// (each time that happens), so that the caller can say what it waits for.
pub fn load(path: &[u8], strict: bool, waiting: &mut dyn FnMut()) -> Result<Trace, LoadError> {
    let at_file = |problem| LoadError { line: None, problem };
    if path.len() >= PATH_MAX {
        return Err(at_file(Problem::Open(Errno::ENAMETOOLONG)));
    }
    let mut mapping = MapVec::zeroed(READ_BUFFER + PATH_MAX).map_err(|_| at_file(Problem::NoMemory))?;
    let (buf, name) = mapping.as_mut_slice().split_at_mut(READ_BUFFER);
    name[..path.len()].copy_from_slice(path);
    // NUL-terminated: the rest of the mapping is zero.
    let c_path = CStr::from_bytes_until_nul(name).unwrap_or_default();
    let fd = fs::open_to_read(c_path).map_err(|e| at_file(Problem::Open(e)))?;
    let mut decoder = Decoder::new(strict);
    let mut refused = None;
    let read = lines::for_each_line(
        &mut |buf| fs::read_patiently(fd, buf, PATIENCE_MS, waiting),
        buf,
        OVERLAP,
        &mut |line, part| match decoder.line(line, part) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                refused = Some(e);
                ControlFlow::Break(())
            }
        },
    );
    let _ = sys::close(fd);
    match (read, refused) {
        (_, Some(e)) => Err(e),
        (Ok(()), None) => decoder.finish(),
        (Err(lines::Stop::Read(e)), None) => Err(at_file(Problem::Read(e))),
        // The callback breaks only with the error it keeps: not reached.
        (Err(lines::Stop::Line), None) => Err(at_file(Problem::NoMemory)),
    }
}

/// Decodes a trace held in memory (tests, and the benchmarks).
pub fn decode(text: &[u8], strict: bool) -> Result<Trace, LoadError> {
    let mut decoder = Decoder::new(strict);
    let mut lines = text.split(|&b| b == b'\n');
    if text.ends_with(b"\n") {
        lines.next_back();
    }
    for line in lines {
        decoder.line(line, Part::Whole)?;
    }
    decoder.finish()
}

/// Feeds lines to the parser the first line chose.
struct Decoder {
    line: u64,
    parser: Parser,
    record: Recorder,
}

enum Parser {
    Undecided,
    Rep(rep::Parser),
    Valgrind(valgrind::Parser),
}

impl Decoder {
    fn new(strict: bool) -> Decoder {
        Decoder { line: 0, parser: Parser::Undecided, record: Recorder::new(strict) }
    }

    fn line(&mut self, text: &[u8], part: Part) -> Result<(), LoadError> {
        if part.starts_line() {
            self.line += 1;
        }
        let line = self.line;
        self.record.line = line;
        let at = |problem| LoadError { line: Some(line), problem };
        if let Parser::Undecided = self.parser {
            // Blank lines before the first, and the rest of a long blank one.
            if !part.starts_line() || text.trim_ascii().is_empty() {
                return Ok(());
            }
            self.parser = if tmalloc_rt::parse::parse_u64(text.trim_ascii()).is_some() {
                Parser::Rep(rep::Parser::new())
            } else if valgrind::is_log_line(text) {
                Parser::Valgrind(valgrind::Parser::new())
            } else {
                return Err(at(Problem::NeitherFormat));
            };
        }
        match &mut self.parser {
            Parser::Rep(p) => match part {
                Part::Whole => p.line(&mut self.record, line, text).map_err(at),
                _ => Err(at(Problem::TooLong)),
            },
            Parser::Valgrind(p) => p.part(&mut self.record, text, part).map_err(at),
            Parser::Undecided => Ok(()),
        }
    }

    fn finish(self) -> Result<Trace, LoadError> {
        let Decoder { line, parser, record, .. } = self;
        let (format, pid, other_processes) = match parser {
            Parser::Undecided => return Err(LoadError { line: None, problem: Problem::Empty }),
            Parser::Rep(p) => {
                p.finish()?;
                (Format::Rep, None, OtherProcesses::default())
            }
            Parser::Valgrind(p) => (Format::Valgrind, p.pid(), p.other_processes()),
        };
        let Recorder { ops, slots, allocs, reallocs, frees, peak_payload, skipped, .. } = record;
        Ok(Trace {
            format,
            ops,
            slots,
            allocs,
            reallocs,
            frees,
            peak_payload,
            lines: line,
            pid,
            skipped,
            other_processes,
        })
    }
}

/// A key's entry in [`Recorder::keys`]: its slot while live; once freed
/// (`.rep` ids only, to tell a double free from a stray one), the line
/// of the free with this bit set.
const FREED: u32 = 1 << 31;

/// Turns the events of either format into [`Op`]s: keys (`.rep` ids or
/// addresses) to slots, slots recycled, the live payload followed.
struct Recorder {
    ops: MapVec<Op>,
    keys: KeyMap,
    /// Each slot's current size.
    sizes: MapVec<u64>,
    free_slots: MapVec<u32>,
    slots: u32,
    allocs: u64,
    reallocs: u64,
    frees: u64,
    /// Wide enough for any sum of `u64` sizes a log can claim.
    live_payload: u128,
    peak_payload: u64,
    skipped: Skipped,
    /// Skipped lines are errors.
    strict: bool,
    /// The line being decoded.
    line: u64,
}

/// What the recorder found wrong with an event.
enum Refusal {
    /// The key is live already.
    Live,
    /// The key is not live; `Some(line)` if it was freed on that line.
    NotLive(Option<u64>),
    NoMemory,
}

impl From<Errno> for Refusal {
    fn from(_: Errno) -> Refusal {
        Refusal::NoMemory
    }
}

impl Recorder {
    fn new(strict: bool) -> Recorder {
        Recorder {
            ops: MapVec::new(),
            keys: KeyMap::new(),
            sizes: MapVec::new(),
            free_slots: MapVec::new(),
            slots: 0,
            allocs: 0,
            reallocs: 0,
            frees: 0,
            live_payload: 0,
            peak_payload: 0,
            skipped: Skipped::default(),
            strict,
            line: 0,
        }
    }

    /// Skips the current line for `why`, or, under `--strict`, refuses it
    /// with what it said (`seen`).
    fn skip(&mut self, why: Skip, seen: &[u8]) -> Result<(), Problem> {
        if self.strict {
            return Err(Problem::Strict { why, seen: Excerpt::of(seen) });
        }
        self.skipped.note(why, self.line);
        Ok(())
    }

    fn live_slot(&self, key: u64) -> Result<u32, Refusal> {
        match self.keys.get(key) {
            Some(v) if v & FREED == 0 => Ok(v),
            Some(freed) => Err(Refusal::NotLive(Some((freed & !FREED) as u64))),
            None => Err(Refusal::NotLive(None)),
        }
    }

    fn alloc(&mut self, key: u64, size: u64, align_log2: u8) -> Result<(), Refusal> {
        if self.live_slot(key).is_ok() {
            return Err(Refusal::Live);
        }
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.sizes.push(0)?;
                self.slots += 1;
                self.slots - 1
            }
        };
        self.keys.insert(key, slot)?;
        self.ops.push(Op { size, slot, kind: OpKind::Alloc, align_log2 })?;
        self.allocs += 1;
        self.resize(slot, size);
        Ok(())
    }

    /// Frees `key`'s block. `freed_on`: remember the key as freed on that
    /// line (`.rep` ids); `None`: forget it (addresses, which come back).
    fn free(&mut self, key: u64, freed_on: Option<u64>) -> Result<(), Refusal> {
        let slot = self.live_slot(key)?;
        match freed_on {
            Some(line) => self.keys.insert(key, FREED | line.min(FREED as u64 - 1) as u32).map(drop)?,
            None => self.keys.remove(key).map_or((), drop),
        }
        self.ops.push(Op { size: 0, slot, kind: OpKind::Free, align_log2: 0 })?;
        self.free_slots.push(slot)?;
        self.frees += 1;
        self.resize(slot, 0);
        Ok(())
    }

    /// Resizes `key`'s block to `size`; it is then known as `new_key`,
    /// which must not be live.
    fn realloc(&mut self, key: u64, new_key: u64, size: u64) -> Result<(), Refusal> {
        let slot = self.live_slot(key)?;
        if new_key != key {
            if self.live_slot(new_key).is_ok() {
                return Err(Refusal::Live);
            }
            self.keys.remove(key);
            self.keys.insert(new_key, slot)?;
        }
        self.ops.push(Op { size, slot, kind: OpKind::Realloc, align_log2: 0 })?;
        self.reallocs += 1;
        self.resize(slot, size);
        Ok(())
    }

    fn resize(&mut self, slot: u32, size: u64) {
        let old = core::mem::replace(&mut self.sizes.as_mut_slice()[slot as usize], size);
        self.live_payload = self.live_payload - old as u128 + size as u128;
        let live = u64::try_from(self.live_payload).unwrap_or(u64::MAX);
        self.peak_payload = self.peak_payload.max(live);
    }
}

#[cfg(test)]
mod tests;
