//! The Grafana dashboard queries only metrics the host exports (and the PromQL name extraction it relies on).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod k8s_support;

use k8s_support::*;

#[test]
fn promql_name_extraction_understands_the_syntax_used() {
    let names = promql_metric_names(
        r#"histogram_quantile(0.99, sum by (le, message_type) (rate(realtime_message_processing_latency_seconds_bucket{job=~"$job", x="a(b)"}[$__rate_interval])))"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["realtime_message_processing_latency_seconds_bucket".to_owned()])
    );
    let names = promql_metric_names(
        "sum(rate(a_total[5m])) / ignoring(x) group_left sum(b) * 100 + c offset 5m",
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_total".to_owned(), "b".to_owned(), "c".to_owned()])
    );
}

#[test]
fn dashboard_queries_only_metrics_the_host_exports() {
    let text = std::fs::read_to_string(root().join(DASHBOARD)).unwrap();
    let dashboard: Json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "no panels"
    );
    let exported = exported_metric_names();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, "", &mut exprs);
    assert!(
        exprs.len() >= 8,
        "expected at least 8 queries, found {}",
        exprs.len()
    );
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (path, expr) in &exprs {
        let names = promql_metric_names(expr);
        if names.is_empty() {
            problems.push(format!("{path}: `{expr}` references no metric"));
        }
        for n in names {
            if !exported.contains(&n) && !PENDING_METRICS.contains(&n.as_str()) {
                problems.push(format!(
                    "{path}: `{n}` is not exported by the host (query `{expr}`)"
                ));
            }
            used.insert(n);
        }
    }
    for required in [
        "realtime_messages_processed_total",
        "realtime_messages_dropped_total",
        "realtime_nats_slow_consumer_total",
        "realtime_message_processing_latency_seconds_bucket",
        "realtime_signal_latency_seconds_bucket",
        "realtime_signals_published_total",
        "memory_usage_bytes",
        "realtime_nats_connected",
    ] {
        if !used.contains(required) {
            problems.push(format!("no panel queries `{required}`"));
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems ({} metric families exported: {exported:?}):\n{}",
        exported.len(),
        problems.join("\n")
    );
}
