//! Reading files with openat / read / close.

use core::ffi::CStr;

use crate::sys::{self, Errno, Fd, open};

/// Reads the file at `path` into `buf`; returns the filled prefix and
/// whether the file was longer than the buffer.
pub fn read_into<'b>(path: &CStr, buf: &'b mut [u8]) -> Result<(&'b [u8], bool), Errno> {
    let fd = sys::openat(Fd::CWD, path, open::RDONLY | open::CLOEXEC, 0)?;
    let mut filled = 0;
    let outcome = loop {
        if filled == buf.len() {
            // Full: one more byte tells whether anything was left out.
            let mut probe = [0u8; 1];
            break read_retrying(fd, &mut probe).map(|n| n > 0);
        }
        match read_retrying(fd, &mut buf[filled..]) {
            Ok(0) => break Ok(false),
            Ok(n) => filled += n,
            Err(e) => break Err(e),
        }
    };
    let _ = sys::close(fd);
    outcome.map(|truncated| (&buf[..filled], truncated))
}

fn read_retrying(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        match sys::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_files_and_reports_truncation() {
        let mut big = [0u8; 1 << 16];
        let (maps, truncated) = read_into(c"/proc/self/maps", &mut big).unwrap();
        assert!(!truncated);
        assert!(maps.ends_with(b"\n"));
        let mut small = [0u8; 10];
        let (head, truncated) = read_into(c"/proc/self/maps", &mut small).unwrap();
        assert!(truncated);
        assert_eq!(head, &maps[..10]);
        assert_eq!(read_into(c"/no/such", &mut small).unwrap_err(), Errno::ENOENT);
    }
}
