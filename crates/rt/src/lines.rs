//! Reading a file line by line through one fixed buffer, as `getline`
//! would, without a heap: files of any size stream through it, and so do
//! lines of any length.

use core::ops::ControlFlow;

use tmalloc_sys::Errno;

/// Why reading stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Read(Errno),
    /// The callback stopped it (and kept its reason).
    Line,
}

/// Which part of a line the callback is given. A line that fits in the
/// buffer comes whole; a longer one comes in parts, each but the first
/// starting with the last `overlap` bytes of the part before. A piece of
/// text of at most `overlap` bytes is then whole in the part where it
/// starts, counting as a part's own only the bytes before its last
/// `overlap` ([`Part::own`]): every byte of the line is exactly one part's
/// own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Whole,
    /// The first part of a long line.
    First,
    /// A part that neither starts nor ends the line.
    Middle,
    /// The part that ends the line.
    Last,
}

impl Part {
    /// Whether this part starts a line: the one to count lines by.
    pub fn starts_line(self) -> bool {
        matches!(self, Part::Whole | Part::First)
    }

    /// How many of the part's `len` bytes, from its start, are its own.
    pub fn own(self, len: usize, overlap: usize) -> usize {
        match self {
            Part::Whole | Part::Last => len,
            Part::First | Part::Middle => len.saturating_sub(overlap),
        }
    }
}

/// Calls `each(line, part)` for every line of what `read` gives (`read`
/// fills a buffer as `read(2)` does, 0 at the end), without its `\n`,
/// until `each` breaks. A line that does not fit in `buf` with its newline
/// comes in parts (see [`Part`]), overlapping by `overlap` bytes, which
/// must be less than half the buffer. The callbacks are `dyn`: one copy of
/// the loop serves every reader in the binary.
pub fn for_each_line(
    read: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    buf: &mut [u8],
    overlap: usize,
    each: &mut dyn FnMut(&[u8], Part) -> ControlFlow<()>,
) -> Result<(), Stop> {
    let mut each = |line: &[u8], part| match each(line, part) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Stop::Line),
    };
    debug_assert!(overlap < buf.len() / 2);
    let (mut start, mut end) = (0, 0);
    // Inside a long line whose first part was passed on.
    let mut long = false;
    let ending = |long| if long { Part::Last } else { Part::Whole };
    loop {
        if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            } else {
                // A full buffer without a newline: pass it on, and keep its
                // last bytes to start the next part with.
                each(buf, if long { Part::Middle } else { Part::First })?;
                long = true;
                buf.copy_within(end - overlap..end, 0);
                end = overlap;
            }
        }
        let n = read(&mut buf[end..]).map_err(Stop::Read)?;
        if n == 0 {
            if end > start {
                each(&buf[start..end], ending(long))?;
            }
            return Ok(());
        }
        let mut scan = end;
        end += n;
        while let Some(at) = buf[scan..end].iter().position(|&b| b == b'\n') {
            let newline = scan + at;
            each(&buf[start..newline], ending(long))?;
            long = false;
            start = newline + 1;
            scan = start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// Reads `content` in pieces of at most `piece` bytes, as a pipe might.
    fn lines_of(content: &[u8], buf_len: usize, overlap: usize, piece: usize) -> Vec<(String, Part)> {
        let mut at = 0;
        let mut read = |buf: &mut [u8]| {
            let n = buf.len().min(piece).min(content.len() - at);
            buf[..n].copy_from_slice(&content[at..at + n]);
            at += n;
            Ok(n)
        };
        let mut buf = std::vec![0u8; buf_len];
        let mut out = Vec::new();
        for_each_line(&mut read, &mut buf, overlap, &mut |l, part| {
            out.push((String::from_utf8_lossy(l).into_owned(), part));
            ControlFlow::Continue(())
        })
        .unwrap();
        out
    }

    fn owned(lines: &[(&str, Part)]) -> Vec<(String, Part)> {
        lines.iter().map(|&(l, p)| (l.into(), p)).collect()
    }

    #[test]
    fn splits_lines_across_buffer_refills() {
        let text = b"a 1 2\nf 1\n\nlast without newline";
        for buf_len in [21, 22, 64, 4096] {
            for piece in [1, 3, 4096] {
                assert_eq!(
                    lines_of(text, buf_len, 2, piece),
                    owned(&[
                        ("a 1 2", Part::Whole),
                        ("f 1", Part::Whole),
                        ("", Part::Whole),
                        ("last without newline", Part::Whole)
                    ]),
                    "buffer of {buf_len}, reads of {piece}"
                );
            }
        }
        assert_eq!(lines_of(b"", 8, 2, 8), owned(&[]));
        assert_eq!(lines_of(b"\n", 8, 2, 8), owned(&[("", Part::Whole)]));
    }

    #[test]
    fn long_lines_come_in_overlapping_parts() {
        let text = b"short\n0123456789abcdefghij\nnext\n0123456789abcdefghijkl";
        assert_eq!(
            lines_of(text, 8, 2, 100),
            owned(&[
                ("short", Part::Whole),
                ("01234567", Part::First),
                ("6789abcd", Part::Middle),
                // The buffer filled before the newline came: the last part
                // is then no more than the overlap.
                ("cdefghij", Part::Middle),
                ("ij", Part::Last),
                ("next", Part::Whole),
                ("01234567", Part::First),
                ("6789abcd", Part::Middle),
                ("cdefghij", Part::Middle),
                ("ijkl", Part::Last),
            ])
        );
    }

    /// Every byte of a long line is exactly one part's own, in order, and
    /// each part's own bytes are followed in it by `overlap` more (or the
    /// end of the line): whatever the line, the buffer and the reads.
    #[test]
    fn the_own_bytes_of_the_parts_are_the_line() {
        for len in [9, 10, 31, 32, 33, 100, 257] {
            let line: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut text = line.clone();
            text.extend_from_slice(b"\nafter\n");
            for (buf_len, overlap) in [(8, 3), (9, 3), (16, 1), (32, 15)] {
                for piece in [1, 5, 1000] {
                    let parts = lines_of(&text, buf_len, overlap, piece);
                    let (after, parts) = parts.split_last().unwrap();
                    assert_eq!(after, &("after".into(), Part::Whole));
                    let mut joined = Vec::new();
                    for (text, part) in parts {
                        let own = part.own(text.len(), overlap);
                        assert!(own == text.len() || text.len() - own == overlap);
                        joined.extend_from_slice(&text.as_bytes()[..own]);
                    }
                    assert_eq!(joined, line, "line of {len}, buffer {buf_len}, overlap {overlap}");
                    assert_eq!(parts.iter().filter(|(_, p)| p.starts_line()).count(), 1);
                }
            }
        }
    }

    #[test]
    fn read_errors_stop_the_reading() {
        let mut buf = [0u8; 8];
        let mut failing = |_: &mut [u8]| Err(Errno::EIO);
        let mut go_on = |_: &[u8], _| ControlFlow::Continue(());
        assert_eq!(for_each_line(&mut failing, &mut buf, 2, &mut go_on), Err(Stop::Read(Errno::EIO)));
        let mut empty = |_: &mut [u8]| Ok(0);
        assert_eq!(for_each_line(&mut empty, &mut buf, 2, &mut go_on), Ok(()));
        let mut lines = |b: &mut [u8]| {
            b[..4].copy_from_slice(b"a\nb\n");
            Ok(4)
        };
        let mut stop = |_: &[u8], _| ControlFlow::Break(());
        assert_eq!(for_each_line(&mut lines, &mut buf, 2, &mut stop), Err(Stop::Line));
    }
}
