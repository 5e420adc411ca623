//! Shared helpers for the host's integration tests: a real nats-server on a free loopback port, the host on a
//! free HTTP port, the bundled recording.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use realtime_strategies::host::{EnvReader, Host};
use realtime_strategies::settings::Settings;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nats_binary() -> String {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return p;
    }
    for p in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        if std::path::Path::new(p).exists() {
            return p.to_owned();
        }
    }
    "nats-server".to_owned()
}

/// A nats-server child process on a random loopback port, killed on drop.
pub struct NatsServer {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on a given port (used to restart on the same port).
    pub fn start_on(port: u16) -> Self {
        let child = Command::new(nats_binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (tests/run.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Settings from command-line style flags (the environment is not consulted for values given here).
pub fn settings(args: &[&str]) -> Settings {
    let mut all = vec!["realtime-strategies", "--heartbeat-enabled", "false"];
    all.extend_from_slice(args);
    // Every host gets its own embedded config store file unless the test names one (a redb file can be open once).
    let db = fresh_config_db();
    if !args.contains(&"--config-db-path") {
        all.extend_from_slice(&["--config-db-path", db.as_str()]);
    }
    // Tests of the configuration API write without a token unless they test the token itself: open writes
    // explicitly (a host with NATS refuses tokenless writes otherwise).
    if !args.contains(&"--api-token") && !args.contains(&"--api-auth") {
        all.extend_from_slice(&["--api-auth", "disabled"]);
    }
    // Tests write configs in quick succession with one author: the write rate limit is off unless a test sets it.
    for flag in [
        "--config-rate-limit-per-agent",
        "--config-rate-limit-cooldown",
        "--config-rate-limit-global",
    ] {
        if !args.contains(&flag) {
            all.extend_from_slice(&[flag, "0"]);
        }
    }
    // The bundled recording is from 2024: its signals would all be stale in live mode.
    if !args.contains(&"--signal-max-age-ms") {
        all.extend_from_slice(&["--signal-max-age-ms", "0"]);
    }
    Settings::from_args(all)
}

/// A path for a new embedded configuration store file under the system temp dir.
pub fn fresh_config_db() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir()
        .join(format!(
            "rs-test-config-{}-{n}-{nanos}.redb",
            std::process::id()
        ))
        .display()
        .to_string()
}

/// An environment reader over a fixed map (strategy switches and parameter variables).
pub fn env_of(pairs: &[(&str, &str)]) -> EnvReader {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Arc::new(move |k| map.get(k).cloned())
}

/// A running host with its HTTP API on a free port; shut down on drop.
pub struct TestHost {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl TestHost {
    /// Starts a host with `settings` and `env`.
    pub async fn start(settings: Settings, env: EnvReader) -> Self {
        Self::start_at(settings, env, 0).await
    }

    /// Starts a host listening on `port` (0: any free port), e.g. to restart one where a client expects it.
    pub async fn start_at(settings: Settings, env: EnvReader, port: u16) -> Self {
        let host = Host::start_with_env(settings, env)
            .await
            .expect("host starts");
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            let _ = host
                .serve(listener, async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base,
            stop: Some(tx),
            done: Some(done),
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GET and parse JSON; returns (status, body).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::get(self.url(path)).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// GET text.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(self.url(path)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Sends a JSON request (optional body and bearer token); returns (status, JSON body or null).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new().request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POST a JSON body.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::POST, path, Some(body), None)
            .await
    }

    /// DELETE without a body.
    pub async fn delete_json(&self, path: &str) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::DELETE, path, None, None).await
    }

    /// Messages processed so far, all stream types (from `/metrics`).
    pub async fn processed(&self) -> f64 {
        let (_, text) = self.get_text("/metrics").await;
        metric(&text, "realtime_messages_processed_total", "")
    }

    /// Polls `/ready` until 200 or panics after `secs`.
    pub async fn wait_ready(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(r) = reqwest::get(self.url("/ready")).await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "host not ready after {secs}s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the host gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), done).await;
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The first `n` depth20 envelopes of the bundled recording.
pub fn depth_lines(n: usize) -> Vec<String> {
    recording()
        .into_iter()
        .filter(|l| l.contains("@depth20"))
        .take(n)
        .collect()
}

/// 50 writers set the same config (`cfg`) concurrently, spread over `hosts` (several hosts on one store catch
/// store-level races a single host's locks would hide). Every write is acknowledged, the effective config is the
/// last acknowledged write, and the audit (newest first) holds exactly 50 records with versions 1..=50, each
/// record's old state being the previous record's new state (no lost or interleaved update).
pub async fn fifty_concurrent_writers(hosts: &[&TestHost], cfg: &str, audit: &str) {
    use serde_json::{json, Value};
    let h = hosts[0];
    let mut tasks = Vec::new();
    for i in 0..50u32 {
        let url = hosts[i as usize % hosts.len()].url(cfg);
        tasks.push(tokio::spawn(async move {
            let top = 1 + (i % 20);
            let r = reqwest::Client::new()
                .post(url)
                .json(&json!({"parameters": {"top_levels": top, "min_total_volume": 0.001 + f64::from(i) * 0.0001}, "changed_by": format!("w{i}")}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut acks = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        assert_eq!(s, 200, "{b}");
        acks.push(b);
    }
    let last = acks
        .iter()
        .max_by_key(|b| b["data"]["version"].as_u64().unwrap())
        .unwrap();
    assert_eq!(last["data"]["version"], 50);
    for other in hosts {
        let (s, _) = other
            .post_json("/api/v1/strategies/cache/refresh", json!({}))
            .await;
        assert_eq!(s, 200);
    }
    let (_, b) = h.get_json(cfg).await;
    assert_eq!(b["data"]["version"], 50);
    assert_eq!(
        b["data"]["parameters"]["min_total_volume"],
        last["data"]["parameters"]["min_total_volume"]
    );
    let (_, a) = h.get_json(audit).await;
    let items = a["data"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    let mut versions: Vec<u64> = items
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    versions.reverse();
    assert_eq!(
        versions,
        (1..=50).collect::<Vec<_>>(),
        "strictly increasing versions"
    );
    for pair in items.windows(2) {
        assert_eq!(
            pair[0]["old_parameters"]["min_total_volume"],
            pair[1]["new_parameters"]["min_total_volume"]
        );
    }
}

/// The bundled recording's lines.
pub fn recording() -> Vec<String> {
    strategy_sdk::testing::bundled_recording()
}

/// Value of a Prometheus sample line `name{labels} value` (labels given as they appear, e.g. `reason="empty_book"`).
pub fn metric(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| label.is_empty() || l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs the service binary `bin` in standalone replay of the bundled recording (no loop, `speed` × recorded pace,
/// `env` added), waits until every message is processed, stops it with SIGTERM and returns the signals it
/// printed, in print order.
pub async fn standalone_replay_signals(
    bin: &str,
    speed: &str,
    env: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    use std::io::BufRead;
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.env_remove("NATS_URL")
        .env_remove("MONGODB_URI")
        .env("REPLAY_SPEED", speed)
        .env("REPLAY_LOOP", "false")
        .env("SIGNALS_TO_STDOUT", "true")
        .env("HEALTH_CHECK_PORT", port.to_string())
        .env("HTTP_BIND", "127.0.0.1")
        .env("HEARTBEAT_ENABLED", "false")
        .env("LOG_LEVEL", "error")
        .env("CONFIG_DB_PATH", fresh_config_db());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .collect::<Vec<_>>()
    });
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let total = recording().len() as f64;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = reqwest::get(&metrics_url).await {
            let text = r.text().await.unwrap_or_default();
            if metric(&text, "realtime_messages_processed_total", "") >= total {
                break;
            }
        }
        assert!(Instant::now() < deadline, "replay did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the publisher drain, then stop the host as Kubernetes would.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    reader.join().unwrap()
}

/// `TEST_MONGODB_URI`, or `None` outside CI (the caller returns); under `CI=true` a missing server is a failure.
pub fn mongo_uri() -> Option<String> {
    let uri = std::env::var("TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty());
    if uri.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "TEST_MONGODB_URI is not set but CI is: start the MongoDB-compatible server (tests/run.sh does)"
        );
        eprintln!("TEST_MONGODB_URI is not set (run tests/run.sh): skipping this MongoDB test");
    }
    uri
}

/// Publishes the recording's first 400 depth lines to `binance.websocket.data` in a loop until `stop`, one every
/// `pause`, shifting event times forward by `step_ms` each round (per-symbol event time never runs backwards).
pub fn spawn_depth_feeder(
    client: async_nats::Client,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    step_ms: i64,
    pause: Duration,
) -> tokio::task::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    let lines = depth_lines(400);
    tokio::spawn(async move {
        let mut offset = 0i64;
        while !stop.load(Ordering::Relaxed) {
            for line in &lines {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let shifted =
                    realtime_strategies::runtime::source::shift_times(line, offset).unwrap();
                let _ = client
                    .publish("binance.websocket.data", shifted.into())
                    .await;
                tokio::time::sleep(pause).await;
            }
            offset += step_ms;
        }
    })
}

/// The readiness document of a `/ready` answer: the body itself when ready (200), the error's `details` when not
/// (503 with the one error body shape).
pub fn readiness(body: &serde_json::Value) -> &serde_json::Value {
    if body["error"]["details"].is_object() {
        &body["error"]["details"]
    } else {
        body
    }
}
