//! `realtime-strategies record`: subscribes to the market data subject and writes every message unchanged, one
//! per line, into a gzip JSON-lines recording that `evaluate` and standalone replay read. SIGINT or SIGTERM (or
//! `--duration` / `--max-bytes`) end it with the gzip stream finished, so the file is always complete.

use std::collections::HashSet;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use futures::StreamExt;

/// Arguments of `record`.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// Output file (gzip JSON lines).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Subject to record (default: `NATS_CONSUMER_TOPIC`).
    #[arg(long)]
    pub subject: Option<String>,
    /// Stop after this long (e.g. `30m`, `2h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Stop once this many message bytes (uncompressed) are written.
    #[arg(long)]
    pub max_bytes: Option<u64>,
}

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// `NATS_URL` is missing.
    #[error("NATS_URL is not set: record needs a NATS server to subscribe to")]
    NoNats,
    /// NATS connection or subscription failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// The output file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Messages written.
    pub messages: u64,
    /// Message bytes written (uncompressed, without newlines).
    pub bytes: u64,
    /// Distinct symbols seen.
    pub symbols: usize,
    /// Messages left out because they span several lines (a JSON-lines file cannot hold them unchanged).
    pub multi_line: u64,
}

/// Records until a signal, the duration or the byte limit ends it.
pub async fn run(
    nats_url: Option<&str>,
    default_subject: &str,
    args: &RecordArgs,
) -> Result<RecordStats, RecordError> {
    let url = nats_url
        .filter(|u| !u.trim().is_empty())
        .ok_or(RecordError::NoNats)?;
    let subject = args
        .subject
        .clone()
        .unwrap_or_else(|| default_subject.to_owned());
    let client = async_nats::ConnectOptions::new()
        .name("realtime-strategies-recorder")
        .connect(url)
        .await
        .map_err(|e| RecordError::Nats(e.to_string()))?;
    let mut sub = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| RecordError::Nats(e.to_string()))?;
    // Make sure the server has the subscription before the caller is told recording started.
    client
        .flush()
        .await
        .map_err(|e| RecordError::Nats(e.to_string()))?;
    let io = |source| RecordError::Io {
        path: args.out.display().to_string(),
        source,
    };
    let file = std::fs::File::create(&args.out).map_err(io)?;
    let mut gz = GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
    eprintln!("recording {subject} from NATS into {}", args.out.display());

    let mut stats = RecordStats::default();
    let mut symbols: HashSet<String> = HashSet::new();
    let deadline = args.duration.map(|d| tokio::time::Instant::now() + d);
    let mut progress = tokio::time::interval(Duration::from_secs(1));
    let tty = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let sleep_until =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep_until(sleep_until), if deadline.is_some() => break,
            _ = progress.tick() => {
                if tty {
                    eprint!("\r{} messages, {} bytes, {} symbols   ", stats.messages, stats.bytes, symbols.len());
                } else if last_line.elapsed() >= Duration::from_secs(10) {
                    last_line = Instant::now();
                    eprintln!("{} messages, {} bytes, {} symbols", stats.messages, stats.bytes, symbols.len());
                }
            }
            msg = sub.next() => {
                let Some(msg) = msg else { break };
                let payload = &msg.payload[..];
                if payload.contains(&b'\n') {
                    stats.multi_line += 1;
                    continue;
                }
                gz.write_all(payload).map_err(io)?;
                gz.write_all(b"\n").map_err(io)?;
                stats.messages += 1;
                stats.bytes += payload.len() as u64;
                if let Some(symbol) = symbol_of(payload) {
                    if !symbols.contains(symbol) {
                        symbols.insert(symbol.to_owned());
                    }
                }
                if args.max_bytes.is_some_and(|max| stats.bytes >= max) {
                    break;
                }
            }
        }
    }
    drop(sub);
    let mut inner = gz.finish().map_err(io)?;
    inner.flush().map_err(io)?;
    stats.symbols = symbols.len();
    eprintln!(
        "{}recorded {} messages ({} bytes, {} symbols) into {}",
        if tty { "\n" } else { "" },
        stats.messages,
        stats.bytes,
        stats.symbols,
        args.out.display()
    );
    Ok(stats)
}

/// The lower-case symbol of an envelope's `stream` (`btcusdt@depth20@100ms` → `btcusdt`), without parsing the
/// whole message.
fn symbol_of(payload: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"stream\":\"";
    let start = payload.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &payload[start..];
    let end = rest.iter().position(|b| *b == b'@' || *b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::symbol_of;

    #[test]
    fn symbol_comes_from_the_stream_token() {
        assert_eq!(
            symbol_of(br#"{"stream":"btcusdt@depth20@100ms","data":{}}"#),
            Some("btcusdt")
        );
        assert_eq!(symbol_of(br#"{"data":{}}"#), None);
    }
}
