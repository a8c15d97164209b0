//! Reading files with openat / read / close.

use core::ffi::CStr;

use tmalloc_sys::{self as sys, Errno, Fd, open, poll};

/// Opens `path` for reading without waiting in `open`, which for a FIFO no
/// one has opened for writing would wait for ever; the reads then block
/// again, as usual ([`read_patiently`] says when they wait).
pub fn open_to_read(path: &CStr) -> Result<Fd, Errno> {
    let fd = sys::openat(Fd::CWD, path, open::RDONLY | open::CLOEXEC | open::NONBLOCK, 0)?;
    let blocking = sys::status_flags(fd).and_then(|flags| sys::set_status_flags(fd, flags & !open::NONBLOCK));
    match blocking {
        Ok(()) => Ok(fd),
        Err(e) => {
            let _ = sys::close(fd);
            Err(e)
        }
    }
}

/// `read(2)` that says when it waits: if nothing comes within `patience_ms`
/// (a pipe whose writer writes nothing yet, a FIFO nobody has opened for
/// writing), calls `waiting`, then waits on without a limit (Ctrl-C ends
/// it). A regular file is always ready. A FIFO that has never had a writer
/// is not ready either, where a plain `read` would call it empty.
pub fn read_patiently(
    fd: Fd,
    buf: &mut [u8],
    patience_ms: i32,
    waiting: &mut dyn FnMut(),
) -> Result<usize, Errno> {
    let mut timeout = patience_ms;
    loop {
        match sys::poll(fd, poll::IN, timeout) {
            Ok(0) => {
                waiting();
                timeout = -1;
            }
            Ok(_) => return read_retrying(fd, buf),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
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
    fn reads_whole_files() {
        let fd = open_to_read(c"/proc/self/maps").unwrap();
        let mut buf = [0u8; 1 << 16];
        let n = read_full(fd, &mut buf).unwrap();
        assert!(n > 0 && n < buf.len() && buf[..n].ends_with(b"\n"));
        assert_eq!(read_full(fd, &mut buf), Ok(0), "at the end");
        sys::close(fd).unwrap();
        assert_eq!(open_to_read(c"/no/such"), Err(Errno::ENOENT));
    }

    #[test]
    fn a_fifo_without_a_writer_is_waited_for_not_read_as_empty() {
        let path = std::env::temp_dir().join(std::format!("tmalloc-fifo-{}", std::process::id()));
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
        // open does not wait for a writer...
        let fd = open_to_read(&c_path).unwrap();
        assert_eq!(sys::status_flags(fd).unwrap() & open::NONBLOCK, 0, "reads block again");
        // ... and neither does poll report the FIFO ready before one comes.
        let mut waited = 0;
        let writer = std::thread::spawn({
            let path = path.clone();
            move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                std::fs::write(path, b"late\n").unwrap();
            }
        });
        let mut buf = [0u8; 16];
        let n = read_patiently(fd, &mut buf, 50, &mut || waited += 1).unwrap();
        assert_eq!((&buf[..n], waited), (&b"late\n"[..], 1), "said once that it waits, then read");
        writer.join().unwrap();
        assert_eq!(read_patiently(fd, &mut buf, 50, &mut || waited += 1), Ok(0), "the writer is gone");
        sys::close(fd).unwrap();
        std::fs::remove_file(path).unwrap();
    }
}
