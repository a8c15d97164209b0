//! Reading files with openat / read / close.

use core::ffi::CStr;

use tmalloc_sys::{self as sys, Errno, Fd, open};

/// Reads the file at `path` into `buf`; returns the filled prefix and
/// whether the file was longer than the buffer.
pub fn read_into<'b>(path: &CStr, buf: &'b mut [u8]) -> Result<(&'b [u8], bool), Errno> {
    let fd = sys::openat(Fd::CWD, path, open::RDONLY | open::CLOEXEC, 0)?;
    let outcome = read_full(fd, buf).and_then(|filled| {
        // Full: one more byte tells whether anything was left out.
        let truncated = filled == buf.len() && read_retrying(fd, &mut [0u8; 1])? > 0;
        Ok((filled, truncated))
    });
    let _ = sys::close(fd);
    outcome.map(|(filled, truncated)| (&buf[..filled], truncated))
}

/// Reads from `fd` until `buf` is full or the input ends; returns how many
/// bytes were read.
pub fn read_full(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_retrying(fd, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// `read(2)`, again when a signal interrupted it.
pub fn read_retrying(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
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
