//! Entry point: settings → telemetry → host → serve until SIGTERM/SIGINT.

use realtime_strategies::{host, settings::Settings, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = Settings::from_env();
    telemetry::init(&settings);
    match host::run(settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "realtime-strategies failed");
            eprintln!("realtime-strategies: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
