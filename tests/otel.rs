//! OpenTelemetry export: a minimal OTLP/gRPC trace receiver (the collector's `TraceService`) on a loopback port, a
//! host with `ENABLE_OTEL=true` pointed at it and a real nats-server. Market data carrying a `traceparent` makes
//! signals whose spans arrive as children of that trace, with strategy, symbol, action and config version; a
//! configuration change arrives as its own span; the published signal hands the trace on.
//! (Its own test binary: the tracing subscriber and the exporter are process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{depth_lines, env_of, free_port, settings, NatsServer, TestHost};
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Received spans with their resource's service name.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                let mut all = self.0.lock();
                all.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.clone())
        .map(|v| match v {
            AnyValue::StringValue(s) => s,
            AnyValue::IntValue(i) => i.to_string(),
            AnyValue::DoubleValue(d) => d.to_string(),
            AnyValue::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        })
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn spans_of_signals_and_config_changes_arrive_with_their_parent() {
    let receiver = Receiver::default();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve(addr),
    );
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let nats = NatsServer::start();
    let url = nats.url();
    let endpoint = format!("http://127.0.0.1:{port}");
    let s = settings(&[
        "--nats-url",
        &url,
        "--signals-to-stdout",
        "false",
        "--enable-otel",
        "true",
        "--otel-exporter-otlp-endpoint",
        &endpoint,
        "--otel-service-name",
        "realtime-strategies-test",
    ]);
    realtime_strategies::telemetry::init(&s);
    assert!(realtime_strategies::telemetry::otel_enabled());
    let h = TestHost::start(s, env_of(&[])).await;
    h.wait_ready(10).await;

    let client = async_nats::connect(url).await.unwrap();
    let mut signals = client
        .subscribe("cio.intent.trading.orderbook_skew")
        .await
        .unwrap();
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A configuration change (a span of its own).
    let (status, body) = h
        .post_json(
            "/api/v1/strategies/orderbook_skew/config",
            json!({"parameters": {"buy_threshold": 1.25}, "changed_by": "otel-test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Market data carrying a sampled traceparent.
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    for line in depth_lines(200) {
        let mut v: Value = serde_json::from_str(&line).unwrap();
        v["_otel_trace_context"] = json!({ "traceparent": traceparent });
        client
            .publish("binance.websocket.data", v.to_string().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), signals.next())
        .await
        .expect("a signal")
        .unwrap();
    let published: Value = serde_json::from_slice(&first.payload).unwrap();
    // The signal hands the trace on: same trace, the signal span as parent.
    let handed = published["_otel_trace_context"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(handed.starts_with(&format!("00-{TRACE_ID}-")), "{handed}");
    assert!(!handed.contains(PARENT_ID), "{handed}");

    // Spans arrive at the receiver.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (signal_span, config_span) = loop {
        realtime_strategies::telemetry::flush();
        let spans = receiver.0.lock().clone();
        let signal = spans
            .iter()
            .find(|(_, s)| s.name == "signal.publish")
            .cloned();
        let config = spans
            .iter()
            .find(|(_, s)| s.name == "config.change")
            .cloned();
        if let (Some(a), Some(b)) = (signal, config) {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "spans not received: {:?}",
            spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (service, span) = signal_span;
    assert_eq!(service, "realtime-strategies-test");
    assert_eq!(
        hex(&span.trace_id),
        TRACE_ID,
        "same trace as the market data"
    );
    assert_eq!(
        hex(&span.parent_span_id),
        PARENT_ID,
        "child of the incoming span"
    );
    assert_eq!(attr(&span, "strategy").as_deref(), Some("orderbook_skew"));
    assert!(attr(&span, "symbol").is_some_and(|s| s.ends_with("USDT")));
    assert!(matches!(
        attr(&span, "action").as_deref(),
        Some("buy" | "sell")
    ));
    assert_eq!(attr(&span, "config_version").as_deref(), Some("1"));
    assert!(
        handed.contains(&hex(&span.span_id))
            || receiver
                .0
                .lock()
                .iter()
                .any(|(_, s)| s.name == "signal.publish" && handed.contains(&hex(&s.span_id)))
    );
    let (_, span) = config_span;
    assert_eq!(attr(&span, "strategy").as_deref(), Some("orderbook_skew"));
    assert_eq!(attr(&span, "changed_by").as_deref(), Some("otel-test"));
    assert!(span.parent_span_id.is_empty(), "a root span");

    h.shutdown().await;
    server.abort();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
