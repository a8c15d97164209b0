//! Typed wrappers over the system calls tmalloc makes.
//!
//! Each wrapper takes Rust types, issues one `syscall`, and returns
//! `Result<_, Errno>`. Numbers come from [`Sysno`]; the ABI constants the
//! calls take live in this file and nowhere else.

use core::ffi::CStr;

use syscalls::{Errno, Sysno};

use super::raw::{syscall0, syscall1, syscall2, syscall3, syscall4, syscall5, syscall6};

/// A file descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fd(pub i32);

impl Fd {
    pub const STDIN: Fd = Fd(0);
    pub const STDOUT: Fd = Fd(1);
    pub const STDERR: Fd = Fd(2);
    /// `AT_FDCWD`: paths given to `openat` are relative to the working directory.
    pub const CWD: Fd = Fd(-100);
}

/// A process id.
pub type Pid = i32;

/// `open` flags.
pub mod open {
    pub const RDONLY: i32 = 0;
    pub const RDWR: i32 = 2;
    pub const NONBLOCK: i32 = 0o4000;
    pub const CLOEXEC: i32 = 0o2000000;
}

/// `poll` events.
pub mod poll {
    /// There is data to read.
    pub const IN: i16 = 0x1;
}

/// `mmap` protections and flags.
pub mod map {
    pub const PROT_NONE: usize = 0;
    pub const PROT_READ: usize = 1;
    pub const PROT_WRITE: usize = 2;
    pub const SHARED: usize = 0x01;
    pub const PRIVATE: usize = 0x02;
    pub const FIXED: usize = 0x10;
    pub const ANONYMOUS: usize = 0x20;
    pub const NORESERVE: usize = 0x4000;
}

/// `prlimit64` resources.
pub mod rlimit {
    /// The stack's limit: what `ulimit -s` sets.
    pub const STACK: u32 = 3;
    /// The address-space limit: what `ulimit -v` sets.
    pub const AS: u32 = 9;
    /// No limit.
    pub const INFINITY: u64 = u64::MAX;
}

/// Signal numbers the program sends or reports.
pub mod signal {
    pub const SIGABRT: i32 = 6;
    pub const SIGKILL: i32 = 9;
    pub const SIGSEGV: i32 = 11;
    pub const SIGCHLD: i32 = 17;
}

/// `clock_gettime` clocks.
pub mod clock {
    pub const MONOTONIC: u32 = 1;
}

/// `struct rlimit`, as `prlimit64` reads and writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit: what the kernel enforces.
    pub cur: u64,
    /// The hard limit: the ceiling for `cur`.
    pub max: u64,
}

/// `struct timespec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    /// Nanoseconds since the clock's epoch.
    pub fn as_nanos(self) -> u64 {
        self.sec as u64 * 1_000_000_000 + self.nsec as u64
    }
}

/// How a child ended, decoded from `wait4`'s status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit_group(code)`.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// Anything else `wait4` can report (stopped, continued).
    Other(i32),
}

impl ExitStatus {
    /// Decodes the status word as `WIFEXITED` / `WIFSIGNALED` do.
    pub fn from_raw(status: i32) -> ExitStatus {
        let sig = status & 0x7f;
        if sig == 0 {
            ExitStatus::Exited((status >> 8) & 0xff)
        } else if sig != 0x7f {
            ExitStatus::Signaled(sig)
        } else {
            ExitStatus::Other(status)
        }
    }
}

/// Which side of a `fork` we are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forked {
    Child,
    Parent(Pid),
}

fn result(ret: usize) -> Result<usize, Errno> {
    Errno::from_ret(ret)
}

/// `write(2)`: writes some of `buf` to `fd`, returns how much.
pub fn write(fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from a live slice.
    result(unsafe { syscall3(Sysno::write as usize, fd.0 as usize, buf.as_ptr() as usize, buf.len()) })
}

/// `read(2)`: reads into `buf`, returns how much (0 at end of file).
pub fn read(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into a live, exclusive slice.
    result(unsafe { syscall3(Sysno::read as usize, fd.0 as usize, buf.as_mut_ptr() as usize, buf.len()) })
}

/// `openat(2)`.
pub fn openat(dir: Fd, path: &CStr, flags: i32, mode: u32) -> Result<Fd, Errno> {
    // SAFETY: `path` is NUL-terminated and outlives the call; the kernel only reads it.
    let fd = result(unsafe {
        syscall4(
            Sysno::openat as usize,
            dir.0 as usize,
            path.as_ptr() as usize,
            flags as usize,
            mode as usize,
        )
    })?;
    Ok(Fd(fd as i32))
}

/// `fcntl(fd, F_GETFD)`: the descriptor's flags; `EBADF` if `fd` is not open.
pub fn descriptor_flags(fd: Fd) -> Result<i32, Errno> {
    const F_GETFD: usize = 1;
    // SAFETY: F_GETFD only reports; it touches no memory of ours.
    result(unsafe { syscall2(Sysno::fcntl as usize, fd.0 as usize, F_GETFD) }).map(|f| f as i32)
}

/// `fcntl(fd, F_GETFL)`: the open file's status flags (`open::NONBLOCK` & co.).
pub fn status_flags(fd: Fd) -> Result<i32, Errno> {
    const F_GETFL: usize = 3;
    // SAFETY: F_GETFL only reports; it touches no memory of ours.
    result(unsafe { syscall2(Sysno::fcntl as usize, fd.0 as usize, F_GETFL) }).map(|f| f as i32)
}

/// `fcntl(fd, F_SETFL, flags)`: sets the open file's status flags.
pub fn set_status_flags(fd: Fd, flags: i32) -> Result<(), Errno> {
    const F_SETFL: usize = 4;
    // SAFETY: F_SETFL takes its argument by value; it touches no memory of ours.
    result(unsafe { syscall3(Sysno::fcntl as usize, fd.0 as usize, F_SETFL, flags as usize) }).map(drop)
}

/// `poll(2)` on one descriptor: waits until one of `events` happens on
/// `fd`, at most `timeout_ms` milliseconds (-1: for ever). Returns the
/// events that happened (`POLLHUP` and `POLLERR` among them, whether asked
/// for or not), or 0 when the time ran out.
pub fn poll(fd: Fd, events: i16, timeout_ms: i32) -> Result<i16, Errno> {
    /// `struct pollfd`.
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    let mut one = PollFd { fd: fd.0, events, revents: 0 };
    // SAFETY: the kernel reads and writes one live pollfd.
    result(unsafe {
        syscall3(Sysno::poll as usize, &mut one as *mut PollFd as usize, 1, timeout_ms as isize as usize)
    })?;
    Ok(one.revents)
}

/// `close(2)`.
pub fn close(fd: Fd) -> Result<(), Errno> {
    // SAFETY: closing a descriptor touches no memory of ours.
    result(unsafe { syscall1(Sysno::close as usize, fd.0 as usize) }).map(drop)
}

/// The current program break: `brk(0)`, which never fails.
pub fn current_break() -> usize {
    // SAFETY: brk(0) only reports the break; it changes nothing.
    unsafe { syscall1(Sysno::brk as usize, 0) }
}

/// `brk(2)`: moves the program break to `addr`.
///
/// The raw call never returns an errno: it returns the new break on success
/// and the unchanged break on failure. Like glibc, we report a break that did
/// not move where asked as `ENOMEM`.
///
/// # Safety
///
/// Lowering the break unmaps everything above `addr`: no live reference may
/// point there. The program break must have no other owner in this process
/// (in a host test, glibc's malloc owns it).
pub unsafe fn brk(addr: usize) -> Result<usize, Errno> {
    // SAFETY: the caller owns the break and vouches for what lies above `addr`.
    let now = unsafe { syscall1(Sysno::brk as usize, addr) };
    if now == addr { Ok(now) } else { Err(Errno::ENOMEM) }
}

/// `mmap(2)`: maps `len` bytes, returns the address.
///
/// # Safety
///
/// With `MAP_FIXED` the call replaces whatever was mapped there; otherwise
/// it only adds a mapping. A file mapping needs a valid `fd`.
pub unsafe fn mmap(
    addr: usize,
    len: usize,
    prot: usize,
    flags: usize,
    fd: Fd,
    offset: usize,
) -> Result<*mut u8, Errno> {
    // SAFETY: the caller vouches for the flags; without MAP_FIXED nothing live is touched.
    result(unsafe { syscall6(Sysno::mmap as usize, addr, len, prot, flags, fd.0 as usize, offset) })
        .map(|a| a as *mut u8)
}

/// An anonymous private read-write mapping of `len` bytes, zero-filled.
pub fn mmap_anonymous(len: usize) -> Result<*mut u8, Errno> {
    // SAFETY: an anonymous mapping without MAP_FIXED only adds fresh memory.
    unsafe { mmap(0, len, map::PROT_READ | map::PROT_WRITE, map::PRIVATE | map::ANONYMOUS, Fd(-1), 0) }
}

/// Reserves `len` bytes of address space: no access, no memory behind them,
/// nothing charged to the commit limit (`RLIMIT_AS` still counts them).
pub fn reserve_address_space(len: usize) -> Result<*mut u8, Errno> {
    // SAFETY: without MAP_FIXED only a fresh mapping is added.
    unsafe { mmap(0, len, map::PROT_NONE, map::PRIVATE | map::ANONYMOUS | map::NORESERVE, Fd(-1), 0) }
}

/// Puts fresh zeroed read-write memory at `[addr, addr + len)`, inside a
/// reservation (commit), or gives its pages back and leaves it reserved
/// (`usable: false`, decommit): one `mmap` with `MAP_FIXED` either way.
///
/// # Safety
///
/// The range must lie in a reservation of the caller's, with nothing live
/// in it.
pub unsafe fn replace_with_fresh(addr: usize, len: usize, usable: bool) -> Result<(), Errno> {
    let (prot, extra) =
        if usable { (map::PROT_READ | map::PROT_WRITE, 0) } else { (map::PROT_NONE, map::NORESERVE) };
    // SAFETY: per the caller, the range is ours and unused.
    unsafe { mmap(addr, len, prot, map::PRIVATE | map::ANONYMOUS | map::FIXED | extra, Fd(-1), 0) }
        .map(|_| ())
}

/// How many CPUs the calling thread may run on (`sched_getaffinity(2)`).
pub fn cpus_available() -> Result<usize, Errno> {
    let mut mask = [0u64; 16];
    // SAFETY: the kernel writes at most the mask's 128 bytes.
    let len = result(unsafe {
        syscall3(Sysno::sched_getaffinity as usize, 0, size_of_val(&mask), mask.as_mut_ptr() as usize)
    })?;
    Ok(mask[..len / 8].iter().map(|w| w.count_ones() as usize).sum())
}

/// `mprotect(2)`: sets the protection of `[addr, addr + len)`.
///
/// # Safety
///
/// No live reference may point into the range if it loses read or write
/// access.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: usize) -> Result<(), Errno> {
    // SAFETY: the caller vouches for what the range holds.
    result(unsafe { syscall3(Sysno::mprotect as usize, addr as usize, len, prot) }).map(drop)
}

/// `munmap(2)`.
///
/// # Safety
///
/// No live reference may point into `[addr, addr + len)`.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller vouches that nothing live lies in the range.
    result(unsafe { syscall2(Sysno::munmap as usize, addr as usize, len) }).map(drop)
}

/// `mremap(2)` with `MREMAP_MAYMOVE`: resizes the mapping at `addr` from
/// `old_len` to `new_len` bytes, moving it if it cannot grow in place.
/// Returns the mapping's (possibly new) address.
///
/// # Safety
///
/// `[addr, addr + old_len)` must be one whole mapping of ours, and no live
/// reference may point into it: it may move.
pub unsafe fn mremap(addr: *mut u8, old_len: usize, new_len: usize) -> Result<*mut u8, Errno> {
    const MAYMOVE: usize = 1;
    // SAFETY: the caller vouches for the mapping and that nothing points into it.
    result(unsafe { syscall4(Sysno::mremap as usize, addr as usize, old_len, new_len, MAYMOVE) })
        .map(|a| a as *mut u8)
}

/// `exit_group(2)`: ends every thread of the process. Buffered output is not
/// flushed here; the runtime's `exit` does that first.
pub fn exit_group(code: i32) -> ! {
    // SAFETY: ending the process cannot break any invariant of ours.
    unsafe { syscall1(Sysno::exit_group as usize, code as usize) };
    // The kernel never returns from exit_group.
    loop {
        core::hint::spin_loop();
    }
}

/// `prlimit64(2)` on process `pid` (0: this one): sets `new` if given,
/// returns the limit that was in force.
pub fn prlimit64(pid: Pid, resource: u32, new: Option<&Rlimit>) -> Result<Rlimit, Errno> {
    let mut old = Rlimit { cur: 0, max: 0 };
    let new_ptr = new.map_or(0, |r| r as *const Rlimit as usize);
    // SAFETY: `new` (if any) is a live Rlimit the kernel reads; `old` is a live
    // Rlimit it writes.
    result(unsafe {
        syscall4(
            Sysno::prlimit64 as usize,
            pid as usize,
            resource as usize,
            new_ptr,
            &mut old as *mut Rlimit as usize,
        )
    })?;
    Ok(old)
}

/// `getrandom(2)`: fills some of `buf` with random bytes, returns how many.
pub fn getrandom(buf: &mut [u8], flags: u32) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into a live, exclusive slice.
    result(unsafe {
        syscall3(Sysno::getrandom as usize, buf.as_mut_ptr() as usize, buf.len(), flags as usize)
    })
}

/// `fork(2)`, made as glibc makes it: `clone(SIGCHLD)` with no new stack, so
/// the child resumes here on a copy of our memory.
///
/// Buffered output is not flushed here; the runtime's `fork` does that first,
/// or the child would print the parent's pending bytes a second time.
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: without CLONE_VM the child gets a private copy of every page,
    // so neither process can see the other's later writes.
    let pid = result(unsafe { syscall5(Sysno::clone as usize, signal::SIGCHLD as usize, 0, 0, 0, 0) })?;
    Ok(if pid == 0 { Forked::Child } else { Forked::Parent(pid as Pid) })
}

/// `wait4(2)`: waits for child `pid` to end, returns how it ended.
pub fn wait4(pid: Pid) -> Result<ExitStatus, Errno> {
    let mut status: i32 = 0;
    loop {
        // SAFETY: the kernel writes one i32 to `status`; no rusage pointer is passed.
        let ret =
            unsafe { syscall4(Sysno::wait4 as usize, pid as usize, &mut status as *mut i32 as usize, 0, 0) };
        match result(ret) {
            Ok(_) => return Ok(ExitStatus::from_raw(status)),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `pipe2(2)`: returns `[read end, write end]`.
pub fn pipe2(flags: i32) -> Result<[Fd; 2], Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two i32 into a live array.
    result(unsafe { syscall2(Sysno::pipe2 as usize, fds.as_mut_ptr() as usize, flags as usize) })?;
    Ok([Fd(fds[0]), Fd(fds[1])])
}

/// `clock_gettime(2)`.
pub fn clock_gettime(clock: u32) -> Result<Timespec, Errno> {
    let mut ts = Timespec::default();
    // SAFETY: the kernel writes one timespec into a live struct.
    result(unsafe {
        syscall2(Sysno::clock_gettime as usize, clock as usize, &mut ts as *mut Timespec as usize)
    })?;
    Ok(ts)
}

/// `getpid(2)`.
pub fn getpid() -> Pid {
    // SAFETY: getpid only reports; it cannot fail.
    unsafe { syscall0(Sysno::getpid as usize) as Pid }
}

/// `getppid(2)`: the parent's pid (1, or a subreaper's, once the parent
/// has died).
pub fn getppid() -> Pid {
    // SAFETY: getppid only reports; it cannot fail.
    unsafe { syscall0(Sysno::getppid as usize) as Pid }
}

/// `kill(2)`: sends `sig` to process `pid`.
pub fn kill(pid: Pid, sig: i32) -> Result<(), Errno> {
    // SAFETY: sending a signal touches no memory of ours.
    result(unsafe { syscall2(Sysno::kill as usize, pid as usize, sig as usize) }).map(drop)
}

/// Whether `fd` is a terminal: `ioctl(TCGETS)` succeeds only on one.
pub fn is_terminal(fd: Fd) -> bool {
    const TCGETS: usize = 0x5401;
    // Room for `struct termios` (60 bytes on x86_64).
    let mut termios = [0u8; 64];
    // SAFETY: the kernel writes at most sizeof(struct termios) into a live buffer.
    result(unsafe { syscall3(Sysno::ioctl as usize, fd.0 as usize, TCGETS, termios.as_mut_ptr() as usize) })
        .is_ok()
}

/// Restores the default action for `sig` (`SIG_DFL`), as `abort(3)` does
/// before raising SIGABRT a second time.
pub fn reset_signal_to_default(sig: i32) -> Result<(), Errno> {
    /// `struct kernel_sigaction` for x86_64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let action = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: the kernel reads one sigaction; no old action is asked for; the
    // mask size is the kernel's 8 bytes.
    result(unsafe {
        syscall4(Sysno::rt_sigaction as usize, sig as usize, &action as *const KernelSigaction as usize, 0, 8)
    })
    .map(drop)
}

/// Removes `sig` from this thread's blocked signals.
pub fn unblock_signal(sig: i32) -> Result<(), Errno> {
    const SIG_UNBLOCK: usize = 1;
    let set: u64 = 1 << (sig - 1);
    // SAFETY: the kernel reads one 8-byte signal set; no old set is asked for.
    result(unsafe {
        syscall4(Sysno::rt_sigprocmask as usize, SIG_UNBLOCK, &set as *const u64 as usize, 0, 8)
    })
    .map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: the kernel sends `sig` to this process
/// when the thread that created it exits.
pub fn set_parent_death_signal(sig: i32) -> Result<(), Errno> {
    const PR_SET_PDEATHSIG: usize = 1;
    // SAFETY: the call only records a signal number in the kernel.
    result(unsafe { syscall2(Sysno::prctl as usize, PR_SET_PDEATHSIG, sig as usize) }).map(drop)
}

/// Ends the process with SIGABRT, as `abort(3)` does: unblocks the signal
/// and sends it; if a handler caught it or it was ignored, restores the
/// default action and sends it again; exits with the status a shell
/// reports for SIGABRT if even that failed. Nothing is flushed.
pub fn abort() -> ! {
    let me = getpid();
    let _ = unblock_signal(signal::SIGABRT);
    let _ = kill(me, signal::SIGABRT);
    // Still here: SIGABRT was caught or ignored. Restore its default action.
    let _ = reset_signal_to_default(signal::SIGABRT);
    let _ = kill(me, signal::SIGABRT);
    exit_group(128 + signal::SIGABRT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_decodes_exit_and_signal() {
        assert_eq!(ExitStatus::from_raw(0), ExitStatus::Exited(0));
        assert_eq!(ExitStatus::from_raw(2 << 8), ExitStatus::Exited(2));
        assert_eq!(ExitStatus::from_raw(101 << 8), ExitStatus::Exited(101));
        assert_eq!(ExitStatus::from_raw(6), ExitStatus::Signaled(6));
        assert_eq!(ExitStatus::from_raw(6 | 0x80), ExitStatus::Signaled(6)); // core dumped
        assert_eq!(ExitStatus::from_raw(0x137f), ExitStatus::Other(0x137f)); // stopped
    }

    #[test]
    fn pipe_write_read_close_round_trip() {
        let [r, w] = pipe2(open::CLOEXEC).unwrap();
        assert_eq!(write(w, b"hello").unwrap(), 5);
        close(w).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(read(r, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(read(r, &mut buf).unwrap(), 0, "end of file once the writer is closed");
        close(r).unwrap();
        assert_eq!(close(Fd(-1)), Err(Errno::EBADF));
    }

    #[test]
    fn openat_reports_missing_files_as_enoent() {
        assert_eq!(openat(Fd::CWD, c"/no/such/file", open::RDONLY, 0), Err(Errno::ENOENT));
        let fd = openat(Fd::CWD, c"/proc/self/maps", open::RDONLY | open::CLOEXEC, 0).unwrap();
        let mut buf = [0u8; 64];
        assert!(read(fd, &mut buf).unwrap() > 0);
        close(fd).unwrap();
    }

    #[test]
    fn mmap_gives_zeroed_writable_memory_and_munmap_returns_it() {
        let p = mmap_anonymous(8192).unwrap();
        // SAFETY: the mapping is ours, 8192 bytes, read-write.
        unsafe {
            assert_eq!(*p.add(4000), 0);
            *p.add(4000) = 7;
            assert_eq!(*p.add(4000), 7);
            munmap(p, 8192).unwrap();
        }
        // A length of zero is invalid.
        assert_eq!(mmap_anonymous(0), Err(Errno::EINVAL));
    }

    #[test]
    fn prlimit_reads_the_address_space_limit() {
        let now = prlimit64(0, rlimit::AS, None).unwrap();
        assert!(now.cur <= now.max);
    }

    #[test]
    fn getrandom_fills_the_buffer() {
        let mut buf = [0u8; 32];
        assert_eq!(getrandom(&mut buf, 0).unwrap(), 32);
        assert_ne!(buf, [0u8; 32]);
    }

    #[test]
    fn fork_and_wait_report_the_child_exit_code() {
        match fork().unwrap() {
            // Only raw syscalls in the child of a multi-threaded test process.
            Forked::Child => exit_group(42),
            Forked::Parent(pid) => assert_eq!(wait4(pid).unwrap(), ExitStatus::Exited(42)),
        }
    }

    #[test]
    fn kill_reports_the_signal_to_wait4() {
        match fork().unwrap() {
            Forked::Child => loop {
                core::hint::spin_loop();
            },
            Forked::Parent(pid) => {
                kill(pid, signal::SIGKILL).unwrap();
                assert_eq!(wait4(pid).unwrap(), ExitStatus::Signaled(signal::SIGKILL));
            }
        }
    }

    #[test]
    fn fcntl_reports_open_descriptors_and_sets_status_flags() {
        let [r, w] = pipe2(open::CLOEXEC).unwrap();
        assert!(descriptor_flags(r).is_ok());
        assert_eq!(descriptor_flags(Fd(-1)), Err(Errno::EBADF));
        let flags = status_flags(r).unwrap();
        set_status_flags(r, flags | open::NONBLOCK).unwrap();
        assert_eq!(read(r, &mut [0u8; 1]), Err(Errno::EAGAIN), "nonblocking: nothing to read yet");
        set_status_flags(r, flags).unwrap();
        assert_eq!(status_flags(r).unwrap() & open::NONBLOCK, 0);
        // Nothing written yet: poll times out; then data, then the writer gone.
        assert_eq!(poll(r, poll::IN, 10), Ok(0));
        write(w, b"x").unwrap();
        assert_eq!(poll(r, poll::IN, -1).unwrap() & poll::IN, poll::IN);
        close(w).unwrap();
        close(r).unwrap();
        assert!(getppid() > 0 && getppid() != getpid());
    }

    #[test]
    fn a_pipe_is_not_a_terminal() {
        let [r, w] = pipe2(open::CLOEXEC).unwrap();
        assert!(!is_terminal(r) && !is_terminal(w));
        close(r).unwrap();
        close(w).unwrap();
        assert!(!is_terminal(Fd(-1)));
    }

    #[test]
    fn brk_zero_reports_the_break_and_the_clock_moves() {
        assert!(current_break() > 0);
        let a = clock_gettime(clock::MONOTONIC).unwrap().as_nanos();
        let b = clock_gettime(clock::MONOTONIC).unwrap().as_nanos();
        assert!(b >= a);
        assert!(getpid() > 0);
    }
}
