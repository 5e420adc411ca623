//! Entry point: with no subcommand, settings → telemetry → host → serve until SIGTERM/SIGINT; `evaluate` and
//! `record` are offline tools sharing the same settings and processing path.

use clap::Parser;
use realtime_strategies::cli::{Cli, Command};
use realtime_strategies::evaluate::run::Limits;
use realtime_strategies::{evaluate, host, record, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = cli.settings;
    match cli.command {
        None => {
            telemetry::init(&settings);
            let result = host::run(settings).await;
            telemetry::shutdown();
            match result {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "realtime-strategies failed");
                    eprintln!("realtime-strategies: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Some(Command::Evaluate(args)) => {
            let limits = Limits {
                max_message_bytes: settings.max_message_bytes,
                max_book_levels: settings.max_book_levels,
                max_event_time_regression_ms: settings.max_event_time_regression_ms,
            };
            let env = |name: &str| std::env::var(name).ok();
            match evaluate::command(&args, limits, &env) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("realtime-strategies evaluate: {e}");
                    std::process::ExitCode::from(2)
                }
            }
        }
        Some(Command::K8sConfigmap) => match realtime_strategies::registry::Registry::load() {
            Ok(registry) => {
                print!("{}", realtime_strategies::k8s_configmap::render(&registry));
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("realtime-strategies k8s-configmap: {e}");
                std::process::ExitCode::from(2)
            }
        },
        Some(Command::Record(args)) => {
            match record::run(
                settings.nats_url.as_deref(),
                &settings.nats_consumer_topic,
                &args,
            )
            .await
            {
                Ok(_) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("realtime-strategies record: {e}");
                    std::process::ExitCode::from(2)
                }
            }
        }
    }
}
