//! Timestamps of the wire formats: the envelope's ISO-8601 / RFC 3339 `timestamp` parsed into epoch milliseconds,
//! and epoch milliseconds formatted the way signals and API documents carry them.

/// Parses an ISO-8601 / RFC 3339 timestamp (the envelope's `timestamp`, `Z` optional) into epoch milliseconds.
/// The producer's `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` is read by a specialised scan, anything else by chrono.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    if let Some(ms) = crate::decode::fast::timestamp_ms(text) {
        return Some(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Formats epoch milliseconds as the ISO-8601 UTC form used in signals and API documents.
pub fn format_timestamp_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}
