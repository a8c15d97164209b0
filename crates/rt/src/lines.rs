//! Reading a file line by line through one fixed buffer, as `getline`
//! would, without a heap: files of any size stream through it.

use crate::fs::read_retrying;
use tmalloc_sys::{Errno, Fd};

/// Why reading stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop<E> {
    Read(Errno),
    /// The callback refused a line.
    Line(E),
}

/// Calls `each(line, whole)` for every line of `fd`, without its `\n`. A
/// line that does not fit in `buf` with its newline is passed once, cut to
/// `buf.len()` bytes, with `whole` false; the rest of it is skipped.
pub fn for_each_line<E>(
    fd: Fd,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8], bool) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let (mut start, mut end) = (0, 0);
    // Inside a line already passed on as cut: drop bytes up to its end.
    let mut cutting = false;
    loop {
        if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            } else {
                if !cutting {
                    each(buf, false).map_err(Stop::Line)?;
                    cutting = true;
                }
                end = 0;
            }
        }
        let n = read_retrying(fd, &mut buf[end..]).map_err(Stop::Read)?;
        if n == 0 {
            if end > start && !cutting {
                each(&buf[start..end], true).map_err(Stop::Line)?;
            }
            return Ok(());
        }
        let mut scan = end;
        end += n;
        while let Some(at) = buf[scan..end].iter().position(|&b| b == b'\n') {
            let newline = scan + at;
            if cutting {
                cutting = false;
            } else {
                each(&buf[start..newline], true).map_err(Stop::Line)?;
            }
            start = newline + 1;
            scan = start;
        }
        if cutting {
            // No newline yet: nothing of this line is worth keeping.
            (start, end) = (0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::string::String;
    use std::vec::Vec;

    fn lines_of(content: &[u8], buf_len: usize) -> Vec<(String, bool)> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(std::format!(
            "tmalloc-lines-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, content).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut buf = std::vec![0u8; buf_len];
        let mut out = Vec::new();
        for_each_line::<()>(Fd(file.as_raw_fd()), &mut buf, |l, whole| {
            out.push((String::from_utf8_lossy(l).into_owned(), whole));
            Ok(())
        })
        .unwrap();
        std::fs::remove_file(path).unwrap();
        out
    }

    fn owned(lines: &[(&str, bool)]) -> Vec<(String, bool)> {
        lines.iter().map(|&(l, w)| (l.into(), w)).collect()
    }

    #[test]
    fn splits_lines_across_buffer_refills() {
        let text = b"a 1 2\nf 1\n\nlast without newline";
        for buf_len in [21, 22, 64, 4096] {
            assert_eq!(
                lines_of(text, buf_len),
                owned(&[("a 1 2", true), ("f 1", true), ("", true), ("last without newline", true)]),
                "buffer of {buf_len}"
            );
        }
        assert_eq!(lines_of(b"", 8), owned(&[]));
        assert_eq!(lines_of(b"\n", 8), owned(&[("", true)]));
    }

    #[test]
    fn cuts_lines_longer_than_the_buffer_once() {
        let text = b"short\n0123456789abcdefghij\nnext\n0123456789abcdefghijkl";
        assert_eq!(
            lines_of(text, 8),
            owned(&[("short", true), ("01234567", false), ("next", true), ("01234567", false)])
        );
    }
}
