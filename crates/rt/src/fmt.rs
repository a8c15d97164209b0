//! Number formatting for reports.

use core::fmt::{self, Write as _};

/// An integer printed with thousands separators: `1234567` as `1,234,567`.
/// Width and alignment flags apply to the whole: `{:>10}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thousands(pub u64);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // u64::MAX has 20 digits, so 6 separators: 26 bytes.
        let mut buf = [0u8; 26];
        let mut at = buf.len();
        let mut n = self.0;
        let mut digits = 0;
        loop {
            if digits > 0 && digits % 3 == 0 {
                at -= 1;
                buf[at] = b',';
            }
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            digits += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // SAFETY: only ASCII digits and commas were written.
        f.pad(unsafe { core::str::from_utf8_unchecked(&buf[at..]) })
    }
}

/// `num / den` with a fixed number of decimals, rounded half up, computed
/// in integers: `Ratio::new(9_963_520, 10_485_760, 3)` prints `0.950`.
///
/// Reports use this instead of `f64`: core's float formatting alone would
/// take a quarter of the binary's 64 KiB budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
    pub decimals: u32,
}

impl Ratio {
    pub const fn new(num: u64, den: u64, decimals: u32) -> Ratio {
        Ratio { num, den, decimals }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 0 {
            return f.pad("-");
        }
        // Whole part and rounded fraction, each printed as a u64: printing a
        // u128 would pull its formatting code into the binary.
        let scale = 10u64.pow(self.decimals);
        let (mut whole, rem) = (self.num / self.den, self.num % self.den);
        let mut frac = ((rem as u128 * scale as u128 + self.den as u128 / 2) / self.den as u128) as u64;
        if frac == scale {
            whole += 1;
            frac = 0;
        }
        let mut buf = [0u8; 48];
        let mut cursor = Cursor { buf: &mut buf, len: 0 };
        if self.decimals == 0 {
            write!(cursor, "{whole}")?;
        } else {
            write!(cursor, "{whole}.{frac:0width$}", width = self.decimals as usize)?;
        }
        let len = cursor.len;
        // SAFETY: only ASCII digits and a point were written.
        f.pad(unsafe { core::str::from_utf8_unchecked(&buf[..len]) })
    }
}

/// A byte count in the largest binary unit that keeps it at least 1:
/// `10485760` as `10.0 MiB`, `512` as `512 B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut unit = 0;
        while unit < UNITS.len() - 1 && self.0 >> (10 * (unit + 2)) > 0 {
            unit += 1;
        }
        let ratio = Ratio::new(self.0, 1 << (10 * (unit + 1)), 1);
        write!(f, "{ratio} {}", UNITS[unit])
    }
}

/// An address or other number as `0x…` that honours width and alignment
/// flags (`{:>14}`), for table columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex(pub u64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 18];
        let mut cursor = Cursor { buf: &mut buf, len: 0 };
        write!(cursor, "{:#x}", self.0)?;
        let len = cursor.len;
        // SAFETY: only "0x" and ASCII hex digits were written.
        f.pad(unsafe { core::str::from_utf8_unchecked(&buf[..len]) })
    }
}

/// An errno as its name and what `strerror` says of it: `ENOSPC (No space
/// left on device)`. Only the errors the program can meet are named, from
/// opening and reading files, writing output, creating pipes and processes
/// and setting limits: a table of all of them (the `syscalls` crate has
/// one) would cost the binary 5 KiB. Any other prints as `errno N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrnoText(pub tmalloc_sys::Errno);

/// The errnos [`ERRNO_TEXT`] names, in the order of its lines.
const ERRNOS: [u8; 24] =
    [1, 2, 4, 5, 6, 9, 10, 11, 12, 13, 19, 20, 21, 22, 23, 24, 27, 28, 32, 36, 38, 40, 75, 122];

/// One line per errno of [`ERRNOS`]: a single string, so that the table
/// costs its text and no pointer per entry.
const ERRNO_TEXT: &str = "\
EPERM (Operation not permitted)
ENOENT (No such file or directory)
EINTR (Interrupted system call)
EIO (Input/output error)
ENXIO (No such device or address)
EBADF (Bad file descriptor)
ECHILD (No child processes)
EAGAIN (Resource temporarily unavailable)
ENOMEM (Cannot allocate memory)
EACCES (Permission denied)
ENODEV (No such device)
ENOTDIR (Not a directory)
EISDIR (Is a directory)
EINVAL (Invalid argument)
ENFILE (Too many open files in system)
EMFILE (Too many open files)
EFBIG (File too large)
ENOSPC (No space left on device)
EPIPE (Broken pipe)
ENAMETOOLONG (File name too long)
ENOSYS (Function not implemented)
ELOOP (Too many levels of symbolic links)
EOVERFLOW (Value too large for defined data type)
EDQUOT (Disk quota exceeded)";

impl fmt::Display for ErrnoText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0.into_raw();
        let text = ERRNOS
            .iter()
            .position(|&e| e as i32 == raw)
            .and_then(|i| ERRNO_TEXT.as_bytes().split(|&b| b == b'\n').nth(i));
        match text {
            // SAFETY: a line of an ASCII string, cut at a newline.
            Some(line) => f.write_str(unsafe { core::str::from_utf8_unchecked(line) }),
            None => write!(f, "errno {raw}"),
        }
    }
}

/// A `fmt::Write` into a fixed byte slice.
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).filter(|&e| e <= self.buf.len()).ok_or(fmt::Error)?;
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Bytes that should be text, shown with each invalid UTF-8 sequence as
/// U+FFFD and ASCII control characters escaped (a newline as `\n`, others
/// as `\x1b`): for echoing command-line arguments and file names back in
/// one-line error messages.
#[derive(Clone, Copy, Debug)]
pub struct Lossy<'a>(pub &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            // Runs of text as they are, with the control bytes between them
            // escaped: no decoding into chars, which costs the binary 600 bytes.
            let text = chunk.valid();
            let mut start = 0;
            for (i, b) in text.bytes().enumerate() {
                if b.is_ascii_control() {
                    // `get`, not indexing: the cut is at an ASCII byte, so
                    // always on a char boundary, and indexing would bring in
                    // the panic path for one (3 KB of Unicode tables).
                    f.write_str(text.get(start..i).unwrap_or_default())?;
                    match b {
                        b'\n' => f.write_str("\\n")?,
                        b'\t' => f.write_str("\\t")?,
                        b'\r' => f.write_str("\\r")?,
                        _ => write!(f, "\\x{b:02x}")?,
                    }
                    start = i + 1;
                }
            }
            f.write_str(text.get(start..).unwrap_or_default())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// At most `.1` bytes of `.0`, shown as [`Lossy`], then `...` if there
/// were more: for echoing arguments, file names and trace lines in one-line
/// messages, which a 100 KB argument would otherwise fill. A character is
/// never cut in two.
#[derive(Clone, Copy, Debug)]
pub struct Cut<'a>(pub &'a [u8], pub usize);

impl fmt::Display for Cut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Cut(text, max) = *self;
        if text.len() <= max {
            return Lossy(text).fmt(f);
        }
        // Back to the start of the character the cut falls in.
        let mut end = max;
        while end > 0 && text[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        Lossy(&text[..end]).fmt(f)?;
        f.write_str("...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn thousands_groups_by_three() {
        assert_eq!(format!("{}", Thousands(0)), "0");
        assert_eq!(format!("{}", Thousands(999)), "999");
        assert_eq!(format!("{}", Thousands(1000)), "1,000");
        assert_eq!(format!("{}", Thousands(426_795)), "426,795");
        assert_eq!(format!("{}", Thousands(1_234_567)), "1,234,567");
        assert_eq!(format!("{}", Thousands(u64::MAX)), "18,446,744,073,709,551,615");
        assert_eq!(format!("[{:>8}]", Thousands(12345)), "[  12,345]");
        assert_eq!(format!("[{:<8}]", Thousands(12345)), "[12,345  ]");
    }

    #[test]
    fn bytes_pick_a_unit() {
        assert_eq!(format!("{}", Bytes(0)), "0 B");
        assert_eq!(format!("{}", Bytes(1023)), "1023 B");
        assert_eq!(format!("{}", Bytes(1024)), "1.0 KiB");
        assert_eq!(format!("{}", Bytes(10 << 20)), "10.0 MiB");
        assert_eq!(format!("{}", Bytes(3 << 30 | 1 << 29)), "3.5 GiB");
        assert_eq!(format!("{}", Bytes((1 << 20) - 1)), "1024.0 KiB");
        assert_eq!(format!("{}", Bytes(u64::MAX)), "16777216.0 TiB");
    }

    #[test]
    fn ratio_rounds_half_up_in_integers() {
        assert_eq!(format!("{}", Ratio::new(9_963_520, 10_485_760, 3)), "0.950");
        assert_eq!(format!("{}", Ratio::new(1, 3, 3)), "0.333");
        assert_eq!(format!("{}", Ratio::new(2, 3, 3)), "0.667");
        assert_eq!(format!("{}", Ratio::new(1, 2000, 3)), "0.001"); // 0.0005 rounds up
        assert_eq!(format!("{}", Ratio::new(1, 2001, 3)), "0.000");
        assert_eq!(format!("{}", Ratio::new(123_456, 1000, 1)), "123.5");
        assert_eq!(format!("{}", Ratio::new(7, 2, 0)), "4");
        assert_eq!(format!("{}", Ratio::new(1999, 1000, 2)), "2.00"); // rounding carries into the whole part
        assert_eq!(format!("{}", Ratio::new(u64::MAX, 1, 2)), "18446744073709551615.00");
        assert_eq!(format!("[{:>7}]", Ratio::new(1, 4, 2)), "[   0.25]");
        assert_eq!(format!("{}", Ratio::new(1, 0, 2)), "-");
    }

    #[test]
    fn hex_pads_as_a_whole() {
        assert_eq!(format!("[{:>8}]", Hex(0x1f)), "[    0x1f]");
        assert_eq!(format!("{}", Hex(u64::MAX)), "0xffffffffffffffff");
    }

    #[test]
    fn errnos_print_their_name_and_description() {
        use tmalloc_sys::Errno;
        assert_eq!(format!("{}", ErrnoText(Errno::ENOSPC)), "ENOSPC (No space left on device)");
        assert_eq!(format!("{}", ErrnoText(Errno::EPERM)), "EPERM (Operation not permitted)");
        assert_eq!(format!("{}", ErrnoText(Errno::EDQUOT)), "EDQUOT (Disk quota exceeded)");
        assert_eq!(format!("{}", ErrnoText(Errno::EMFILE)), "EMFILE (Too many open files)");
        assert_eq!(format!("{}", ErrnoText(Errno::ERANGE)), "errno 34");
        // Every line agrees with the syscalls crate's own table.
        assert_eq!(ERRNO_TEXT.lines().count(), ERRNOS.len());
        for (&raw, line) in ERRNOS.iter().zip(ERRNO_TEXT.lines()) {
            let e = Errno::new(raw as i32);
            assert_eq!(format!("{}", ErrnoText(e)), line);
            assert!(line.starts_with(&format!("{} (", e.name().unwrap())), "{line}");
        }
    }

    #[test]
    fn cut_keeps_the_head_and_whole_characters() {
        assert_eq!(format!("{}", Cut(b"short", 5)), "short");
        assert_eq!(format!("{}", Cut(b"longer", 5)), "longe...");
        assert_eq!(format!("{}", Cut("a\u{e9}b".as_bytes(), 2)), "a...", "not half of the é");
        assert_eq!(format!("{}", Cut("a\u{e9}b".as_bytes(), 3)), "a\u{e9}...");
        assert_eq!(format!("{}", Cut(b"a\nbcdef", 3)), "a\\nb...");
    }

    #[test]
    fn lossy_replaces_invalid_utf8() {
        assert_eq!(format!("{}", Lossy(b"--seed")), "--seed");
        assert_eq!(format!("{}", Lossy(b"a\xffb\xc3")), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(format!("{}", Lossy(b"a\nb\tc")), "a\\nb\\tc");
        assert_eq!(format!("{}", Lossy("\x1b[2Kcafé\x7f".as_bytes())), "\\x1b[2Kcafé\\x7f");
    }
}
