//! `rs-load receive` against a real nats-server: the plain subscriber counts exactly what a paced
//! `throughput --publish-only` run sends, and reports a CPU figure per message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::NatsServer;

const RS_LOAD: &str = env!("CARGO_BIN_EXE_rs-load");

#[test]
fn receive_counts_every_message_a_paced_publisher_sends() {
    let nats = NatsServer::start();
    let out = std::env::temp_dir().join(format!("rs-load-receive-{}.out", nats.port));
    let mut receiver = Command::new(RS_LOAD)
        .args(["receive", "--nats-url", &nats.url(), "--count", "3000"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("subscribed")
    {
        assert!(
            Instant::now() < deadline,
            "rs-load receive never subscribed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let publisher = Command::new(RS_LOAD)
        .args(["throughput", "--publish-only", "--nats-url", &nats.url()])
        .args(["--count", "3000", "--rate", "20000", "--symbols", "10"])
        .output()
        .unwrap();
    assert!(publisher.status.success(), "{publisher:?}");
    let published = String::from_utf8_lossy(&publisher.stdout);
    assert!(published.starts_with("published 3000 in "), "{published}");

    assert!(receiver.wait().unwrap().success());
    let report = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let line = report.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("plain subscriber: received 3000/3000; CPU "),
        "{report}"
    );
    let per_message: f64 = line
        .rsplit("= ")
        .next()
        .and_then(|s| s.strip_suffix(" us per message"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no per-message figure in {line:?}"));
    assert!(per_message.is_finite() && per_message >= 0.0, "{line}");
}
