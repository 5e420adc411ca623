//! Load tool: replays a recording into a real nats-server and measures the host.
//!
//! - `throughput`: publishes N messages as fast as possible; reports messages/s processed by the host (from its
//!   `/metrics`), slow-consumer drops, host CPU and RSS. With `--baseline`, a plain subscriber in this process
//!   that only counts replaces the host: the transport's own ceiling on this machine. With `--publish-only` it
//!   publishes (paced as usual) and exits, for a `receive` run in another process.
//! - `receive`: a plain subscriber in its own process, nothing else: it counts `--count` messages and prints the CPU
//!   it used per message, what the NATS client alone costs any consumer of the stream (a sharded replica pays at
//!   least this for every message, including those it drops unread).
//! - `latency`: publishes at a fixed rate and matches each signal on `cio.intent.trading.>` to the message that
//!   triggered it (symbol + event time), reporting p50/p99/p99.9 publish→signal latency.
//!
//! Symbols are multiplied by relabelling (`--symbols 100` turns BTCUSDT into S0BTCUSDT … S49BTCUSDT); each replay
//! round shifts event times forward so every (symbol, event time) is unique.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use hdrhistogram::Histogram;
use realtime_strategies::runtime::source::{read_recording, shift_times};
use strategy_sdk::decode::parse_timestamp_ms;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Throughput,
    Latency,
    /// Fixed-rate GETs of one host URL path (e.g. /api/v1/metrics/summary), latency percentiles.
    Http,
    /// A plain subscriber alone: counts `--count` messages, prints its CPU seconds per message.
    Receive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kinds {
    Depth,
    All,
}

/// Load tool for realtime-strategies.
#[derive(Debug, Parser)]
struct Args {
    /// What to measure.
    #[arg(value_enum)]
    mode: Mode,
    /// NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Host HTTP base URL (for /metrics).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    host_url: String,
    /// Recording (default: the bundled one).
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Message kinds to send.
    #[arg(long, value_enum, default_value = "depth")]
    kinds: Kinds,
    /// Number of distinct symbols (relabelled copies of the recorded ones).
    #[arg(long, default_value_t = 2)]
    symbols: usize,
    /// Messages to publish (throughput).
    #[arg(long, default_value_t = 200_000)]
    count: usize,
    /// Publish rate in messages/s (latency, http; throughput: 0 = as fast as possible).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Duration in seconds (latency).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Measure the transport alone: a plain counting subscriber instead of the host.
    #[arg(long)]
    baseline: bool,
    /// Throughput: publish only (paced), then exit without reading a host; the publisher for a `receive` run.
    #[arg(long)]
    publish_only: bool,
    /// Input subject.
    #[arg(long, default_value = "binance.websocket.data")]
    subject: String,
    /// Path requested in `http` mode.
    #[arg(long, default_value = "/api/v1/metrics/summary")]
    path: String,
    /// Concurrent connections in `http` mode.
    #[arg(long, default_value_t = 8)]
    connections: usize,
}

struct Message {
    payload: Bytes,
    key: (String, i64),
}

fn build_messages(args: &Args, needed: usize) -> Result<Vec<Message>, String> {
    let lines = read_recording(args.file.as_deref()).map_err(|e| e.to_string())?;
    let lines: Vec<String> = lines
        .into_iter()
        .filter(|l| matches!(args.kinds, Kinds::All) || l.contains("@depth"))
        .collect();
    if lines.is_empty() {
        return Err("recording has no matching message".into());
    }
    let base_symbols = 2usize;
    let copies = args.symbols.div_ceil(base_symbols).max(1);
    let times: Vec<i64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| parse_timestamp_ms(v["timestamp"].as_str()?))
                .unwrap_or(0)
        })
        .collect();
    let span = times.iter().max().unwrap_or(&0) - times.iter().min().unwrap_or(&0) + 100;
    let mut out = Vec::with_capacity(needed);
    let mut round = 0i64;
    'outer: loop {
        for (line, t) in lines.iter().zip(&times) {
            let shifted = if round == 0 {
                line.clone()
            } else {
                match shift_times(line, round * span) {
                    Some(s) => s,
                    None => continue,
                }
            };
            for c in 0..copies {
                let labelled = if copies == 1 {
                    shifted.clone()
                } else {
                    shifted.replacen("\"stream\":\"", &format!("\"stream\":\"s{c}"), 1)
                };
                let symbol = labelled
                    .split("\"stream\":\"")
                    .nth(1)
                    .and_then(|s| s.split('@').next())
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                out.push(Message {
                    payload: Bytes::from(labelled),
                    key: (symbol, t + round * span),
                });
                if out.len() >= needed {
                    break 'outer;
                }
            }
        }
        round += 1;
    }
    Ok(out)
}

async fn host_metric(client: &reqwest::Client, host: &str, name: &str) -> f64 {
    let Ok(r) = client.get(format!("{host}/metrics")).send().await else {
        return f64::NAN;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A connection of its own subscribed to `--subject`, with a buffer large enough that it never drops: the
/// transport alone, for `--baseline` and `receive`. The subscription is active on the server when this returns.
async fn plain_subscriber(
    args: &Args,
) -> Result<(async_nats::Client, async_nats::Subscriber), String> {
    let client = async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 20)
        .connect(&args.nats_url)
        .await
        .map_err(|e| e.to_string())?;
    let sub = client
        .subscribe(args.subject.clone())
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    Ok((client, sub))
}

/// Publishes `msgs` at `--rate` msg/s (0: as fast as possible) and flushes; returns the seconds it took.
async fn publish_paced(
    nats: &async_nats::Client,
    args: &Args,
    msgs: &[Message],
) -> Result<f64, String> {
    let start = Instant::now();
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    for (i, m) in msgs.iter().enumerate() {
        // Paced in batches of 100 so timer resolution does not cap the rate.
        if let (Some(interval), 0) = (interval, i % 100) {
            let due = start + interval.mul_f64(i as f64);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
            }
        }
        nats.publish(args.subject.clone(), m.payload.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    nats.flush().await.map_err(|e| e.to_string())?;
    Ok(start.elapsed().as_secs_f64())
}

async fn throughput(args: &Args) -> Result<(), String> {
    let msgs = build_messages(args, args.count)?;
    let nats = async_nats::connect(&args.nats_url)
        .await
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();
    if args.baseline {
        let (_sub_client, mut sub) = plain_subscriber(args).await?;
        let total = msgs.len();
        let counter = tokio::spawn(async move {
            let mut n = 0usize;
            let mut first = None;
            while let Ok(Some(_m)) = tokio::time::timeout(Duration::from_secs(5), sub.next()).await
            {
                first.get_or_insert_with(Instant::now);
                n += 1;
                if n == total {
                    break;
                }
            }
            (n, first.map(|f| f.elapsed()))
        });
        let start = Instant::now();
        for m in &msgs {
            nats.publish(args.subject.clone(), m.payload.clone())
                .await
                .map_err(|e| e.to_string())?;
        }
        nats.flush().await.map_err(|e| e.to_string())?;
        let (n, _) = counter.await.map_err(|e| e.to_string())?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "baseline (plain subscriber): received {n}/{total} in {secs:.3}s = {:.0} msg/s",
            n as f64 / secs
        );
        return Ok(());
    }
    if args.publish_only {
        let published = publish_paced(&nats, args, &msgs).await?;
        println!(
            "published {} in {published:.3}s = {:.0} msg/s",
            msgs.len(),
            msgs.len() as f64 / published
        );
        return Ok(());
    }
    let host = args.host_url.trim_end_matches('/');
    let before = host_metric(&http, host, "realtime_messages_processed_total").await;
    let slow_before = host_metric(&http, host, "realtime_nats_slow_consumer_total").await;
    let cpu_before = host_metric(&http, host, "realtime_process_cpu_seconds").await;
    let start = Instant::now();
    let published = publish_paced(&nats, args, &msgs).await?;
    let target = before + msgs.len() as f64;
    let mut done;
    let mut last_change = Instant::now();
    let mut last = before;
    loop {
        done = host_metric(&http, host, "realtime_messages_processed_total").await;
        if done >= target {
            break;
        }
        if done > last {
            last = done;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        // Every poll renders the host's /metrics (CPU the host spends, and counts): 50 per second at most.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let processed = done - before;
    let slow = host_metric(&http, host, "realtime_nats_slow_consumer_total").await - slow_before;
    let cpu = host_metric(&http, host, "realtime_process_cpu_seconds").await - cpu_before;
    let rss = host_metric(&http, host, "memory_usage_bytes").await;
    println!(
        "host: processed {processed:.0}/{} in {secs:.3}s = {:.0} msg/s (published in {published:.3}s); slow-consumer drops {slow:.0}; host CPU {cpu:.2}s ({:.0}% of one core); RSS {:.1} MiB",
        msgs.len(),
        processed / secs,
        100.0 * cpu / secs,
        rss / 1048576.0
    );
    Ok(())
}

async fn latency(args: &Args) -> Result<(), String> {
    let count = (args.rate * args.duration) as usize;
    let msgs = build_messages(args, count)?;
    let nats = async_nats::connect(&args.nats_url)
        .await
        .map_err(|e| e.to_string())?;
    let mut signals = nats
        .subscribe("cio.intent.trading.>")
        .await
        .map_err(|e| e.to_string())?;
    nats.flush().await.map_err(|e| e.to_string())?;
    let sent: std::sync::Arc<parking_lot::Mutex<HashMap<(String, i64), Instant>>> =
        Default::default();
    let sent_rx = sent.clone();
    let collector = tokio::spawn(async move {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
        let mut matched = 0u64;
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(3), signals.next()).await {
            let now = Instant::now();
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
                continue;
            };
            let (Some(sym), Some(ts)) = (
                v["symbol"].as_str(),
                v["timestamp"].as_str().and_then(parse_timestamp_ms),
            ) else {
                continue;
            };
            if let Some(t0) = sent_rx.lock().get(&(sym.to_owned(), ts)) {
                if let Some(h) = hist.as_mut() {
                    let _ = h.record(now.duration_since(*t0).as_micros().max(1) as u64);
                }
                matched += 1;
            }
        }
        (hist, matched)
    });
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let start = Instant::now();
    for (i, m) in msgs.iter().enumerate() {
        let due = start + interval.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        sent.lock().insert(m.key.clone(), Instant::now());
        nats.publish(args.subject.clone(), m.payload.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    nats.flush().await.map_err(|e| e.to_string())?;
    let elapsed = start.elapsed().as_secs_f64();
    let (hist, matched) = collector.await.map_err(|e| e.to_string())?;
    let Some(h) = hist else {
        return Err("histogram".into());
    };
    println!(
        "latency publish→signal at {:.0} msg/s over {elapsed:.1}s: {matched} signals matched; p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        msgs.len() as f64 / elapsed,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
    Ok(())
}

async fn http(args: &Args) -> Result<(), String> {
    let url = format!("{}{}", args.host_url.trim_end_matches('/'), args.path);
    let total = (args.rate * args.duration) as usize;
    let per_conn_interval =
        Duration::from_secs_f64(args.connections.max(1) as f64 / args.rate.max(1) as f64);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let conns = args.connections.max(1);
    for c in 0..conns {
        let url = url.clone();
        let n = total / args.connections.max(1);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .map_err(|e| e.to_string())?;
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
            let mut errors = 0u64;
            // Connections start staggered across one interval so requests are evenly spread.
            let offset = per_conn_interval.mul_f64(c as f64 / conns as f64);
            for i in 0..n {
                // Latency counts from the actual send (tokio's timer has 1 ms granularity, so the scheduled time
                // would add up to 1 ms of sleep overshoot); the achieved request rate is reported alongside.
                let due = start + offset + per_conn_interval.mul_f64(i as f64);
                let now = Instant::now();
                if due > now {
                    tokio::time::sleep(due - now).await;
                }
                let sent = Instant::now();
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                let _ = hist.record(sent.elapsed().as_micros().max(1) as u64);
            }
            Ok::<_, String>((hist, errors))
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await.map_err(|e| e.to_string())??;
        all.add(&h).map_err(|e| e.to_string())?;
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "GET {} at {:.0} req/s ({} requests, {} errors): p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        args.path,
        all.len() as f64 / secs,
        all.len(),
        errors,
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.99),
        all.value_at_quantile(0.999),
        all.max()
    );
    Ok(())
}

/// Receives `--count` messages as a plain subscriber (the transport alone) and reports the CPU it used per message.
/// Stops early 3 s after the last message, or 60 s after subscribing if none came.
async fn receive(args: &Args) -> Result<(), String> {
    let (_client, mut sub) = plain_subscriber(args).await?;
    println!("receive: subscribed to {}", args.subject);
    let cpu_before = realtime_strategies::metrics::process_cpu_seconds();
    let mut received = 0usize;
    let mut wait = Duration::from_secs(60);
    while let Ok(Some(m)) = tokio::time::timeout(wait, sub.next()).await {
        std::hint::black_box(&m.payload);
        received += 1;
        wait = Duration::from_secs(3);
        if received == args.count {
            break;
        }
    }
    let cpu = realtime_strategies::metrics::process_cpu_seconds() - cpu_before;
    println!(
        "plain subscriber: received {received}/{}; CPU {cpu:.2}s = {:.2} us per message",
        args.count,
        1e6 * cpu / received.max(1) as f64
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = match args.mode {
        Mode::Throughput => throughput(&args).await,
        Mode::Latency => latency(&args).await,
        Mode::Http => http(&args).await,
        Mode::Receive => receive(&args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rs-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
