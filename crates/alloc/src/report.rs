//! How the allocator speaks: one line on stderr, formatted into a buffer on
//! the stack and written with `write(2)`. It never goes through a
//! program's own output streams: they may be what failed, they may be in
//! the middle of a write when the allocator is called, and a preloaded
//! library has none of its own.

use core::fmt::{self, Write};
use core::ptr::NonNull;

use tmalloc_sys::{self as sys, Errno, Fd};

use crate::error::Misuse;

/// Bytes of one message; a longer one is cut, never split over writes.
const LINE: usize = 256;

struct Line {
    len: usize,
    bytes: [u8; LINE],
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = LINE - 1 - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes `tmalloc: MESSAGE` and a newline on stderr, in one `write`.
pub(crate) fn eprint_line(message: fmt::Arguments<'_>) {
    let mut line = Line { len: 0, bytes: [0; LINE] };
    let _ = write!(line, "tmalloc: {message}");
    line.bytes[line.len] = b'\n';
    let mut rest = &line.bytes[..=line.len];
    while !rest.is_empty() {
        match sys::write(Fd::STDERR, rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// Reports misuse found in `call` at `ptr` (`tmalloc: tfree(0x…): double
/// free`) and ends the process with SIGABRT, as glibc does: carrying on
/// would corrupt memory.
#[cold]
pub fn misuse(call: &str, ptr: NonNull<u8>, what: Misuse) -> ! {
    eprint_line(format_args!("{call}({:p}): {what}", ptr.as_ptr()));
    sys::abort()
}
