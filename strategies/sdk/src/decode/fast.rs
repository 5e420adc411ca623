//! Specialised scans for the shapes the socket client always sends, used before the generic serde path:
//! a book side `[["price","qty"],…]` of decimal strings, and a `YYYY-MM-DDTHH:MM:SS[.fffffffff][Z]` timestamp.
//!
//! Each scan accepts only a strict subset of what the generic path accepts and yields exactly the generic path's
//! values on it (the same `fast_float2` parse of the same decimal text, the same range and level-limit checks);
//! on anything else it gives up (`None`) and the caller falls back to the generic path, which then decides — and
//! names the drop reason — as it always did.

use crate::event::Level;

use super::MAX_NUMBER;

/// Parses the exact text of a book side (no whitespace, no escapes, decimal strings) and appends its levels to
/// `out`: prices finite, positive and ≤ [`MAX_NUMBER`], quantities finite, ≥ 0 and ≤ [`MAX_NUMBER`], at most
/// `max_levels` in `out`. `None` as soon as anything differs (`out` may then hold part of the side).
pub(super) fn scan_levels(text: &str, max_levels: usize, out: &mut Vec<Level>) -> Option<()> {
    let b = text.as_bytes();
    let mut i = 0;
    side(b, &mut i, max_levels, out)?;
    (i == b.len()).then_some(())
}

/// A book side starting at `b[*i]`, as [`scan_levels`]; leaves `*i` after its closing bracket.
fn side(b: &[u8], i: &mut usize, max_levels: usize, out: &mut Vec<Level>) -> Option<()> {
    eat(b, i, b'[')?;
    if eat(b, i, b']').is_some() {
        return Some(());
    }
    // the position in a local (written back once): the level loop then keeps it in a register
    let mut at = *i;
    loop {
        let (price, qty, end) = binance_level(b, at).or_else(|| any_level(b, at))?;
        // `number` keeps values within 0..=MAX_NUMBER; a price must also be positive
        if price <= 0.0 || out.len() >= max_levels {
            return None;
        }
        out.push(Level::new(price, qty));
        match b.get(end) {
            Some(b',') => at = end + 1,
            Some(b']') => {
                *i = end + 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

/// Bytes a level of Binance's usual shape spans at most, `["` + 16 + `","` + 16 + `"]`: the window
/// [`binance_level`] checks once.
const LEVEL_WINDOW: usize = 39;

/// A level `["P","Q"]` of any decimal strings [`number`] reads, at `b[at..]`: price, quantity and the position
/// after the closing bracket.
fn any_level(b: &[u8], at: usize) -> Option<(f64, f64, usize)> {
    let mut i = at;
    literal(b, &mut i, b"[\"")?;
    let (price, end) = number(b, i)?;
    i = end;
    literal(b, &mut i, b"\",\"")?;
    let (qty, end) = number(b, i)?;
    i = end;
    literal(b, &mut i, b"\"]")?;
    Some((price, qty, i))
}

/// A level `["P","Q"]` whose numbers both have 1–7 integer digits, `.` and exactly 8 fraction digits (Binance's
/// shape for every level of the recording), read from one [`LEVEL_WINDOW`]-byte window at `b[at..]`: price,
/// quantity and the position after the closing bracket. `None` for any other text (or fewer bytes left), which
/// the caller then reads with the general [`number`]. The values are [`short_decimal`]'s for the same text: the
/// mantissa (at most 15 digits, exact) divided by 10^8, correctly rounded.
#[inline(always)]
fn binance_level(b: &[u8], at: usize) -> Option<(f64, f64, usize)> {
    let w: &[u8; LEVEL_WINDOW] = b.get(at..at.checked_add(LEVEL_WINDOW)?)?.try_into().ok()?;
    if w[..2] != *b"[\"" {
        return None;
    }
    let (price_int, price_frac, quote) = eight_decimal_words(w, 2)?;
    if w.get(quote..quote + 3)? != b"\",\"" {
        return None;
    }
    let (qty_int, qty_frac, quote) = eight_decimal_words(w, quote + 3)?;
    if w.get(quote..quote + 2)? != b"\"]" {
        return None;
    }
    let (price, qty) = level_values([price_int, price_frac, qty_int, qty_frac]);
    Some((price, qty, at + quote + 2))
}

/// `digits.dddddddd` at `w[start..]` with 1–7 integer digits: the digit words for [`level_values`] (the integer
/// digits moved to the top of theirs, zeros below as leading zeros) and the position after the last digit, where
/// the caller expects the closing quote.
#[inline(always)]
fn eight_decimal_words(w: &[u8; LEVEL_WINDOW], start: usize) -> Option<(u64, u64, usize)> {
    let (int_digits, int_len) = digit_word(w, start)?;
    if int_len == 0 || int_len == 8 || w.get(start + int_len) != Some(&b'.') {
        return None;
    }
    let frac_at = start + int_len + 1;
    let (frac_digits, not_digit) = digit_flags(w.get(frac_at..frac_at + 8)?.try_into().ok()?);
    if not_digit != 0 {
        return None;
    }
    // the closing quote is checked by the caller, with the punctuation after it
    let quote = frac_at + 8;
    Some((int_digits << (8 * (8 - int_len)), frac_digits, quote))
}

/// Price and quantity from the four eight-digit words of a level (price integer and fraction, quantity integer
/// and fraction; digit values, the most significant first): each mantissa `integer × 10^8 + fraction` (below
/// 10^15, exact) divided by 10^8, correctly rounded. Both divisions are independent, so the compiler issues them
/// as one packed SSE2 division on x86-64.
#[inline(always)]
fn level_values([price_int, price_frac, qty_int, qty_frac]: [u64; 4]) -> (f64, f64) {
    let value = |int: u64, frac: u64| {
        exact_f64(digits_value(int, 8) * 100_000_000 + digits_value(frac, 8)) / 1e8
    };
    (value(price_int, price_frac), value(qty_int, qty_frac))
}

/// What [`depth_envelope`] read besides the book.
pub(super) struct DepthEnvelope<'a> {
    /// The `stream` value (ASCII, like every byte the scan accepts).
    pub(super) stream: &'a [u8],
    /// The last `timestamp` value, if any (ASCII).
    pub(super) timestamp: Option<&'a [u8]>,
    pub(super) last_update_id: u64,
}

/// The producer's depth envelope, exactly: `{"stream":"…","data":{"lastUpdateId":N,"bids":[…],"asks":[…]}`
/// followed by `,"key":"value"` pairs of plain strings (no escapes) and `}`. The book sides go to `book` (cleared
/// first). Every byte it accepts is ASCII, so an accepted message is valid UTF-8 without a separate check. `None`
/// for anything else — another key order, whitespace, escapes, non-ASCII bytes, other value types, a `stream`,
/// `data` or `_otel_trace_context` key after `data` — which the generic path then decodes.
pub(super) fn depth_envelope<'a>(
    b: &'a [u8],
    max_levels: usize,
    book: &mut crate::event::DepthBook,
) -> Option<DepthEnvelope<'a>> {
    let mut i = 0;
    literal(b, &mut i, br#"{"stream":"#)?;
    let stream = plain_string(b, &mut i)?;
    literal(b, &mut i, br#","data":{"lastUpdateId":"#)?;
    let last_update_id = unsigned(b, &mut i)?;
    book.bids.clear();
    book.asks.clear();
    literal(b, &mut i, br#","bids":"#)?;
    side(b, &mut i, max_levels, &mut book.bids)?;
    literal(b, &mut i, br#","asks":"#)?;
    side(b, &mut i, max_levels, &mut book.asks)?;
    eat(b, &mut i, b'}')?;
    let mut timestamp = None;
    while eat(b, &mut i, b',').is_some() {
        let key = match producer_key(b, &mut i) {
            Some(key) => key,
            None => {
                let key = plain_string(b, &mut i)?;
                eat(b, &mut i, b':')?;
                key
            }
        };
        match key {
            b"timestamp" => timestamp = Some(plain_string(b, &mut i)?),
            b"stream" | b"data" | b"_otel_trace_context" => return None,
            _ => {
                plain_string(b, &mut i)?;
            }
        }
    }
    eat(b, &mut i, b'}')?;
    (i == b.len()).then_some(DepthEnvelope {
        stream,
        timestamp,
        last_update_id,
    })
}

/// One of the keys the producer writes after `data`, with its colon, compared as a literal (what
/// [`plain_string`] and the colon would read for it, without the scan); `None` for any other key.
#[inline(always)]
fn producer_key(b: &[u8], i: &mut usize) -> Option<&'static [u8]> {
    if literal(b, i, br#""timestamp":"#).is_some() {
        Some(b"timestamp")
    } else if literal(b, i, br#""message_id":"#).is_some() {
        Some(b"message_id")
    } else if literal(b, i, br#""source":"#).is_some() {
        Some(b"source")
    } else if literal(b, i, br#""version":"#).is_some() {
        Some(b"version")
    } else {
        None
    }
}

/// A JSON string of ASCII characters without escapes or control characters; its contents.
fn plain_string<'a>(b: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
    eat(b, i, b'"')?;
    let start = *i;
    let end = string_end(b, start)?;
    *i = end;
    eat(b, i, b'"')?;
    b.get(start..end)
}

/// Position of the first byte from `b[from]` on that ends a plain string's contents: `"`, `\\`, a control
/// character or a non-ASCII byte. Eight bytes at a time while eight remain, then byte by byte.
#[inline]
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while let Some(chunk) = b.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        // The classic "has a zero byte" / "has a byte below n" tests: each flags its lowest matching byte exactly
        // (a borrow only produces false flags above a true one), so the lowest flag of them all is the answer.
        let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
        let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        let found = quote | backslash | control | (word & HIGH);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = b.get(at..)?;
    Some(at + rest.iter().position(|&c| ends_plain_string(c))?)
}

/// The byte-by-byte test of [`string_end`].
fn ends_plain_string(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20 || !c.is_ascii()
}

/// A JSON unsigned integer that fits a u64 (no leading zeros, as JSON requires).
fn unsigned(b: &[u8], i: &mut usize) -> Option<u64> {
    let start = *i;
    let n = b
        .get(start..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 || (n > 1 && b[start] == b'0') || matches!(b.get(start + n), Some(b'.' | b'e' | b'E'))
    {
        return None;
    }
    *i = start + n;
    b[start..start + n].iter().try_fold(0u64, |acc, &c| {
        acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

/// The `N` bytes at `b[*i]` are `expected` (compared as one array: the envelope's fixed keys and the punctuation
/// between numbers); advances past them.
#[inline(always)]
fn literal<const N: usize>(b: &[u8], i: &mut usize, expected: &[u8; N]) -> Option<()> {
    (b.get(*i..*i + N)? == expected).then(|| *i += N)
}

#[inline(always)]
fn eat(b: &[u8], i: &mut usize, expected: u8) -> Option<()> {
    (b.get(*i) == Some(&expected)).then(|| *i += 1)
}

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal string's text from `b[start]` (just after its opening quote) parsed whole, as the generic path's number
/// visitor does with `fast_float2`: the value and the closing quote's position. Plain `digits[.digits]` with at most
/// 15 significant digits is read directly (the mantissa and the power of ten are exact, so one division is correctly
/// rounded: the value `fast_float2` gives); anything else goes to `fast_float2`, and `None` unless its value is within
/// `0..=MAX_NUMBER` (NaN and infinities included; plain digits are always within). Digits are read eight at a time
/// ([`short_decimal`] for Binance's usual shape, [`digit_run`] otherwise).
#[inline(always)]
fn number(b: &[u8], start: usize) -> Option<(f64, usize)> {
    if let Some(found) = short_decimal(b, start) {
        return Some(found);
    }
    let mut mantissa = 0u64;
    let mut j = start;
    let mut digits = digit_run(b, &mut j, &mut mantissa);
    let dot = b.get(j) == Some(&b'.');
    let mut fraction = 0;
    if dot {
        j += 1;
        fraction = digit_run(b, &mut j, &mut mantissa);
        digits += fraction;
    }
    let plain = b.get(j) == Some(&b'"') && digits > 0 && digits <= 15 && (!dot || fraction > 0);
    let (value, end) = if plain && b[start] != b'.' {
        (exact_f64(mantissa) / POW10[fraction], j)
    } else {
        let (value, used) = fast_float2::parse_partial::<f64, _>(b.get(start..)?).ok()?;
        // comparisons with NaN are false, and infinities fall outside the bounds
        if !(0.0..=MAX_NUMBER).contains(&value) {
            return None;
        }
        (value, start + used)
    };
    (b.get(end) == Some(&b'"')).then_some((value, end))
}

/// The common case of [`number`] in a few word operations: 1–7 integer digits, optionally `.` and 1–8 fraction
/// digits, at most 15 digits in all, then the closing quote, with eight bytes readable at the start of each part.
/// Returns the value (the same correctly rounded division as [`number`]) and the position of the closing quote;
/// `None` for anything else, which [`number`] then reads byte by byte.
#[inline(always)]
fn short_decimal(b: &[u8], start: usize) -> Option<(f64, usize)> {
    let (int_digits, int_len) = digit_word(b, start)?;
    if int_len == 0 || int_len == 8 {
        return None;
    }
    let after = start + int_len;
    match b.get(after)? {
        b'"' => Some((exact_f64(digits_value(int_digits, int_len)), after)),
        b'.' => {
            let (frac_digits, frac_len) = digit_word(b, after + 1)?;
            let end = after + 1 + frac_len;
            if frac_len == 0 || int_len + frac_len > 15 || b.get(end) != Some(&b'"') {
                return None;
            }
            let mantissa = digits_value(int_digits, int_len) * POW10_U64[frac_len]
                + digits_value(frac_digits, frac_len);
            Some((exact_f64(mantissa) / POW10[frac_len], end))
        }
        _ => None,
    }
}

/// A mantissa of at most 15 digits as `f64` (exact, since it is below 2^53). Converted through `i64`: x86-64 has one
/// instruction for a signed conversion, while `u64 as f64` needs a branch and fix-up for values of 2^63 and above.
#[inline(always)]
fn exact_f64(mantissa: u64) -> f64 {
    (mantissa as i64) as f64
}

/// Powers of ten up to 10^8 as integers.
const POW10_U64: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The eight bytes at `b[at..]` as one little-endian word with `'0'` subtracted (exact for the leading digit bytes;
/// the bytes from the first non-digit on are left undefined), and how many of them, from the first, are ASCII
/// digits (0–8); `None` when fewer than eight bytes remain.
#[inline(always)]
fn digit_word(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let (digits, not_digit) = digit_flags(b.get(at..at.checked_add(8)?)?.try_into().ok()?);
    Some((digits, (not_digit.trailing_zeros() / 8) as usize))
}

/// Eight bytes as one little-endian word with `'0'` subtracted (as [`digit_word`]), and a word with bit 7 set in
/// (at least) the byte of the first non-digit (zero when all eight are digits).
#[inline(always)]
fn digit_flags(chunk: [u8; 8]) -> (u64, u64) {
    let word = u64::from_le_bytes(chunk);
    let digits = word.wrapping_sub(0x3030_3030_3030_3030);
    // simdjson's eight-digit test: a byte below '0' sets bit 7 of `digits` (borrowing from the byte above), a byte
    // above '9' sets bit 7 of `word + 0x46` (0xBA and up carry into the byte above, but their `digits` byte has
    // bit 7 set). Carries and borrows only start at a non-digit and only move up, so the lowest flag is exactly the
    // first non-digit, and the digit bytes below it are exact.
    let not_digit = (word.wrapping_add(0x4646_4646_4646_4646) | digits) & 0x8080_8080_8080_8080;
    (digits, not_digit)
}

/// The value of the first `len` (1–8) digit bytes of a word from [`digit_word`]: the digits are moved to the top
/// of the word (zeros come in below, as leading zeros), then three multiply-and-shift steps combine digit pairs,
/// then quadruples, then the halves.
#[inline(always)]
fn digits_value(digits: u64, len: usize) -> u64 {
    let v = digits << (8 * (8 - len));
    let v = v.wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

/// Reads the digits from `b[*j]` on into `mantissa` (wrapping: the caller rejects more than 15 digits), eight at
/// a time while eight remain; returns how many it read and leaves `*j` after them.
#[inline]
fn digit_run(b: &[u8], j: &mut usize, mantissa: &mut u64) -> usize {
    let start = *j;
    while let Some(eight) = eight_digits(b, *j) {
        *mantissa = mantissa.wrapping_mul(100_000_000).wrapping_add(eight);
        *j += 8;
    }
    while let Some(&c @ b'0'..=b'9') = b.get(*j) {
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        *j += 1;
    }
    *j - start
}

/// The value of eight ASCII digits at `b[j..j + 8]` (`None` when fewer bytes remain or one is not a digit).
#[inline]
fn eight_digits(b: &[u8], j: usize) -> Option<u64> {
    let (digits, len) = digit_word(b, j)?;
    (len == 8).then(|| digits_value(digits, 8))
}

/// Epoch milliseconds of `YYYY-MM-DDTHH:MM:SS`, optionally `.` and 1–9 fraction digits, optionally `Z` (UTC);
/// `None` for any other text or an invalid date or time (leap seconds included), which the caller hands to chrono.
pub(crate) fn timestamp_ms(text: &str) -> Option<i64> {
    timestamp_ms_bytes(text.as_bytes())
}

/// [`timestamp_ms`] of the text's bytes.
pub(super) fn timestamp_ms_bytes(b: &[u8]) -> Option<i64> {
    // the fixed part as one array: every position below is then a constant index without a bounds check
    let head: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    let digits = |from: usize, to: usize| -> Option<i64> {
        head[from..to].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(at, c)| head[at] != c) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for k in 0..3 {
            let d = fraction
                .get(k)
                .filter(|_| k < n)
                .map_or(0, |c| i64::from(c - b'0'));
            millis = millis * 10 + d;
        }
        rest = &fraction[n..];
    }
    if !(rest.is_empty() || rest == b"Z") {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * 1_000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scans_binance_book_sides() {
        let mut out = Vec::new();
        assert!(scan_levels(
            r#"[["61685.99000000","1.38154000"],["61685.55","0"]]"#,
            20,
            &mut out
        )
        .is_some());
        assert_eq!(
            out,
            vec![Level::new(61685.99, 1.38154), Level::new(61685.55, 0.0)]
        );
        out.clear();
        assert!(scan_levels("[]", 20, &mut out).is_some() && out.is_empty());
        for odd in [
            r#"[["1","2"] ]"#,
            r#"[ ["1","2"]]"#,
            r#"[[1,"2"]]"#,
            r#"[["1","2",3]]"#,
            r#"[["1\u0030","2"]]"#,
            r#"[["1x","2"]]"#,
            r#"[["NaN","2"]]"#,
            r#"[["0","2"]]"#,
            r#"[["1","-2"]]"#,
            r#"[["1","1e16"]]"#,
            r#"[["1","2"],]"#,
            r#"[["1","2"]"#,
            r#"[["1","2"]]x"#,
        ] {
            assert!(scan_levels(odd, 20, &mut Vec::new()).is_none(), "{odd}");
        }
        assert!(scan_levels(r#"[["1","2"],["0.5","2"]]"#, 1, &mut Vec::new()).is_none());
    }

    proptest::proptest! {
        #[test]
        fn timestamps_match_chrono(
            y in 1u32..9999, mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61, s in 0u32..61,
            frac in "[0-9]{0,11}", z in proptest::bool::ANY, junk in proptest::bool::ANY,
        ) {
            let mut t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            if !frac.is_empty() || junk {
                t.push('.');
                t.push_str(&frac);
            }
            if z {
                t.push('Z');
            }
            let chrono = chrono::DateTime::parse_from_rfc3339(&t)
                .map(|t| t.timestamp_millis())
                .ok()
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|t| t.and_utc().timestamp_millis())
                });
            if let Some(fast) = timestamp_ms(&t) {
                proptest::prop_assert_eq!(Some(fast), chrono, "{}", t);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(t in ".{0,40}") {
            let _ = timestamp_ms(&t);
        }
    }

    proptest::proptest! {
        #[test]
        fn eight_digit_runs_read_as_their_value(n in 0u64..100_000_000, junk in 0usize..8) {
            let text = format!("{n:08}");
            proptest::prop_assert_eq!(eight_digits(text.as_bytes(), 0), Some(n));
            let mut broken = text.into_bytes();
            broken[junk] = b'/' + (junk as u8 % 2) * 11; // '/' or ':', the neighbours of the digits
            proptest::prop_assert_eq!(eight_digits(&broken, 0), None);
        }

        #[test]
        fn decimals_in_a_book_match_fast_float(
            int in "[0-9]{1,9}",
            frac in proptest::option::of("[0-9]{0,10}"),
            tail in "[\\],\\[\"0-9a-z]{0,12}",
        ) {
            // as inside a book: more bytes follow the closing quote, so the word-at-a-time path is taken when it
            // applies (and must agree with the reference when it does not)
            let number = match &frac {
                Some(f) => format!("{int}.{f}"),
                None => int.clone(),
            };
            let text = format!("\"{number}\"{tail}");
            let ours = super::number(text.as_bytes(), 1);
            match fast_float2::parse::<f64, _>(&number) {
                Ok(reference) => {
                    let (ours, end) = ours.unwrap();
                    proptest::prop_assert_eq!(ours.to_bits(), reference.to_bits(), "{}", text);
                    proptest::prop_assert_eq!(end, number.len() + 1, "{}", text);
                }
                Err(_) => proptest::prop_assert!(ours.is_none(), "{}", text),
            }
        }

        #[test]
        fn string_end_is_the_first_quote_backslash_control_or_non_ascii_byte(
            text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            from in 0usize..40,
        ) {
            let from = from.min(text.len());
            let expected = text[from..]
                .iter()
                .position(|&c| ends_plain_string(c))
                .map(|n| from + n);
            proptest::prop_assert_eq!(string_end(&text, from), expected);
        }

        #[test]
        fn decimals_match_fast_float(int in 0u64..10_000_000, frac in "[0-9]{1,12}") {
            let text = format!("\"{int}.{frac}\"");
            let (ours, end) = number(text.as_bytes(), 1).unwrap();
            let reference: f64 = fast_float2::parse(&text[1..text.len() - 1]).unwrap();
            proptest::prop_assert_eq!(ours.to_bits(), reference.to_bits(), "{}", text);
            proptest::prop_assert_eq!(end, text.len() - 1);
        }
    }

    /// `text` padded with `pad` so that the window [`binance_level`] needs is there (as inside a message).
    fn padded(text: &str, pad: &str) -> Vec<u8> {
        let mut b = text.as_bytes().to_vec();
        b.extend(pad.bytes().cycle().take(LEVEL_WINDOW));
        b
    }

    proptest::proptest! {
        #[test]
        fn digit_words_count_and_read_the_leading_digits(
            bytes in proptest::array::uniform8(proptest::prelude::any::<u8>()),
            digits in proptest::array::uniform8(b'0'..=b'9'),
            keep in 0usize..=8,
        ) {
            // any bytes after 0–8 digits, non-ASCII and carry/borrow-prone ones included
            let mut word = bytes;
            word[..keep].copy_from_slice(&digits[..keep]);
            let len = word.iter().take_while(|c| c.is_ascii_digit()).count();
            let (found, n) = digit_word(&word, 0).unwrap();
            proptest::prop_assert_eq!(n, len, "{:?}", word);
            if len > 0 {
                let value = word[..len].iter().fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
                proptest::prop_assert_eq!(digits_value(found, len), value, "{:?}", word);
            }
        }

        #[test]
        fn depth_symbols_are_parse_streams_depth_symbols(
            stream in "[a-zA-Z0-9@_é]{0,36}(@(depth|depth20@100ms|trade|ticker|dept))?",
        ) {
            // the fast path's reading of a stream's bytes (split_stream, then the upper-cased symbol) is accepted
            // exactly when the generic path reads a depth stream, with the same symbol
            let mut scratch = super::super::Scratch::default();
            let generic = super::super::parse_stream(&stream, &mut scratch);
            let ours = super::super::split_stream(stream.as_bytes())
                .ok()
                .filter(|(_, kind)| *kind == super::super::StreamKind::Depth);
            proptest::prop_assert_eq!(
                ours.is_some(),
                matches!(generic, Ok(super::super::StreamKind::Depth)),
                "{}", stream
            );
            if let Some((symbol, _)) = ours {
                let mut upper = String::from("stale");
                super::super::set_symbol(&mut upper, symbol);
                proptest::prop_assert_eq!(&upper, &scratch.symbol);
                proptest::prop_assert_eq!(upper, String::from_utf8_lossy(symbol).to_uppercase());
            }
        }

        #[test]
        fn binance_levels_match_fast_float(
            pi in "[0-9]{1,7}", pf in "[0-9]{8}", qi in "[0-9]{1,7}", qf in "[0-9]{8}",
            pad in "[\\],\\[\"0-9a-z}]{1,4}",
        ) {
            let (price, qty) = (format!("{pi}.{pf}"), format!("{qi}.{qf}"));
            let level = format!(r#"["{price}","{qty}"]"#);
            let b = padded(&level, &pad);
            let (p, q, end) = binance_level(&b, 0).unwrap();
            proptest::prop_assert_eq!(p.to_bits(), fast_float2::parse::<f64, _>(&price).unwrap().to_bits());
            proptest::prop_assert_eq!(q.to_bits(), fast_float2::parse::<f64, _>(&qty).unwrap().to_bits());
            proptest::prop_assert_eq!(end, level.len());
            proptest::prop_assert_eq!(any_level(&b, 0), Some((p, q, end)));
            // too few bytes for the window: the general path's turn
            proptest::prop_assert_eq!(binance_level(&b[..LEVEL_WINDOW - 1], 0), None);
        }

        #[test]
        fn binance_levels_take_only_their_shape(
            pi in 0usize..10, pf in 0usize..11, qi in 0usize..10, qf in 0usize..11,
            digit in 0u8..10, dot in proptest::bool::ANY,
        ) {
            // every combination of digit counts around the accepted 1–7 and exactly 8, with and without the dot
            let d = char::from(b'0' + digit);
            let number = |int: usize, frac: usize| {
                let mut n = d.to_string().repeat(int);
                if dot || frac > 0 {
                    n.push('.');
                }
                n + &d.to_string().repeat(frac)
            };
            let level = format!(r#"["{}","{}"]"#, number(pi, pf), number(qi, qf));
            let b = padded(&level, "],");
            let shape = |int: usize, frac: usize| (1..=7).contains(&int) && frac == 8;
            let ours = binance_level(&b, 0);
            proptest::prop_assert_eq!(ours.is_some(), shape(pi, pf) && shape(qi, qf), "{}", level);
            if ours.is_some() {
                proptest::prop_assert_eq!(ours, any_level(&b, 0), "{}", level);
            }
        }

        #[test]
        fn binance_levels_refuse_any_other_byte(
            pi in "[0-9]{1,7}", pf in "[0-9]{8}", qi in "[0-9]{1,7}", qf in "[0-9]{8}",
            at in 0usize..39, byte in proptest::prelude::any::<u8>(),
        ) {
            // one byte of a valid level replaced by anything: accepted only as the general path reads it
            let level = format!(r#"["{pi}.{pf}","{qi}.{qf}"]"#);
            let mut b = padded(&level, "]");
            let at = at % level.len();
            let was = b[at];
            b[at] = byte;
            if let Some(ours) = binance_level(&b, 0) {
                proptest::prop_assert_eq!(Some(ours), any_level(&b, 0), "{:?}", String::from_utf8_lossy(&b));
                // only a digit may stand for a digit
                proptest::prop_assert!(byte == was || byte.is_ascii_digit() && was.is_ascii_digit());
            }
        }
    }

    #[test]
    fn binance_levels_at_the_boundaries() {
        for (level, expected) in [
            (
                r#"["0.00000001","9999999.99999999"]"#,
                Some((1e-8, 9_999_999.999_999_99)),
            ),
            (
                r#"["9999999.99999999","0.00000000"]"#,
                Some((9_999_999.999_999_99, 0.0)),
            ),
            (
                r#"["61837.63000000","3.78826000"]"#,
                Some((61837.63, 3.78826)),
            ),
            (r#"["10000000.00000000","1.00000000"]"#, None),
            (r#"["1.000000000","1.00000000"]"#, None),
            (r#"["1.0000000","1.00000000"]"#, None),
            (r#"[".00000000","1.00000000"]"#, None),
            (r#"["1.00000000","1.00000000" ]"#, None),
            (r#"["1.00000000", "1.00000000"]"#, None),
            (r#"["1.0000000:","1.00000000"]"#, None),
            (r#"["/.00000000","1.00000000"]"#, None),
        ] {
            let b = padded(level, ",");
            let ours = binance_level(&b, 0);
            assert_eq!(ours.map(|(p, q, _)| (p, q)), expected, "{level}");
            if let Some((p, q, end)) = ours {
                assert_eq!(end, level.len());
                assert_eq!(any_level(&b, 0), Some((p, q, end)));
            }
        }
    }

    #[test]
    fn the_producers_timestamps_are_read() {
        assert_eq!(
            timestamp_ms("2024-08-08T23:54:15.408000Z"),
            Some(1_723_161_255_408)
        );
        assert_eq!(
            timestamp_ms("2024-08-08T23:54:15Z"),
            Some(1_723_161_255_000)
        );
        assert_eq!(timestamp_ms("2024-02-29T00:00:00"), Some(1_709_164_800_000));
        assert_eq!(timestamp_ms("2023-02-29T00:00:00"), None);
        assert_eq!(timestamp_ms("2024-08-08T23:54:60Z"), None);
        assert_eq!(timestamp_ms("2024-08-08T23:54:15+00:00"), None);
    }
}
