//! Numbers in text: what `strtoull` and a size suffix do for a libc program.

/// A decimal `u64`, or `None` for anything else (empty, a sign, a space,
/// or more than `u64::MAX`).
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n.checked_mul(10)?.checked_add((d - b'0') as u64))?
    })
}

/// Parses `10M`-style sizes: digits, then K, M or G (powers of 1024).
/// Sizes of 2^48 bytes and more are refused: no address space holds them.
pub fn parse_size(text: &[u8]) -> Result<u64, &'static str> {
    let (digits, shift) = match text.last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let n = parse_u64(digits).ok_or("expected a number with an optional K, M or G suffix")?;
    let bytes = n.checked_mul(1 << shift).filter(|&b| b < 1 << 48).ok_or("too large")?;
    if bytes == 0 { Err("must be more than zero") } else { Ok(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sizes() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_size(b"1"), Ok(1));
        assert_eq!(parse_size(b"64K"), Ok(64 << 10));
        assert_eq!(parse_size(b"3g"), Ok(3 << 30));
        assert_eq!(parse_size(b"0"), Err("must be more than zero"));
        assert_eq!(parse_size(b"99999999G"), Err("too large"));
        assert!(parse_size(b"ten").is_err());
    }
}
