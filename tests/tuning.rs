//! Tuning on evidence while the host runs: shadow parameter sets (scored, never published, stored), promotion
//! through the audited config path, guarded changes rolled back when the live scorecard breaks their safeguard,
//! and replicas acknowledging the config version they apply. Real nats-server, real HTTP, the embedded store and
//! the MongoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_of, settings, NatsServer, TestHost};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

const TOKEN: &str = "tuning-token";
const SKEW: &str = "/api/v1/strategies/orderbook_skew";

/// Publishes the recording's depth lines in a loop (event times shifted forward an hour each round) until stopped.
fn spawn_feeder(client: async_nats::Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    spawn_feeder_every(client, stop, 3_600_000)
}

/// [`spawn_feeder`] shifting each round by `step_ms` of event time.
fn spawn_feeder_every(
    client: async_nats::Client,
    stop: Arc<AtomicBool>,
    step_ms: i64,
) -> tokio::task::JoinHandle<()> {
    common::spawn_depth_feeder(client, stop, step_ms, Duration::from_millis(1))
}

fn nats_settings(url: &str, db: &str) -> realtime_strategies::settings::Settings {
    settings(&[
        "--nats-url",
        url,
        "--signals-to-stdout",
        "false",
        "--api-token",
        TOKEN,
        "--config-db-path",
        db,
    ])
}

async fn shadow_signals(h: &TestHost, name: &str) -> f64 {
    let (_, text) = h.get_text("/metrics").await;
    common::metric(
        &text,
        "realtime_shadow_signals_total",
        &format!("shadow=\"{name}\",strategy_id=\"orderbook_skew\""),
    )
}

async fn wait_for<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadows_are_scored_never_published_survive_restarts_and_promote_through_the_audit() {
    let nats = NatsServer::start();
    let url = nats.url();
    let db = common::fresh_config_db();
    let h = TestHost::start(nats_settings(&url, &db), env_of(&[])).await;
    h.wait_ready(10).await;
    let shadows = format!("{SKEW}/shadows");
    let post = Method::POST;

    // The live set publishes nothing (disabled); a shadow without a minimum interval fires on every skewed book.
    let (s, b) = h
        .send(
            post.clone(),
            &format!("{SKEW}/config"),
            Some(json!({"parameters": {"enabled": false}, "changed_by": "test"})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let fast = json!({"name": "fast", "parameters": {"min_signal_interval_seconds": 0}, "changed_by": "quant"});
    // Writes need the token.
    let (s, b) = h
        .send(post.clone(), &shadows, Some(fast.clone()), None)
        .await;
    assert_eq!(s, 401, "{b}");
    // Bad fields are named with their rule.
    let (s, b) = h
        .send(
            post.clone(),
            &shadows,
            Some(json!({"name": "bad", "parameters": {"buy_threshold": 9}, "changed_by": "quant"})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(b.to_string().contains("/parameters/buy_threshold"), "{b}");
    let (s, b) = h
        .send(
            post.clone(),
            &shadows,
            Some(json!({"name": "Bad Name", "parameters": {"buy_threshold": 1.5}, "changed_by": "quant"})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(b.to_string().contains("/name"), "{b}");
    let (s, b) = h
        .send(post.clone(), &shadows, Some(fast.clone()), Some(TOKEN))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["data"]["effective_parameters"]["min_signal_interval_seconds"],
        0.0
    );
    assert_eq!(b["data"]["effective_parameters"]["buy_threshold"], 1.2);
    let (s, _) = h
        .send(post.clone(), &shadows, Some(fast.clone()), Some(TOKEN))
        .await;
    assert_eq!(s, 409, "a taken name is a conflict");
    // At most 8 per strategy.
    for i in 1..8 {
        let (s, b) = h
            .send(
                post.clone(),
                &shadows,
                Some(json!({"name": format!("s{i}"), "parameters": {"buy_threshold": 1.2 + f64::from(i) / 10.0}, "changed_by": "quant", "symbols": ["btcusdt"]})),
                Some(TOKEN),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = h
        .send(
            post.clone(),
            &shadows,
            Some(json!({"name": "ninth", "parameters": {"buy_threshold": 2.5}, "changed_by": "quant"})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["success"], false);
    assert!(b["error"]["message"].as_str().unwrap().contains('8'), "{b}");

    // Feed the recording; nothing may reach the CIO's subjects, while the shadow signals and is scored.
    let client = async_nats::connect(&url).await.unwrap();
    let mut cio = client.subscribe("cio.intent.trading.>").await.unwrap();
    client.flush().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = spawn_feeder(client.clone(), stop.clone());
    wait_for("shadow signals", 60, || async {
        shadow_signals(&h, "fast").await >= 20.0
    })
    .await;
    // The live stream shows shadow signals tagged as such.
    let mut stream = reqwest::get(h.url("/api/v1/stream/signals")).await.unwrap();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text.contains("\"shadow\":\"fast\"") {
        assert!(
            Instant::now() < deadline,
            "no tagged shadow signal on the live stream: {text}"
        );
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_secs(1), stream.chunk()).await
        {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    drop(stream);
    // A change of the live set: the shadow keeps running (and follows the live parameters it does not override).
    let (s, b) = h
        .send(
            post.clone(),
            &format!("{SKEW}/config"),
            Some(json!({"parameters": {"top_levels": 10}, "changed_by": "test"})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let before = shadow_signals(&h, "fast").await;
    wait_for("shadow signals after a live change", 60, || async {
        shadow_signals(&h, "fast").await > before + 10.0
    })
    .await;
    let (s, listed) = h.get_json(&format!("{shadows}?window=24h")).await;
    assert_eq!(s, 200, "{listed}");
    let list = listed["data"]["shadows"].as_array().unwrap();
    assert_eq!(list.len(), 8);
    let fast_row = list.iter().find(|r| r["name"] == "fast").unwrap();
    assert_eq!(
        fast_row["effective_parameters"]["top_levels"], 10,
        "{fast_row}"
    );
    let scored: u64 = fast_row["performance"]["horizons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["n"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(scored > 0, "the shadow's signals are scored: {fast_row}");
    assert_eq!(fast_row["performance"]["shadow"], "fast");
    assert!(fast_row["comparison"]["summary"]
        .as_str()
        .unwrap()
        .contains("shadow fast"));
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.await;
    // Other strategies publish; the (disabled) live orderbook_skew and its shadows never do.
    let mut seen = 0;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), cio.next()).await {
        seen += 1;
        let body: Value = serde_json::from_slice(&msg.payload).unwrap();
        assert_ne!(body["strategy_id"], "orderbook_skew", "{body}");
        assert!(body.get("shadow").is_none(), "{body}");
        assert_ne!(msg.subject.as_str(), "cio.intent.trading.orderbook_skew");
    }
    assert!(
        seen > 0,
        "the other strategies publish on the same feed (the subscription works)"
    );

    // A deleted shadow is gone; the others survive a restart of the host (stored).
    let (s, _) = h
        .send(Method::DELETE, &format!("{shadows}/s7"), None, Some(TOKEN))
        .await;
    assert_eq!(s, 200);
    let (s, _) = h
        .send(Method::DELETE, &format!("{shadows}/s7"), None, Some(TOKEN))
        .await;
    assert_eq!(s, 404);
    h.shutdown().await;
    let h = TestHost::start(nats_settings(&url, &db), env_of(&[])).await;
    h.wait_ready(10).await;
    wait_for("stored shadows after a restart", 15, || async {
        let (_, b) = h.get_json(&shadows).await;
        b["data"]["shadows"]
            .as_array()
            .is_some_and(|l| l.len() == 7)
    })
    .await;
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(common::metric(&text, "realtime_shadows_running", ""), 7.0);

    // Promote: the shadow's parameters go through the audited path with the comparison as the reason.
    let (s, b) = h
        .send(
            post.clone(),
            &format!("{shadows}/fast/promote"),
            Some(json!({"changed_by": "quant", "reason": "faster"})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["metadata"]["action"], "promoted");
    let (_, cfg) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(
        cfg["data"]["parameters"]["min_signal_interval_seconds"],
        0.0
    );
    assert_eq!(
        cfg["data"]["parameters"]["top_levels"], 10,
        "a merge, not a replace"
    );
    let (_, audit) = h.get_json(&format!("{SKEW}/audit?limit=1")).await;
    let reason = audit["data"][0]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.starts_with("faster — promote shadow fast"),
        "{reason}"
    );
    let (_, b) = h.get_json(&shadows).await;
    assert_eq!(
        b["data"]["shadows"].as_array().unwrap().len(),
        6,
        "promoted shadow removed"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_breaks_its_safeguard_is_rolled_back_through_the_audit() {
    // A replay at 5x: event time runs, the scorecard fills; the bad change removes the minimum interval.
    let h = TestHost::start(
        settings(&["--replay-speed", "5", "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // An invalid safeguard is refused naming the field.
    let (s, b) = h
        .post_json(
            &format!("{SKEW}/config"),
            json!({"parameters": {"min_signal_interval_seconds": 0}, "changed_by": "quant",
                   "safeguard": {"min_hit_rate": 0.5, "horizon": "7s"}}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(b.to_string().contains("/safeguard/horizon"), "{b}");
    let (s, b) = h
        .post_json(
            &format!("{SKEW}/config"),
            json!({"parameters": {"min_signal_interval_seconds": 0}, "changed_by": "quant", "reason": "more signals",
                   "safeguard": {"max_signals_per_hour": 20, "min_hit_rate": 0.45, "horizon": "60s", "after_signals": 50}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let version = b["metadata"]["version"].as_u64().unwrap();
    assert_eq!(b["metadata"]["safeguard"]["state"], "watching");
    wait_for("the safeguard to roll the change back", 60, || async {
        let (_, g) = h.get_json("/api/v1/safeguards").await;
        g["data"][0]["state"] == "rolled_back"
    })
    .await;
    let (_, g) = h.get_json("/api/v1/safeguards").await;
    let guard = &g["data"][0];
    assert_eq!(guard["version"], version);
    assert!(guard["published"].as_u64().unwrap() > 20, "{guard}");
    assert!(
        guard["detail"]
            .as_str()
            .unwrap()
            .contains("max_signals_per_hour 20"),
        "{guard}"
    );
    // The audit names the safeguard and the measured values; the key is back to its state before the change.
    let (_, audit) = h.get_json(&format!("{SKEW}/audit?limit=1")).await;
    let rec = &audit["data"][0];
    assert_eq!(rec["changed_by"], "safeguard", "{rec}");
    let reason = rec["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("change v{version}")), "{reason}");
    assert!(reason.contains("signals in"), "{reason}");
    assert!(reason.contains("\"max_signals_per_hour\":20"), "{reason}");
    let (_, cfg) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(
        cfg["data"]["parameters"]["min_signal_interval_seconds"], 75.0,
        "{cfg}"
    );
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(
        common::metric(
            &text,
            "realtime_safeguard_rollbacks_total",
            "strategy_id=\"orderbook_skew\""
        ),
        1.0
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_acknowledge_the_version_they_apply() {
    let Some(uri) = common::mongo_uri() else {
        return;
    };
    let nats = NatsServer::start();
    let url = nats.url();
    let db = format!("rs_test_{}", uuid::Uuid::new_v4().simple());
    let start = || async {
        let h = TestHost::start(
            settings(&[
                "--mongodb-uri",
                &uri,
                "--mongodb-database",
                &db,
                "--nats-url",
                &url,
                "--signals-to-stdout",
                "false",
            ]),
            env_of(&[]),
        )
        .await;
        h.wait_ready(10).await;
        h
    };
    let a = start().await;
    let b = start().await;
    let (_, info_a) = a.get_json("/info").await;
    let (_, info_b) = b.get_json("/info").await;
    let (id_a, id_b) = (
        info_a["replica"]["id"].as_str().unwrap().to_owned(),
        info_b["replica"]["id"].as_str().unwrap().to_owned(),
    );
    assert_ne!(id_a, id_b);
    // Each hears the other's periodic report.
    wait_for("replicas to know each other", 20, || async {
        let (_, r) = a.get_json("/api/v1/replicas").await;
        r["data"]["replicas"]
            .as_array()
            .is_some_and(|l| l.len() == 2)
    })
    .await;
    let (s, w) = a
        .post_json(
            &format!("{SKEW}/config"),
            json!({"parameters": {"buy_threshold": 1.4}, "changed_by": "ops"}),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let version = w["metadata"]["version"].as_u64().unwrap();
    let mut acked: Vec<String> = w["metadata"]["replicas"]["acknowledged_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    acked.sort();
    let mut both = vec![id_a.clone(), id_b.clone()];
    both.sort();
    assert_eq!(acked, both, "{w}");
    assert_eq!(w["metadata"]["replicas"]["all_acknowledged"], true);
    // Both report the version: /info, the gauge, and the replica list agrees.
    for h in [&a, &b] {
        let (_, info) = h.get_json("/info").await;
        assert_eq!(
            info["replica"]["config_versions_applied"]["orderbook_skew"]["global"],
            version
        );
        let (_, text) = h.get_text("/metrics").await;
        assert_eq!(
            common::metric(
                &text,
                "realtime_config_version_applied",
                "scope=\"global\",strategy_id=\"orderbook_skew\""
            ),
            version as f64
        );
    }
    wait_for("the replica list to agree", 20, || async {
        let (_, r) = b.get_json("/api/v1/replicas").await;
        r["data"]["all_replicas_same_version"] == true
            && r["data"]["replicas"]
                .as_array()
                .is_some_and(|l| l.len() == 2)
    })
    .await;
    b.shutdown().await;
    a.shutdown().await;
    if let Ok(c) = mongodb::Client::with_uri_str(&uri).await {
        let _ = c.database(&db).drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safeguard_rollback_is_named_in_the_health_verdict() {
    let nats = NatsServer::start();
    let url = nats.url();
    let db = common::fresh_config_db();
    let mut s = nats_settings(&url, &db);
    s.health_verdict_interval_seconds = 0.5;
    let h = TestHost::start(s, env_of(&[])).await;
    h.wait_ready(10).await;
    let client = async_nats::connect(&url).await.unwrap();
    let mut verdicts = client
        .subscribe("evaluator.realtime-strategies.verdict")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Event time runs on continuously (10 minutes per round of 400 books), so an hour passes in six rounds.
    let feeder = spawn_feeder_every(client.clone(), stop.clone(), 600_000);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // No minimum interval under a budget of 2 signals per hour: broken within moments of replayed event time.
    let (st, b) = h
        .send(
            Method::POST,
            &format!("{SKEW}/config"),
            Some(
                json!({"parameters": {"min_signal_interval_seconds": 0}, "changed_by": "quant",
                        "safeguard": {"max_signals_per_hour": 5}}),
            ),
            Some(TOKEN),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    wait_for("the rollback", 60, || async {
        let (_, g) = h.get_json("/api/v1/safeguards").await;
        g["data"][0]["state"] == "rolled_back"
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), verdicts.next())
            .await
            .expect("a verdict naming the rollback")
            .unwrap();
        let v: Value = serde_json::from_slice(&msg.payload).unwrap();
        if v["reason"]
            .as_str()
            .unwrap()
            .contains("safeguard rolled back orderbook_skew")
        {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.await;
    h.shutdown().await;
}
