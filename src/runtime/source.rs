//! Market data sources: a NATS subscription, or the replay of a recording (standalone mode).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use strategy_sdk::decode::{format_timestamp_ms, parse_timestamp_ms};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The recording bundled into the binary (BTCUSDT + ETHUSDT, gzip JSON lines).
pub const BUNDLED_RECORDING: &[u8] =
    include_bytes!("../../tests/data/binance-btcusdt-ethusdt-20240808.jsonl.gz");

/// A stream of raw messages.
pub enum Input {
    /// A NATS subscription behind a byte-bounded queue.
    Nats(crate::runtime::input::BoundedQueue),
    /// Messages pushed by a replay task.
    Channel(mpsc::Receiver<Bytes>),
    /// One processing thread's share, in batches from the dispatcher (`PROCESSING_THREADS` > 1).
    Thread(crate::runtime::threads::ThreadInput),
}

impl Input {
    /// The next message; `None` when the source is finished.
    pub async fn next(&mut self) -> Option<Bytes> {
        match self {
            Input::Nats(queue) => queue.recv().await,
            Input::Channel(rx) => rx.recv().await,
            Input::Thread(share) => share.recv().await,
        }
    }
}

impl Input {
    /// Moves the available messages, at most `limit`, into `buf`, waiting only while none is available; 0 when the
    /// source is finished.
    pub async fn next_batch(&mut self, buf: &mut Vec<Bytes>, limit: usize) -> usize {
        match self {
            Input::Nats(queue) => queue.recv_many(buf, limit).await,
            Input::Channel(rx) => rx.recv_many(buf, limit.max(1)).await,
            Input::Thread(share) => share.recv_many(buf, limit).await,
        }
    }
}

/// Errors reading a recording.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("cannot read recording {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The recording has no usable line.
    #[error("recording {0} holds no message with a timestamp")]
    Empty(String),
}

/// One recorded message with its event time.
struct Recorded {
    time_ms: i64,
    line: String,
}

/// Loads a recording (gzip when it starts with the gzip magic bytes, else plain JSON lines).
pub fn load_recording(bytes: &[u8], name: &str) -> Result<Vec<String>, ReplayError> {
    let reader: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let lines: Vec<String> = BufReader::new(reader)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return Err(ReplayError::Empty(name.to_owned()));
    }
    Ok(lines)
}

/// Reads the replay file, or the bundled recording when `path` is `None`.
pub fn read_recording(path: Option<&Path>) -> Result<Vec<String>, ReplayError> {
    match path {
        None => load_recording(BUNDLED_RECORDING, "bundled recording"),
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|source| ReplayError::Io {
                path: p.display().to_string(),
                source,
            })?;
            load_recording(&bytes, &p.display().to_string())
        }
    }
}

fn envelope_time(line: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(line).ok()?;
    parse_timestamp_ms(v.get("timestamp")?.as_str()?)
}

/// Shifts every time field of an envelope by `offset_ms` so a looped replay keeps event time moving forward.
pub fn shift_times(line: &str, offset_ms: i64) -> Option<String> {
    let mut v: Value = serde_json::from_str(line).ok()?;
    let ts = parse_timestamp_ms(v.get("timestamp")?.as_str()?)?;
    v["timestamp"] = Value::String(format_timestamp_ms(ts.saturating_add(offset_ms)));
    if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
        for key in ["E", "T", "O", "C"] {
            if let Some(t) = data.get(key).and_then(Value::as_i64) {
                data.insert(key.to_owned(), Value::from(t.saturating_add(offset_ms)));
            }
        }
    }
    serde_json::to_string(&v).ok()
}

/// Spawns the replay task: sends the recording at `speed` × recorded pace (0 = as fast as possible), looping if
/// asked, with event times shifted forward on each loop. Returns the receiving side.
///
/// No recording can make it panic: lines without a readable timestamp are skipped and lines out of time order
/// are put in order (stable sort); both are counted in the returned [`ReplayReport`] and logged.
pub fn spawn_replay(
    lines: Vec<String>,
    speed: f64,
    looped: bool,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(mpsc::Receiver<Bytes>, ReplayReport, JoinHandle<()>), ReplayError> {
    let total = lines.len();
    let mut recorded: Vec<Recorded> = lines
        .into_iter()
        .filter_map(|line| envelope_time(&line).map(|time_ms| Recorded { time_ms, line }))
        .collect();
    let out_of_order = recorded
        .windows(2)
        .filter(|w| w[1].time_ms < w[0].time_ms)
        .count();
    if out_of_order > 0 {
        recorded.sort_by_key(|r| r.time_ms);
    }
    let report = ReplayReport {
        lines: recorded.len(),
        skipped_without_timestamp: total - recorded.len(),
        out_of_order,
    };
    if report.skipped_without_timestamp > 0 || out_of_order > 0 {
        tracing::warn!(
            skipped_without_timestamp = report.skipped_without_timestamp,
            out_of_order,
            "replay recording: lines without a timestamp are skipped; lines out of time order were sorted"
        );
    }
    let (Some(first), Some(last)) = (recorded.first(), recorded.last()) else {
        return Err(ReplayError::Empty("recording".into()));
    };
    let span_ms = last
        .time_ms
        .saturating_sub(first.time_ms)
        .saturating_add(100);
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        0.0
    };
    let (tx, rx) = mpsc::channel(4096);
    let task = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let base = recorded.first().map(|r| r.time_ms).unwrap_or(0);
        let mut round: i64 = 0;
        loop {
            for r in &recorded {
                if *shutdown.borrow() {
                    return;
                }
                let elapsed_ms = r
                    .time_ms
                    .saturating_sub(base)
                    .saturating_add(round.saturating_mul(span_ms));
                if speed > 0.0 {
                    let wait =
                        Duration::try_from_secs_f64(elapsed_ms.max(0) as f64 / 1000.0 / speed)
                            .unwrap_or(Duration::ZERO);
                    let due = start.checked_add(wait).unwrap_or(start);
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                let payload = if round == 0 {
                    Bytes::from(r.line.clone())
                } else {
                    match shift_times(&r.line, round.saturating_mul(span_ms)) {
                        Some(s) => Bytes::from(s),
                        None => continue,
                    }
                };
                if tx.send(payload).await.is_err() {
                    return;
                }
            }
            if !looped {
                return;
            }
            round += 1;
        }
    });
    Ok((rx, report, task))
}

/// What the replay made of a recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayReport {
    /// Lines replayed per loop.
    pub lines: usize,
    /// Lines skipped because no timestamp could be read.
    pub skipped_without_timestamp: usize,
    /// Lines that were out of time order (the recording was sorted).
    pub out_of_order: usize,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bundled_recording_loads() {
        let lines = read_recording(None).unwrap();
        assert_eq!(lines.len(), 23_381);
    }

    #[test]
    fn shifting_moves_every_time_field() {
        let line = r#"{"stream":"btcusdt@trade","data":{"E":1000,"T":999,"p":"1","q":"1"},"timestamp":"1970-01-01T00:00:01Z"}"#;
        let shifted: Value = serde_json::from_str(&shift_times(line, 500).unwrap()).unwrap();
        assert_eq!(shifted["data"]["E"], 1500);
        assert_eq!(shifted["data"]["T"], 1499);
        assert_eq!(shifted["timestamp"], "1970-01-01T00:00:01.500000Z");
    }
}
