//! Logging (tracing) and OpenTelemetry trace export.
//!
//! With `ENABLE_OTEL=true` the host exports spans over OTLP/gRPC to `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4317`) as `OTEL_SERVICE_NAME` (the original's variables). Only spans with the target
//! [`OTEL_TARGET`] are exported: one per published signal (child of the market data message's `traceparent` when it
//! carried one), one per configuration change and one per external-feed call. Nothing is created per market data
//! message. Sampling is parent-based: an incoming `traceparent` that is not sampled is not sampled here either.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, Settings};

/// Target of the tracing spans that are exported over OTLP.
pub const OTEL_TARGET: &str = "otel";

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (creating them is skipped otherwise).
pub fn otel_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn provider(settings: &Settings) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.otel_exporter_otlp_endpoint.clone())
        .with_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(settings.otel_service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            crate::VERSION,
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource)
        .build())
}

/// Installs the global tracing subscriber (logs, plus the OTLP span exporter when `ENABLE_OTEL` is on). Call it
/// inside the tokio runtime. Safe to call twice (the second call is ignored).
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(settings.log_level.to_ascii_lowercase())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let otel = if settings.enable_otel && PROVIDER.get().is_none() {
        match provider(settings) {
            Ok(p) => {
                let tracer = p.tracer(crate::SERVICE_NAME);
                opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
                let _ = PROVIDER.set(p);
                ENABLED.store(true, Ordering::Relaxed);
                Some(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                            m.target() == OTEL_TARGET
                        })),
                )
            }
            Err(e) => {
                eprintln!("realtime-strategies: OpenTelemetry export not started: {e}");
                None
            }
        }
    } else {
        None
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match settings.log_format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(otel)
        .with(fmt.with_filter(filter))
        .try_init();
    if otel_enabled() {
        tracing::info!(
            endpoint = %settings.otel_exporter_otlp_endpoint,
            service = %settings.otel_service_name,
            "exporting traces over OTLP"
        );
    }
}

/// Exports every finished span now (tests, shutdown).
pub fn flush() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
    }
}

/// Flushes and stops the exporter (at process exit).
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
        let _ = p.shutdown();
    }
}

/// Makes `span` a child of a W3C `traceparent` (when it parses).
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::propagation::TextMapPropagator;
    let carrier: std::collections::HashMap<String, String> =
        [("traceparent".to_owned(), traceparent.to_owned())].into();
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The W3C `traceparent` of `span` (to hand the trace on with a published signal), when it is recorded.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}
