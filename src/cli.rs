//! The command line: with no subcommand the binary runs the service (settings from the environment or the
//! equivalent flags); `evaluate` scores strategies on recordings; `record` writes a recording from NATS; `k8s-configmap` prints the strategies' ConfigMap.

use clap::{Parser, Subcommand};

use crate::evaluate::EvaluateArgs;
use crate::record::RecordArgs;
use crate::settings::Settings;

/// `realtime-strategies [SERVICE FLAGS] [COMMAND]`.
#[derive(Debug, Parser)]
#[command(
    name = "realtime-strategies",
    version,
    about = "Real-time trading strategy host",
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// What to do; none = run the service.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Service settings (also read by the subcommands: decoder limits, NATS).
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay recordings through the strategies and score every signal against what the market did next.
    Evaluate(EvaluateArgs),
    /// Subscribe to the market data subject and write every message into a gzip JSON-lines recording.
    Record(RecordArgs),
    /// Print the Kubernetes ConfigMap of every strategy's environment variables with their defaults
    /// (`k8s/base/configmap-strategies.yaml`).
    K8sConfigmap,
}
