//! Logging set-up (tracing).

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

/// Installs the global tracing subscriber. Safe to call twice (the second call is ignored).
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(settings.log_level.to_ascii_lowercase())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
