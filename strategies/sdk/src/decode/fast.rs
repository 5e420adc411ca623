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
    eat(b, &mut i, b'[')?;
    if eat(b, &mut i, b']').is_some() {
        return (i == b.len()).then_some(());
    }
    loop {
        eat(b, &mut i, b'[')?;
        let price = decimal(b, &mut i)?;
        eat(b, &mut i, b',')?;
        let qty = decimal(b, &mut i)?;
        eat(b, &mut i, b']')?;
        let in_range = |v: f64| v.is_finite() && v <= MAX_NUMBER;
        if !(in_range(price) && price > 0.0 && in_range(qty) && qty >= 0.0)
            || out.len() >= max_levels
        {
            return None;
        }
        out.push(Level::new(price, qty));
        if eat(b, &mut i, b',').is_none() {
            eat(b, &mut i, b']')?;
            return (i == b.len()).then_some(());
        }
    }
}

fn eat(b: &[u8], i: &mut usize, expected: u8) -> Option<()> {
    (b.get(*i) == Some(&expected)).then(|| *i += 1)
}

/// A quoted decimal string parsed whole by `fast_float2` (what the generic path's number visitor does with it).
fn decimal(b: &[u8], i: &mut usize) -> Option<f64> {
    eat(b, i, b'"')?;
    let (value, used) = fast_float2::parse_partial::<f64, _>(b.get(*i..)?).ok()?;
    *i += used;
    eat(b, i, b'"')?;
    Some(value)
}

/// Epoch milliseconds of `YYYY-MM-DDTHH:MM:SS`, optionally `.` and 1–9 fraction digits, optionally `Z` (UTC);
/// `None` for any other text or an invalid date or time (leap seconds included), which the caller hands to chrono.
pub(crate) fn timestamp_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |from: usize, to: usize| -> Option<i64> {
        b.get(from..to)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(at, c)| b.get(at) != Some(&c)) {
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
