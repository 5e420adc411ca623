//! Hardening of secrets and start-up checks against real servers: credentials never shown (NATS and MongoDB URLs),
//! NATS credentials outside the URL (user/password, token, TLS CA), an empty `NATS_URL` or `API_TOKEN` stops the
//! start, and configuration writes fail closed without a token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{env_of, free_port, settings, TestHost};
use realtime_strategies::host::Host;
use serde_json::json;

const SECRET: &str = "s3cr3t-Pa55";

/// A nats-server with extra arguments (auth, TLS), killed on drop.
struct AuthNats {
    child: Child,
    port: u16,
}

impl AuthNats {
    fn start(extra: &[&str]) -> Self {
        let port = free_port();
        let mut args = vec![
            "-a".to_owned(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let child = Command::new("/usr/sbin/nats-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (tests/run.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }
}

impl Drop for AuthNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the secret: {text}");
}

async fn start_err(args: &[&str]) -> String {
    match tokio::time::timeout(
        Duration::from_secs(10),
        Host::start_with_env(settings(args), env_of(&[])),
    )
    .await
    {
        Ok(Ok(_)) => panic!("host started with {args:?}"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => panic!("start with {args:?} neither failed nor finished within 10 s"),
    }
}

#[tokio::test]
async fn nats_credentials_in_the_url_are_never_shown() {
    let nats = AuthNats::start(&["--user", "rs", "--pass", SECRET]);
    let url = format!("nats://rs:{SECRET}@127.0.0.1:{}", nats.port);
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    for path in ["/info", "/ready", "/metrics", "/healthz"] {
        let (s, text) = h.get_text(path).await;
        assert!(s == 200, "{path}: {s}");
        assert_no_secret(path, &text);
    }
    let (_, info) = h.get_json("/info").await;
    assert_eq!(
        info["configuration"]["nats_url"],
        format!("nats://rs:***@127.0.0.1:{}", nats.port)
    );
    assert_eq!(info["source"]["detail"], info["configuration"]["nats_url"]);
    h.shutdown().await;
}

#[tokio::test]
async fn nats_user_password_and_token_outside_the_url() {
    let nats = AuthNats::start(&["--user", "rs", "--pass", SECRET]);
    let url = format!("nats://127.0.0.1:{}", nats.port);
    // Without credentials the server refuses the connection: the host does not become ready.
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, b) = h.get_json("/ready").await;
    assert_eq!(s, 503, "{b}");
    h.shutdown().await;
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--nats-user",
            "rs",
            "--nats-password",
            SECRET,
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    let (_, text) = h.get_text("/info").await;
    assert_no_secret("/info", &text);
    h.shutdown().await;

    let nats = AuthNats::start(&["--auth", SECRET]);
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--nats-token",
            SECRET,
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    let (_, text) = h.get_text("/info").await;
    assert_no_secret("/info", &text);
    h.shutdown().await;

    // A token in the URL is redacted too.
    let url = format!("nats://{SECRET}@127.0.0.1:{}", nats.port);
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    for path in ["/info", "/ready"] {
        let (_, text) = h.get_text(path).await;
        assert_no_secret(path, &text);
    }
    h.shutdown().await;
}

#[tokio::test]
async fn a_bad_creds_file_stops_the_start_naming_the_variable() {
    let nats = AuthNats::start(&[]);
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let missing = std::env::temp_dir().join("rs-no-such.creds");
    let e = start_err(&[
        "--nats-url",
        &url,
        "--nats-creds-file",
        missing.to_str().unwrap(),
    ])
    .await;
    assert!(e.contains("NATS_CREDS_FILE"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.creds");
    std::fs::write(&bad, format!("not a creds file {SECRET}")).unwrap();
    let e = start_err(&[
        "--nats-url",
        &url,
        "--nats-creds-file",
        bad.to_str().unwrap(),
    ])
    .await;
    assert!(e.contains("NATS_CREDS_FILE"), "{e}");
    assert_no_secret("start error", &e);
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn nats_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rs-test-ca",
        ],
        d,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        d,
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
        d,
    );
    let cert = d.join("server.pem");
    let key = d.join("server.key");
    let nats = AuthNats::start(&[
        "--tls",
        "--tlscert",
        cert.to_str().unwrap(),
        "--tlskey",
        key.to_str().unwrap(),
    ]);
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let ca = d.join("ca.pem");
    // Without the CA the server's certificate is not trusted: never ready.
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, _) = h.get_json("/ready").await;
    assert_eq!(s, 503);
    h.shutdown().await;
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--nats-tls-ca-file",
            ca.to_str().unwrap(),
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    h.shutdown().await;
}

#[tokio::test]
async fn mongodb_credentials_are_never_shown() {
    // A MongoDB URI with credentials to a port nobody listens on: the store is down, and its errors are shown.
    let uri = format!(
        "mongodb://rs:{SECRET}@127.0.0.1:{}/?serverSelectionTimeoutMS=500",
        free_port()
    );
    let h = TestHost::start(
        settings(&[
            "--mongodb-uri",
            &uri,
            "--mongodb-timeout-ms",
            "500",
            "--replay-speed",
            "0",
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = h.get_json("/ready").await;
        if b["config_store"]["last_error"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "store error never reported: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in ["/info", "/ready"] {
        let (_, text) = h.get_text(path).await;
        assert_no_secret(path, &text);
    }
    let (s, b) = h
        .post_json(
            "/api/v1/strategies/orderbook_skew/config",
            json!({"parameters": {"buy_threshold": 1.5}, "changed_by": "t"}),
        )
        .await;
    assert_eq!(s, 503, "{b}");
    assert_no_secret("503 body", &b.to_string());
    h.shutdown().await;
}

#[tokio::test]
async fn empty_nats_url_stops_the_start_with_a_clear_error() {
    let e = start_err(&["--nats-url", ""]).await;
    assert!(e.contains("NATS_URL is set but empty"), "{e}");
    let e = start_err(&["--nats-url", "  "]).await;
    assert!(e.contains("NATS_URL"), "{e}");
}

#[tokio::test]
async fn empty_api_token_stops_the_start() {
    let e = start_err(&["--api-token", ""]).await;
    assert!(e.contains("API_TOKEN is set but empty"), "{e}");
}

const CFG: &str = "/api/v1/strategies/orderbook_skew/config";

fn body() -> serde_json::Value {
    json!({"parameters": {"buy_threshold": 1.5}, "changed_by": "t"})
}

#[tokio::test]
async fn writes_fail_closed_without_a_token() {
    let nats = common::NatsServer::start();
    let url = nats.url();
    // NATS mode, no token, no opt-out: every write is refused with 401 naming the fix.
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--api-auth",
            "required",
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    let (s, b) = h.post_json(CFG, body()).await;
    assert_eq!(s, 401, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API_TOKEN is not set"),
        "{b}"
    );
    let (s, _) = h.delete_json(&format!("{CFG}?changed_by=t")).await;
    assert_eq!(s, 401);
    let (s, _) = h.get_json(CFG).await;
    assert_eq!(s, 200, "reads stay open");
    let (_, info) = h.get_json("/info").await;
    assert_eq!(
        info["configuration"]["api_auth"]["mode"],
        "refused_no_token"
    );
    h.shutdown().await;

    // The explicit opt-out opens writes, and /info says so.
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--api-auth",
            "disabled",
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    let (s, b) = h.post_json(CFG, body()).await;
    assert_eq!(s, 200, "{b}");
    let (_, info) = h.get_json("/info").await;
    assert_eq!(info["configuration"]["api_auth"]["mode"], "open");
    h.shutdown().await;

    // With a token: 401 without, 200 with.
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--api-token",
            SECRET,
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    let (s, _) = h.post_json(CFG, body()).await;
    assert_eq!(s, 401);
    let (s, b) = h
        .send(reqwest::Method::POST, CFG, Some(body()), Some(SECRET))
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, text) = h.get_text("/info").await;
    assert_no_secret("/info", &text);
    h.shutdown().await;
}

#[tokio::test]
async fn standalone_replay_without_a_token_says_writes_are_open() {
    let h = TestHost::start(
        settings(&[
            "--api-auth",
            "required",
            "--replay-speed",
            "0",
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    let (s, b) = h.post_json(CFG, body()).await;
    assert_eq!(s, 200, "{b}");
    let (_, info) = h.get_json("/info").await;
    assert_eq!(info["configuration"]["api_auth"]["mode"], "open");
    assert!(
        info["configuration"]["api_auth"]["writes"]
            .as_str()
            .unwrap()
            .contains("standalone replay"),
        "{info}"
    );
    h.shutdown().await;
}
