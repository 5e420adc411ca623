//! Issue 13 item 4: the embedded store's failures. A write the disk refuses answers 503 with the JSON error body,
//! `/ready` reports the store down with the reason, and the store recovers without a restart once the file can
//! be written again. A corrupt store file stops the start with one line naming the file and how to recover.
//!
//! The write failure is real and works as root (which ignores permission bits): the running host's file size
//! limit is lowered with `prlimit` (util-linux), so the kernel refuses its writes with EFBIG, then raised again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, fresh_config_db};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_realtime-strategies");
const CFG: &str = "/api/v1/strategies/orderbook_skew/config";

fn host_command(db: &str, port: u16) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("NATS_URL")
        .env_remove("MONGODB_URI")
        .env("CONFIG_DB_PATH", db)
        .env("HEALTH_CHECK_PORT", port.to_string())
        .env("HTTP_BIND", "127.0.0.1")
        .env("API_AUTH", "disabled")
        .env("CONFIG_RATE_LIMIT_PER_AGENT", "0")
        .env("CONFIG_RATE_LIMIT_COOLDOWN", "0")
        .env("CONFIG_RATE_LIMIT_GLOBAL", "0")
        .env("SIGNALS_TO_STDOUT", "false")
        .env("HEARTBEAT_ENABLED", "false")
        .env("LOG_LEVEL", "error")
        .env("STRATEGY_ENABLED_CROSS_EXCHANGE_SPREAD", "false");
    cmd
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn send(
    method: reqwest::Method,
    base: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn wait_status(base: &str, path: &str, want: u16, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}{path}")).await {
            if r.status().as_u16() == want {
                return r.json().await.unwrap_or(Value::Null);
            }
        }
        assert!(Instant::now() < deadline, "{path} never answered {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn prlimit_fsize(pid: u32, limit: &str) {
    let out = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={limit}")])
        .output()
        .expect("prlimit (util-linux) must be installed");
    assert!(
        out.status.success(),
        "prlimit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_write_the_disk_refuses_is_503_ready_says_why_and_recovery_needs_no_restart() {
    let db = fresh_config_db();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = host_command(&db, port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _running = Running(child);
    wait_status(&base, "/ready", 200, 30).await;
    let body = |bt: f64| json!({"parameters": {"buy_threshold": bt}, "changed_by": "ops"});
    let (s, b) = send(reqwest::Method::POST, &base, CFG, Some(body(1.6))).await;
    assert_eq!(s, 200, "{b}");

    // The disk refuses every write from now on.
    prlimit_fsize(pid, "1:unlimited");
    let (s, b) = send(reqwest::Method::POST, &base, CFG, Some(body(1.7))).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(b["success"], false);
    assert_eq!(b["error"]["code"], "STORE_UNAVAILABLE");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(message.contains(&db), "names the file: {message}");
    assert!(message.contains("written"), "{message}");
    // Not stuck on one error: a second write fails the same way, reads keep serving the stored value.
    let (s, b) = send(
        reqwest::Method::DELETE,
        &base,
        &format!("{CFG}?changed_by=ops"),
        None,
    )
    .await;
    assert_eq!(s, 503, "{b}");
    let (s, b) = send(reqwest::Method::GET, &base, CFG, None).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.6);
    // /ready reports the store down with the reason, and keeps doing so while the disk refuses writes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = reqwest::get(format!("{base}/ready")).await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let not_ready: Value = r.json().await.unwrap();
    // A 503 is the one error body: the readiness document is its `details`.
    assert_eq!(not_ready["error"]["code"], "NOT_READY", "{not_ready}");
    let ready = &not_ready["error"]["details"];
    assert_eq!(ready["checks"]["config_store_available"], false);
    assert_eq!(ready["config_store"]["available"], false);
    assert!(ready["reason"].as_str().unwrap().contains(&db), "{ready}");
    assert!(ready["config_store"]["last_error"]
        .as_str()
        .unwrap()
        .contains("cannot be"));
    let (s, _) = send(reqwest::Method::GET, &base, "/healthz", None).await;
    assert_eq!(s, 200, "the process itself is alive");

    // The disk takes writes again: no restart, the store comes back, the next write succeeds.
    prlimit_fsize(pid, "unlimited:unlimited");
    let ready = wait_status(&base, "/ready", 200, 10).await;
    assert_eq!(ready["checks"]["config_store_available"], true);
    let (s, b) = send(reqwest::Method::POST, &base, CFG, Some(body(1.7))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["version"], 2, "the failed writes left no trace");
    let (_, a) = send(
        reqwest::Method::GET,
        &base,
        "/api/v1/strategies/orderbook_skew/audit",
        None,
    )
    .await;
    assert_eq!(a["metadata"]["count"], 2);
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the same process served throughout"
    );
}

/// Starts the binary on `db` and returns (exit code, stderr).
fn start_on(db: &std::path::Path) -> (Option<i32>, String) {
    let out = host_command(&db.display().to_string(), free_port())
        .env("LOG_LEVEL", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_corrupt_store_file_stops_the_start_with_one_line_naming_it_and_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    // Not a store at all.
    let garbage = dir.path().join("garbage.redb");
    let bytes: Vec<u8> = (0..65_536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    // A real store cut short (a half-copied backup, a full disk during a copy).
    let truncated = dir.path().join("truncated.redb");
    {
        let store = realtime_strategies::config::embedded::EmbeddedStore::open(&truncated).unwrap();
        drop(store);
    }
    let len = std::fs::metadata(&truncated).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    for file in [&garbage, &truncated] {
        let started = Instant::now();
        let (code, stderr) = start_on(file);
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(code, Some(1), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        let line = lines[0];
        assert!(line.contains(&file.display().to_string()), "{line}");
        assert!(line.contains("corrupt"), "{line}");
        assert!(line.contains("move it aside"), "{line}");
        assert!(line.contains("backup"), "{line}");
    }
}
