//! Numbers in text: what `strtoull` and a size suffix do for a libc program.

/// Why a text is not a `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadNumber {
    /// Empty, a sign, a space, a letter...
    NotDigits,
    /// Digits only, but more than `u64::MAX`.
    TooLarge,
}

/// A decimal `u64`, or why not.
pub fn parse_decimal(text: &[u8]) -> Result<u64, BadNumber> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(BadNumber::NotDigits);
    }
    text.iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add((d - b'0') as u64))
        .ok_or(BadNumber::TooLarge)
}

/// A decimal `u64`, or `None` for anything else (empty, a sign, a space,
/// or more than `u64::MAX`).
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    parse_decimal(text).ok()
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
    let n = parse_decimal(digits).map_err(|e| match e {
        BadNumber::NotDigits => "expected a number with an optional K, M or G suffix",
        BadNumber::TooLarge => "too large",
    })?;
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
        assert_eq!(parse_size(b"99999999999999999999"), Err("too large"), "only too large");
        assert_eq!(parse_decimal(b"18446744073709551616"), Err(BadNumber::TooLarge));
        assert_eq!(parse_decimal(b"1x"), Err(BadNumber::NotDigits));
        assert_eq!(parse_decimal(b"00042"), Ok(42));
        assert!(parse_size(b"ten").is_err());
    }
}
