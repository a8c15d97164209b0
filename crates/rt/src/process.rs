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
use core::ops::ControlFlow;

use tmalloc_sys::{self as sys, Errno, ExitStatus, Fd, Forked, Pid, Rlimit, clock, open, rlimit};

use crate::fmt::ErrnoText;
use crate::{eprintln, fs, io, lines, stack};

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

impl ChildFailed {
    /// Whether the environment failed (`pipe2`, `fork` or `wait4`), not the
    /// child: the program cannot go on making children.
    pub fn is_environment(&self) -> bool {
        matches!(self, ChildFailed::Pipe(_) | ChildFailed::Fork(_) | ChildFailed::Wait(_))
    }
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
/// Under a small stack limit the work runs on a stack mapped for it
/// ([`stack::with_room`]).
/// Buffered output is flushed before the fork ([`crate::fork`]).
///
/// The report ends with the child's stdout error, if any: parent and child
/// share stdout, and the parent reports an error of either once, at exit.
pub fn run_in_child<const N: usize, R: Wire<N>>(work: impl FnOnce() -> R) -> Result<R, ChildFailed> {
    let [read_end, write_end] = sys::pipe2(open::CLOEXEC).map_err(ChildFailed::Pipe)?;
    let parent = sys::getpid();
    let mut words = [0u64; N];
    let pid = match crate::fork() {
        Ok(Forked::Child) => {
            let mut work = Some(work);
            let pipe = [read_end, write_end];
            in_child(parent, pipe, &mut words, &mut |words| {
                if let Some(work) = work.take() {
                    words.copy_from_slice(&work().encode());
                }
            })
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            let _ = sys::close(read_end);
            let _ = sys::close(write_end);
            return Err(ChildFailed::Fork(e));
        }
    };
    let _ = sys::close(write_end);
    collect(pid, read_end, &mut words).map(|()| R::decode(words))
}

/// The child's side: `work` fills `words`, on a stack with room for it
/// ([`stack::with_room`]), and they go to the parent. Not generic, like
/// [`collect`]: one copy in the binary whatever the report.
fn in_child(
    parent: Pid,
    [read_end, write_end]: [Fd; 2],
    words: &mut [u64],
    work: &mut dyn FnMut(&mut [u64]),
) -> ! {
    die_with(parent);
    let _ = sys::close(read_end);
    if let Err(e) = stack::with_room(&mut || work(words)) {
        eprintln!("tmalloc: cannot map a stack for a child: {}", ErrnoText(e));
        sys::exit_group(1);
    }
    report_and_exit(write_end, words)
}

/// In a child: asks the kernel to kill it when `parent` dies, so that a
/// parent killed alone (SIGTERM to its pid) leaves no child burning a core.
/// If the parent died before the request, the child has already been
/// handed to another (`getppid` no longer says `parent`): it ends at once.
fn die_with(parent: Pid) {
    let _ = sys::set_parent_death_signal(sys::signal::SIGKILL);
    if sys::getppid() != parent {
        sys::exit_group(1);
    }
}

/// In the child: sends `words`, its stdout error (0: none) and the magic
/// word, then exits with status 0.
fn report_and_exit(write_end: Fd, words: &[u64]) -> ! {
    io::STDOUT.flush();
    let stdout_error = io::STDOUT.error().map_or(0, |e| e.into_raw() as u64);
    for word in words.iter().chain(&[stdout_error, REPORT_MAGIC]) {
        let _ = io::write_all(write_end, &word.to_le_bytes());
    }
    sys::exit_group(0)
}

/// In the parent: reads child `pid`'s report into `words` from `read_end`
/// (and closes it), takes on its stdout error, and waits for it.
fn collect(pid: Pid, read_end: Fd, words: &mut [u64]) -> Result<(), ChildFailed> {
    let n = words.len();
    let (mut complete, mut stdout_error) = (true, 0);
    for i in 0..n + 2 {
        let mut bytes = [0u8; 8];
        complete &= fs::read_full(read_end, &mut bytes) == Ok(bytes.len());
        let word = u64::from_le_bytes(bytes);
        match words.get_mut(i) {
            Some(w) => *w = word,
            None if i == n => stdout_error = word as i32,
            None => complete &= word == REPORT_MAGIC,
        }
    }
    let _ = sys::close(read_end);
    if complete && stdout_error != 0 {
        io::STDOUT.fail(Errno::new(stdout_error));
    }
    match sys::wait4(pid).map_err(ChildFailed::Wait)? {
        ExitStatus::Exited(0) if complete => Ok(()),
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

/// The hard limit on this process's address space, in bytes (`ulimit -v`
/// sets it with the soft one): no child can raise its own limit above it.
/// `rlimit::INFINITY` when there is none, or it cannot be read.
pub fn address_space_ceiling() -> u64 {
    sys::prlimit64(0, rlimit::AS, None).map_or(rlimit::INFINITY, |l| l.max)
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

/// The number after `name` in `/proc/self/status`, read a line at a time
/// through a small buffer (a long `Groups:` line comes in parts, and is
/// not the one asked for).
fn status_field(name: &[u8]) -> Option<u64> {
    let fd = sys::openat(Fd::CWD, c"/proc/self/status", open::RDONLY | open::CLOEXEC, 0).ok()?;
    let mut value = None;
    let _ =
        lines::for_each_line(&mut |buf| fs::read_retrying(fd, buf), &mut [0u8; 256], 0, &mut |line, part| {
            match line.strip_prefix(name) {
                Some(rest) if part == lines::Part::Whole => {
                    let digits = rest.trim_ascii().split(|&b| b == b' ').next().unwrap_or_default();
                    value = crate::parse::parse_u64(digits);
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        });
    let _ = sys::close(fd);
    value
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
        // A child's write error on stdout becomes the parent's, reported at exit.
        assert_eq!(io::STDOUT.error(), None);
        run_in_child(|| io::STDOUT.fail(Errno::ENOSPC)).unwrap();
        assert_eq!(io::STDOUT.error(), Some(Errno::ENOSPC));
        assert!(!traced(), "the tests do not run under a debugger");
    }
}
