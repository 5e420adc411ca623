//! Recordings for `evaluate`: envelope JSON lines (plain or gzip), read whole, hashed, and merged by the
//! envelopes' `timestamp` in event order.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strategy_sdk::decode::parse_timestamp_ms;

use crate::revision::sha256_hex;

/// Why a recording cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be read or decompressed.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not one line had an envelope timestamp.
    #[error("{0}: no usable message (no line is an envelope with a `timestamp`)")]
    NoMessage(String),
}

/// What `evaluate` reports about each input file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordingInfo {
    /// The path as given.
    pub path: String,
    /// SHA-256 of the file's bytes as stored (compressed or not).
    pub sha256: String,
    /// Lines with an envelope timestamp.
    pub messages: usize,
    /// First event time (ISO-8601).
    pub from: String,
    /// Last event time (ISO-8601).
    pub to: String,
    /// Lines without a readable envelope timestamp (skipped).
    pub malformed_lines: usize,
    /// The gzip stream ended early; the lines before the cut are used.
    pub truncated: bool,
    #[serde(skip)]
    pub(crate) from_ms: i64,
    #[serde(skip)]
    pub(crate) to_ms: i64,
}

/// One message of the merged stream.
#[derive(Debug, Clone)]
pub struct Message {
    /// Envelope timestamp in ms.
    pub time_ms: i64,
    /// The line, unchanged.
    pub line: String,
}

/// All inputs merged by event time.
#[derive(Debug)]
pub struct MergedRecordings {
    /// Per input file.
    pub files: Vec<RecordingInfo>,
    /// Messages in event order (ties keep file order, then line order).
    pub messages: Vec<Message>,
    /// Symbols that have a depth stream (scored on books; the others on trades).
    pub depth_symbols: std::collections::BTreeSet<String>,
}

impl MergedRecordings {
    /// Event-time span of all inputs in ms.
    pub fn span_ms(&self) -> i64 {
        let from = self.files.iter().map(|f| f.from_ms).min().unwrap_or(0);
        let to = self.files.iter().map(|f| f.to_ms).max().unwrap_or(0);
        (to - from).max(0)
    }

    /// First and last event time of all inputs in ms.
    pub fn window_ms(&self) -> (i64, i64) {
        let from = self.files.iter().map(|f| f.from_ms).min().unwrap_or(0);
        let to = self.files.iter().map(|f| f.to_ms).max().unwrap_or(0);
        (from, to)
    }
}

/// A named byte source: a file, or the recording bundled into the binary.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// The bundled BTCUSDT + ETHUSDT recording.
    Bundled,
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Bundled => "bundled:binance-btcusdt-ethusdt-20240808.jsonl.gz".into(),
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, RecordingError> {
        match self {
            Source::File(p) => std::fs::read(p).map_err(|source| RecordingError::Io {
                path: p.display().to_string(),
                source,
            }),
            Source::Bundled => Ok(crate::runtime::source::BUNDLED_RECORDING.to_vec()),
        }
    }
}

#[derive(Deserialize)]
struct EnvelopeHead<'a> {
    #[serde(borrow)]
    stream: Option<&'a str>,
    #[serde(borrow)]
    timestamp: Option<&'a str>,
}

/// The envelope's timestamp in ms and, for depth streams, the upper-case symbol.
fn envelope_head(line: &str) -> Option<(i64, Option<String>)> {
    let env: EnvelopeHead<'_> = serde_json::from_str(line).ok()?;
    let time = parse_timestamp_ms(env.timestamp?)?;
    let depth_symbol = env
        .stream
        .and_then(|s| s.split_once("@depth"))
        .map(|(symbol, _)| symbol.to_ascii_uppercase());
    Some((time, depth_symbol))
}

/// Reads every source and merges their messages by event time. A line without a readable timestamp is counted
/// and skipped; a source with no usable line is an error naming it.
pub fn read_all(sources: &[Source]) -> Result<MergedRecordings, RecordingError> {
    let mut files = Vec::with_capacity(sources.len());
    let mut tagged: Vec<(i64, usize, usize, String)> = Vec::new();
    let mut depth_symbols = std::collections::BTreeSet::new();
    for (file_index, source) in sources.iter().enumerate() {
        let name = source.name();
        let bytes = source.bytes()?;
        let (text, truncated) = decompress(&bytes, &name)?;
        let (mut from, mut to, mut messages, mut malformed) = (i64::MAX, i64::MIN, 0, 0);
        for (line_index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match envelope_head(line) {
                Some((t, depth_symbol)) => {
                    if let Some(symbol) = depth_symbol {
                        if !depth_symbols.contains(&symbol) {
                            depth_symbols.insert(symbol);
                        }
                    }
                    from = from.min(t);
                    to = to.max(t);
                    messages += 1;
                    tagged.push((t, file_index, line_index, line.to_owned()));
                }
                None => malformed += 1,
            }
        }
        if messages == 0 {
            return Err(RecordingError::NoMessage(name));
        }
        files.push(RecordingInfo {
            path: name,
            sha256: sha256_hex(&bytes),
            messages,
            from: strategy_sdk::decode::format_timestamp_ms(from),
            to: strategy_sdk::decode::format_timestamp_ms(to),
            malformed_lines: malformed,
            truncated,
            from_ms: from,
            to_ms: to,
        });
    }
    tagged.sort_by_key(|(t, f, l, _)| (*t, *f, *l));
    let messages = tagged
        .into_iter()
        .map(|(time_ms, _, _, line)| Message { time_ms, line })
        .collect();
    Ok(MergedRecordings {
        files,
        messages,
        depth_symbols,
    })
}

fn decompress(bytes: &[u8], name: &str) -> Result<(String, bool), RecordingError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // MultiGzDecoder also reads recordings written in several gzip members (appended files).
        // A truncated file (a recorder killed mid-write) keeps what was decoded before the cut.
        let truncated = match flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out) {
            Ok(_) => false,
            Err(_) if !out.is_empty() => true,
            Err(source) => {
                return Err(RecordingError::Io {
                    path: name.to_owned(),
                    source,
                })
            }
        };
        Ok((String::from_utf8_lossy(&out).into_owned(), truncated))
    } else {
        // Invalid UTF-8 only spoils its own line, which then fails to parse and is counted.
        Ok((String::from_utf8_lossy(bytes).into_owned(), false))
    }
}

/// Whether `path` names the bundled recording (`bundled` or empty).
pub fn source_of(path: &Path) -> Source {
    if path.as_os_str() == "bundled" {
        Source::Bundled
    } else {
        Source::File(path.to_owned())
    }
}
