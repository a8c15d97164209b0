//! Buffered output without libc: what stdio's `FILE` does for `printf`.
//!
//! A [`BufWriter`] gathers formatted text and hands it to `write(2)` in
//! large pieces. The process-wide [`STDOUT`] and [`STDERR`] sit behind a
//! [`Lock`]; the macros [`print!`](crate::print), [`println!`](crate::println),
//! [`eprint!`](crate::eprint) and [`eprintln!`](crate::eprintln) write to them.
//!
//! stdout is flushed when its buffer fills, at exit and before fork
//! ([`crate::exit`], [`crate::fork`]). stderr is flushed after each
//! macro call, so a message is one `write` and appears at once.
//!
//! A stream remembers its first write error, as stdio's error indicator
//! does, and writes nothing more after it; [`crate::exit`] reports an
//! error of stdout once, as coreutils do.

use core::fmt;

use tmalloc_sync::Lock;
use tmalloc_sys::{self as sys, Errno, Fd, open};

/// Bytes waiting to be written. All zero when empty, so a `static` of it
/// costs nothing in the file: it lands in `.bss`.
pub struct Buffer<const N: usize> {
    fill: Fill,
    bytes: [u8; N],
}

/// A buffer's state apart from its bytes, and the code that writes it: one
/// copy in the binary for every buffer size.
struct Fill {
    len: usize,
    /// The first write error, as its raw errno (0: none yet). From then on
    /// nothing more is written: output after a gap would mislead.
    error: i32,
}

impl<const N: usize> Buffer<N> {
    pub const fn new() -> Buffer<N> {
        Buffer { fill: Fill { len: 0, error: 0 }, bytes: [0; N] }
    }

    /// Appends `bytes`, writing the buffer to `fd` whenever it fills. Input
    /// larger than the buffer goes straight to `fd`.
    pub fn write(&mut self, fd: Fd, bytes: &[u8]) -> Result<(), Errno> {
        self.fill.write(&mut self.bytes, fd, bytes)
    }

    /// Writes out whatever is buffered.
    pub fn flush(&mut self, fd: Fd) -> Result<(), Errno> {
        self.fill.flush(&self.bytes, fd)
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<Errno> {
        self.fill.error()
    }

    /// Marks the stream failed with `e`, unless it failed already; what is
    /// buffered is dropped.
    pub fn fail(&mut self, e: Errno) {
        self.fill.fail(e);
    }

    /// The bytes waiting to be written.
    pub fn pending(&self) -> &[u8] {
        &self.bytes[..self.fill.len]
    }
}

impl Fill {
    fn write(&mut self, buf: &mut [u8], fd: Fd, bytes: &[u8]) -> Result<(), Errno> {
        self.healthy()?;
        if bytes.len() > buf.len() - self.len {
            self.flush(buf, fd)?;
            if bytes.len() >= buf.len() {
                let written = write_all(fd, bytes);
                return self.remember(written);
            }
        }
        buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        Ok(())
    }

    fn flush(&mut self, buf: &[u8], fd: Fd) -> Result<(), Errno> {
        self.healthy()?;
        let pending = self.len;
        // Forget the bytes even if the write fails: retrying a broken pipe
        // forever helps nobody.
        self.len = 0;
        let written = write_all(fd, &buf[..pending]);
        self.remember(written)
    }

    fn error(&self) -> Option<Errno> {
        (self.error != 0).then(|| Errno::new(self.error))
    }

    fn fail(&mut self, e: Errno) {
        if self.error == 0 {
            self.error = e.into_raw();
        }
        self.len = 0;
    }

    fn healthy(&self) -> Result<(), Errno> {
        self.error().map_or(Ok(()), Err)
    }

    fn remember(&mut self, written: Result<(), Errno>) -> Result<(), Errno> {
        if let Err(e) = written {
            self.fail(e);
        }
        written
    }
}

impl<const N: usize> Default for Buffer<N> {
    fn default() -> Self {
        Buffer::new()
    }
}

/// A [`Buffer`] in front of a file descriptor, as `core::fmt::Write`.
pub struct BufWriter<'b, const N: usize> {
    fd: Fd,
    buffer: &'b mut Buffer<N>,
}

impl<'b, const N: usize> BufWriter<'b, N> {
    pub fn new(fd: Fd, buffer: &'b mut Buffer<N>) -> BufWriter<'b, N> {
        BufWriter { fd, buffer }
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Errno> {
        self.buffer.write(self.fd, bytes)
    }

    pub fn flush(&mut self) -> Result<(), Errno> {
        self.buffer.flush(self.fd)
    }

    pub fn pending(&self) -> &[u8] {
        self.buffer.pending()
    }
}

impl<const N: usize> fmt::Write for BufWriter<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Writes all of `bytes`, retrying short writes and interruptions.
pub fn write_all(fd: Fd, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match sys::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A process-wide output stream on descriptor `FD`. The descriptor is a
/// type parameter, not a field, so that the whole static is zero and costs
/// no file space.
pub struct Stream<const FD: i32, const N: usize> {
    buffer: Lock<Buffer<N>>,
}

impl<const FD: i32, const N: usize> Stream<FD, N> {
    pub const fn new() -> Stream<FD, N> {
        Stream { buffer: Lock::new(Buffer::new()) }
    }

    /// Formats `args` into the buffer. An output error is remembered, not
    /// returned: the caller carries on, and the program reports it at exit
    /// ([`crate::exit`]), once.
    pub fn write_fmt(&self, args: fmt::Arguments<'_>) {
        let mut buffer = self.buffer.lock();
        let _ = fmt::Write::write_fmt(&mut BufWriter::new(Fd(FD), &mut buffer), args);
    }

    /// Writes raw bytes (argument strings need not be UTF-8).
    pub fn write_bytes(&self, bytes: &[u8]) {
        let _ = self.buffer.lock().write(Fd(FD), bytes);
    }

    pub fn flush(&self) {
        let _ = self.buffer.lock().flush(Fd(FD));
    }

    /// The stream's first write error, if any.
    pub fn error(&self) -> Option<Errno> {
        self.buffer.lock().error()
    }

    /// Marks the stream failed with `e` (a closed stdout, or a child's
    /// write error), unless it failed already.
    pub fn fail(&self, e: Errno) {
        self.buffer.lock().fail(e);
    }

    /// Flushes unless the stream is locked: for the panic path, which may
    /// have interrupted a writer.
    pub fn try_flush(&self) {
        if let Some(mut buffer) = self.buffer.try_lock() {
            let _ = buffer.flush(Fd(FD));
        }
    }
}

impl<const FD: i32, const N: usize> Default for Stream<FD, N> {
    fn default() -> Self {
        Stream::new()
    }
}

/// Puts `/dev/null` on whichever of descriptors 0, 1 and 2 the program was
/// started without (`>&-`): a descriptor the program opens for itself (a
/// trace, a child's pipe) must never take a standard stream's number, or
/// output would land in it. A closed stdout stays an error: the stream is
/// marked failed with `EBADF`, reported at exit.
pub fn guard_standard_descriptors() -> Result<(), Errno> {
    for fd in [Fd::STDIN, Fd::STDOUT, Fd::STDERR] {
        if sys::descriptor_flags(fd) != Err(Errno::EBADF) {
            continue;
        }
        // `open` takes the lowest free number: this one, as those below it
        // are open by now.
        sys::openat(Fd::CWD, c"/dev/null", open::RDWR, 0)?;
        if fd == Fd::STDOUT {
            STDOUT.fail(Errno::EBADF);
        }
    }
    Ok(())
}

/// Standard output, fully buffered.
pub static STDOUT: Stream<1, 4096> = Stream::new();
/// Standard error, one `write` per message. A message is one line, with
/// echoed arguments cut short ([`crate::fmt::Cut`]): 512 bytes hold it
/// (a longer one takes two writes), and every byte of `.bss` counts
/// against each contender's `RLIMIT_AS`.
pub static STDERR: Stream<2, 512> = Stream::new();

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    STDOUT.write_fmt(args);
}

#[doc(hidden)]
pub fn _eprint(args: fmt::Arguments<'_>) {
    STDERR.write_fmt(args);
    STDERR.flush();
}

/// Prints to the buffered stdout.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::_print(::core::format_args!($($arg)*)) };
}

/// Prints a line to the buffered stdout.
#[macro_export]
macro_rules! println {
    () => { $crate::io::_print(::core::format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::io::_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// Prints to stderr, flushed at once.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::io::_eprint(::core::format_args!($($arg)*)) };
}

/// Prints a line to stderr, flushed at once.
#[macro_export]
macro_rules! eprintln {
    () => { $crate::io::_eprint(::core::format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::io::_eprint(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;
    use tmalloc_sys::{close, pipe2, read};

    fn drain(fd: Fd) -> std::vec::Vec<u8> {
        let mut out = std::vec::Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            match read(fd, &mut chunk).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    #[test]
    fn buffers_until_flush_and_passes_large_writes_through() {
        let [r, w] = pipe2(open::CLOEXEC).unwrap();
        let mut buffer = Buffer::<16>::new();
        let mut out = BufWriter::new(w, &mut buffer);
        let n = 12;
        write!(out, "{n}-ab").unwrap();
        assert_eq!(out.pending(), b"12-ab", "nothing written before the buffer fills");
        out.write_bytes(b"0123456789abcdef-and-more").unwrap(); // larger than the buffer
        out.write_bytes(b"tail").unwrap();
        assert_eq!(out.pending(), b"tail");
        out.flush().unwrap();
        assert!(out.pending().is_empty());
        close(w).unwrap();
        assert_eq!(drain(r), b"12-ab0123456789abcdef-and-moretail");
        close(r).unwrap();
    }

    #[test]
    fn a_full_buffer_is_written_before_more_is_added() {
        let [r, w] = pipe2(open::CLOEXEC).unwrap();
        let mut buffer = Buffer::<8>::new();
        let mut out = BufWriter::new(w, &mut buffer);
        for chunk in [&b"abcde"[..], b"fghij", b"klm"] {
            out.write_bytes(chunk).unwrap();
        }
        out.flush().unwrap();
        close(w).unwrap();
        assert_eq!(drain(r), b"abcdefghijklm");
        close(r).unwrap();
    }

    #[test]
    fn write_errors_surface_as_errno_and_fmt_error() {
        let mut buffer = Buffer::<4>::new();
        let mut out = BufWriter::new(Fd(-1), &mut buffer);
        out.write_bytes(b"ab").unwrap();
        assert_eq!(out.flush(), Err(Errno::EBADF));
        assert!(out.pending().is_empty(), "a failed flush drops the bytes");
        let word = "overflowing";
        assert!(write!(out, "{word}").is_err());
        assert_eq!(buffer.error(), Some(Errno::EBADF));
    }

    #[test]
    fn the_first_error_sticks_and_nothing_more_is_written() {
        let [r, w] = pipe2(open::CLOEXEC).unwrap();
        let mut buffer = Buffer::<4>::new();
        assert_eq!(buffer.write(Fd(-1), b"too long for it"), Err(Errno::EBADF));
        assert_eq!(buffer.write(w, b"ab"), Err(Errno::EBADF), "the first error is kept");
        assert_eq!(buffer.flush(w), Err(Errno::EBADF));
        buffer.fail(Errno::ENOSPC);
        assert_eq!(buffer.error(), Some(Errno::EBADF), "a later failure does not replace it");
        close(w).unwrap();
        assert!(drain(r).is_empty(), "nothing reached the pipe");
        close(r).unwrap();
    }
}
