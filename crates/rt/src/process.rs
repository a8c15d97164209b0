//! Child processes: running work in a forked child under a memory limit,
//! and reading its report back through a pipe. Also the few facts about
//! this process that the experiment measures with (its mapped size, the
//! monotonic clock).
//!
//! A report is a fixed number of 64-bit words ([`Wire`]), followed by a
//! magic word that proves it arrived whole. Whatever goes wrong comes back
//! as a [`ChildFailed`] that names it: the system call and its errno, or
//! how the child ended.

use core::fmt;

use tmalloc_sys::{self as sys, Errno, ExitStatus, Forked, Rlimit, clock, open, rlimit};

use crate::fmt::ErrnoText;
use crate::{fs, io};

/// A report that crosses the pipe as `N` words.
pub trait Wire<const N: usize>: Sized {
    fn encode(&self) -> [u64; N];
    fn decode(words: [u64; N]) -> Self;
}

/// Nothing to report: the child's exit status says it all.
impl Wire<0> for () {
    fn encode(&self) -> [u64; 0] {
        []
    }
    fn decode(_: [u64; 0]) {}
}

/// Why [`run_in_child`] has no report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildFailed {
    /// `pipe2` failed.
    Pipe(Errno),
    /// `fork` failed.
    Fork(Errno),
    /// `wait4` failed.
    Wait(Errno),
    /// The child ended before its report was complete: killed by a signal,
    /// or exited with this status.
    Ended(ExitStatus),
    /// The child exited with status 0, but its report was cut short.
    Incomplete,
}

impl fmt::Display for ChildFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChildFailed::Pipe(e) => write!(f, "cannot create a pipe: {}", ErrnoText(e)),
            ChildFailed::Fork(e) => write!(f, "cannot fork: {}", ErrnoText(e)),
            ChildFailed::Wait(e) => write!(f, "cannot wait for the child: {}", ErrnoText(e)),
            ChildFailed::Ended(ExitStatus::Signaled(sig)) => write!(f, "killed by signal {sig}"),
            ChildFailed::Ended(ExitStatus::Exited(code)) => write!(f, "exit status {code}"),
            ChildFailed::Ended(ExitStatus::Other(raw)) => write!(f, "wait status {raw:#x}"),
            ChildFailed::Incomplete => f.write_str("its report was cut short"),
        }
    }
}

/// Marks a complete report.
const REPORT_MAGIC: u64 = 0x7A11_0C5E_7E90_0B1D;

/// Runs `work` in a forked child, which sends its report back through a
/// pipe and exits with status 0; returns the report, or why there is none.
/// Buffered output is flushed before the fork ([`crate::fork`]).
pub fn run_in_child<const N: usize, R: Wire<N>>(work: impl FnOnce() -> R) -> Result<R, ChildFailed> {
    let [read_end, write_end] = sys::pipe2(open::CLOEXEC).map_err(ChildFailed::Pipe)?;
    let pid = match crate::fork() {
        Ok(Forked::Child) => {
            let _ = sys::close(read_end);
            for word in work().encode().into_iter().chain([REPORT_MAGIC]) {
                let _ = io::write_all(write_end, &word.to_le_bytes());
            }
            crate::exit(0)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            let _ = sys::close(read_end);
            let _ = sys::close(write_end);
            return Err(ChildFailed::Fork(e));
        }
    };
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
    match sys::wait4(pid).map_err(ChildFailed::Wait)? {
        ExitStatus::Exited(0) if complete => Ok(R::decode(words)),
        ExitStatus::Exited(0) => Err(ChildFailed::Incomplete),
        status => Err(ChildFailed::Ended(status)),
    }
}

/// Lowers this process's `RLIMIT_AS` to `bytes`; the hard limit stays.
pub fn limit_address_space(bytes: u64) -> Result<(), Errno> {
    let old = sys::prlimit64(0, rlimit::AS, None)
        .unwrap_or(Rlimit { cur: rlimit::INFINITY, max: rlimit::INFINITY });
    sys::prlimit64(0, rlimit::AS, Some(&Rlimit { cur: bytes, max: old.max })).map(drop)
}

/// The bytes this process maps now (`VmSize` in `/proc/self/status`): what
/// `RLIMIT_AS` counts.
pub fn mapped_bytes() -> Option<u64> {
    Some(status_field(b"VmSize:")? * 1024)
}

/// Whether a debugger traces this process (`TracerPid` in `/proc/self/status`).
pub fn traced() -> bool {
    status_field(b"TracerPid:").is_some_and(|pid| pid != 0)
}

/// The number after `name` in `/proc/self/status`.
fn status_field(name: &[u8]) -> Option<u64> {
    let mut buf = [0u8; 4096];
    let (status, _) = fs::read_into(c"/proc/self/status", &mut buf).ok()?;
    let line = status.split(|&b| b == b'\n').find(|l| l.starts_with(name))?;
    let digits: &[u8] = line[name.len()..].trim_ascii().split(|&b| b == b' ').next()?;
    crate::parse::parse_u64(digits)
}

/// Nanoseconds on the monotonic clock.
pub fn now_ns() -> u64 {
    sys::clock_gettime(clock::MONOTONIC).map_or(0, |t| t.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair(u64, u64);

    impl Wire<2> for Pair {
        fn encode(&self) -> [u64; 2] {
            [self.0, self.1]
        }
        fn decode(w: [u64; 2]) -> Pair {
            Pair(w[0], w[1])
        }
    }

    #[test]
    fn a_child_reports_or_says_how_it_ended() {
        let Pair(a, b) = run_in_child(|| Pair(7, u64::MAX)).unwrap();
        assert_eq!((a, b), (7, u64::MAX));
        let killed = run_in_child(|| -> Pair {
            let _ = sys::kill(sys::getpid(), sys::signal::SIGKILL);
            unreachable!()
        });
        assert_eq!(killed.err(), Some(ChildFailed::Ended(ExitStatus::Signaled(sys::signal::SIGKILL))));
        assert!(mapped_bytes().unwrap() > 0);
        assert!(!traced(), "the tests do not run under a debugger");
    }
}
