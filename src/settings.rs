//! Every environment variable the host reads (the original's names where it had them), with defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Most processing threads one host runs (`PROCESSING_THREADS` above it stops the start).
pub const MAX_PROCESSING_THREADS: usize = 256;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for Kubernetes log pipelines).
    Json,
}

/// Host settings, from the environment (or the equivalent command-line flags; `--help` lists them).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "realtime-strategies",
    version,
    about = "Real-time trading strategy host"
)]
pub struct Settings {
    /// NATS server URL. Unset: standalone mode, replaying the bundled recording.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Subject carrying the socket client's market data envelopes.
    #[arg(
        long,
        env = "NATS_CONSUMER_TOPIC",
        default_value = "binance.websocket.data"
    )]
    pub nats_consumer_topic: String,
    /// Queue group (queue-group mode only).
    #[arg(
        long,
        env = "NATS_CONSUMER_GROUP",
        default_value = "realtime-strategies-group"
    )]
    pub nats_consumer_group: String,
    /// Client name announced to NATS.
    #[arg(
        long,
        env = "NATS_CONSUMER_NAME",
        default_value = "realtime-strategies-consumer"
    )]
    pub nats_consumer_name: String,
    /// Subject prefix of published signals; the strategy id is appended.
    #[arg(long, env = "NATS_TOPIC_INTENTS", default_value = "cio.intent.trading")]
    pub nats_topic_intents: String,
    /// Subscription buffer in messages; a full buffer drops messages (counted as slow-consumer drops).
    #[arg(long, env = "NATS_SUBSCRIPTION_CAPACITY", default_value_t = 65_536)]
    pub nats_subscription_capacity: usize,
    /// Number of symbol shards (replicas). 1 = queue-group mode (the original's).
    #[arg(long, env = "SHARD_COUNT", default_value_t = 1)]
    pub shard_count: u32,
    /// This replica's shard (0-based). Default: the ordinal at the end of `POD_NAME`/`HOSTNAME` (StatefulSet).
    #[arg(long, env = "SHARD_INDEX")]
    pub shard_index: Option<u32>,
    /// Processing threads inside this host, each owning a partition of the symbols (same stable hash as
    /// `SHARD_COUNT`); 0 = the available cores (at least 1).
    #[arg(long, env = "PROCESSING_THREADS", default_value_t = 0)]
    pub processing_threads: usize,
    /// Largest accepted message in bytes; larger ones are dropped and counted.
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 1_048_576)]
    pub max_message_bytes: usize,
    /// Largest accepted number of levels per book side.
    #[arg(long, env = "MAX_BOOK_LEVELS", default_value_t = 1000)]
    pub max_book_levels: usize,
    /// HTTP port of the APIs (health, metrics, configuration, market metrics).
    #[arg(long, env = "HEALTH_CHECK_PORT", default_value_t = 8080)]
    pub health_check_port: u16,
    /// HTTP bind address.
    #[arg(long, env = "HTTP_BIND", default_value = "0.0.0.0")]
    pub http_bind: String,
    /// Most live (SSE) streams open at once (`/api/v1/stream/*`); one more is answered 503.
    #[arg(long, env = "LIVE_MAX_CLIENTS", default_value_t = 100)]
    pub live_max_clients: usize,
    /// Seconds a client has to send a request's headers (from connecting, or between requests on a kept-alive
    /// connection) before the connection is closed.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    pub http_header_read_timeout_seconds: u64,
    /// Seconds without a byte read or written after which an HTTP connection is closed (live streams send at
    /// least every 15 s, so only clients that stopped reading are cut).
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub http_idle_timeout_seconds: u64,
    /// Deployment environment label.
    #[arg(long, env = "ENVIRONMENT", default_value = "production")]
    pub environment: String,
    /// Log level or tracing filter (e.g. `INFO`, `realtime_strategies=debug`).
    #[arg(long, env = "LOG_LEVEL", default_value = "INFO")]
    pub log_level: String,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Recording replayed in standalone mode (gzip or plain JSON lines); default: the bundled one.
    #[arg(long, env = "REPLAY_FILE")]
    pub replay_file: Option<PathBuf>,
    /// Replay speed factor (1 = recorded speed, 0 = as fast as possible).
    #[arg(long, env = "REPLAY_SPEED", default_value_t = 1.0)]
    pub replay_speed: f64,
    /// Replay the recording in a loop.
    #[arg(long, env = "REPLAY_LOOP", default_value_t = true, action = clap::ArgAction::Set)]
    pub replay_loop: bool,
    /// Print each signal as one JSON line on stdout (default: on in standalone mode).
    #[arg(long, env = "SIGNALS_TO_STDOUT")]
    pub signals_to_stdout: Option<bool>,
    /// Periodic heartbeat log with processing statistics.
    #[arg(long, env = "HEARTBEAT_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub heartbeat_enabled: bool,
    /// Heartbeat interval in seconds.
    #[arg(long, env = "HEARTBEAT_INTERVAL_SECONDS", default_value_t = 60)]
    pub heartbeat_interval_seconds: u64,
    /// MongoDB URI of the configuration store. Unset: the embedded store file (`CONFIG_DB_PATH`).
    #[arg(long, env = "MONGODB_URI")]
    pub mongodb_uri: Option<String>,
    /// MongoDB database of the configuration collections.
    #[arg(long, env = "MONGODB_DATABASE", default_value = "petrosa")]
    pub mongodb_database: String,
    /// Deadline of every MongoDB operation in ms (server selection and connect are capped at 2 s).
    #[arg(long, env = "MONGODB_TIMEOUT_MS", default_value_t = 5000)]
    pub mongodb_timeout_ms: u64,
    /// File of the embedded configuration store (used when `MONGODB_URI` is unset).
    #[arg(
        long,
        env = "CONFIG_DB_PATH",
        default_value = "./realtime-strategies-config.redb"
    )]
    pub config_db_path: PathBuf,
    /// Seconds between full reloads of the stored configuration (the original's cache TTL).
    #[arg(long, env = "CONFIG_CACHE_TTL_SECONDS", default_value_t = 60)]
    pub config_cache_ttl_seconds: u64,
    /// NATS subject of configuration change events between replicas.
    #[arg(
        long,
        env = "CONFIG_CHANGES_SUBJECT",
        default_value = "realtime-strategies.config.changed"
    )]
    pub config_changes_subject: String,
    /// How long a configuration write waits for the other replicas' acknowledgements (listed in its response).
    #[arg(long, env = "CONFIG_ACK_WAIT_MS", default_value_t = 1_000)]
    pub config_ack_wait_ms: u64,
    /// Token required by the configuration API's write endpoints (`Authorization: Bearer` or
    /// `X-Petrosa-Internal-Token`). Unset: writes are refused (401) unless
    /// `API_AUTH=disabled`, or the host runs a standalone replay. Set but empty: the start fails.
    #[arg(long, env = "API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// `disabled` opens the configuration API's writes without a token (explicit opt-out); `required` (default)
    /// refuses writes without `API_TOKEN`.
    #[arg(long, env = "API_AUTH", value_enum, default_value = "required")]
    pub api_auth: ApiAuth,
    /// Most symbols with state at once; messages of further new symbols are dropped (`reason="symbol_limit"`)
    /// until idle ones are freed. Symbols with a configuration override always have state.
    #[arg(long, env = "MAX_SYMBOLS", default_value_t = crate::runtime::admission::DEFAULT_MAX_SYMBOLS)]
    pub max_symbols: usize,
    /// Comma-separated symbols to process; others are dropped (`reason="symbol_not_allowed"`). Unset: all.
    #[arg(long, env = "SYMBOL_ALLOWLIST", value_delimiter = ',')]
    pub symbol_allowlist: Option<Vec<String>>,
    /// Seconds without a message after which a symbol's state is freed in every strategy and plugin (0 = never).
    #[arg(long, env = "SYMBOL_IDLE_SECONDS", default_value_t = crate::runtime::admission::DEFAULT_SYMBOL_IDLE_SECONDS)]
    pub symbol_idle_seconds: u64,
    /// Subscription buffer in bytes (with `NATS_SUBSCRIPTION_CAPACITY` messages); overflow is dropped
    /// (`reason="buffer_full"`).
    #[arg(long, env = "NATS_SUBSCRIPTION_MAX_BYTES", default_value_t = crate::runtime::input::DEFAULT_MAX_BYTES)]
    pub nats_subscription_max_bytes: usize,
    /// Live mode: signals whose event time is older than this many ms are not published (counted in
    /// `realtime_signals_dropped_total{reason="stale"}`); 0 turns the check off.
    #[arg(long, env = "SIGNAL_MAX_AGE_MS", default_value_t = 30_000)]
    pub signal_max_age_ms: i64,
    /// At shutdown, buffered input is processed for at most this many ms before signals are flushed.
    #[arg(long, env = "SHUTDOWN_DRAIN_MS", default_value_t = 5_000)]
    pub shutdown_drain_ms: u64,
    /// Live mode: messages dated more than this many ms ahead of the wall clock are dropped
    /// (`reason="future_timestamp"`); 0 turns the check off.
    #[arg(long, env = "MAX_CLOCK_SKEW_MS", default_value_t = crate::runtime::admission::DEFAULT_MAX_CLOCK_SKEW_MS)]
    pub max_clock_skew_ms: i64,
    /// Messages more than this many ms older than their symbol's latest event time are dropped
    /// (`reason="stale_timestamp"`), in every mode.
    #[arg(long, env = "MAX_EVENT_TIME_REGRESSION_MS", default_value_t = crate::runtime::admission::DEFAULT_MAX_REGRESSION_MS)]
    pub max_event_time_regression_ms: i64,
    /// NATS user name (with `NATS_PASSWORD`), instead of credentials in `NATS_URL`.
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password (with `NATS_USER`).
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// NATS authentication token.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// NATS credentials file (JWT + NKey seed, `.creds`).
    #[arg(long, env = "NATS_CREDS_FILE")]
    pub nats_creds_file: Option<PathBuf>,
    /// PEM file of CA certificates that sign the NATS server's certificate (turns TLS on).
    #[arg(long, env = "NATS_TLS_CA_FILE")]
    pub nats_tls_ca_file: Option<PathBuf>,
    /// Configuration changes per hour by one `changed_by` (0 = no limit).
    #[arg(long, env = "CONFIG_RATE_LIMIT_PER_AGENT", default_value_t = 10)]
    pub config_rate_limit_per_agent: u32,
    /// Seconds between two configuration changes by one `changed_by` (0 = none).
    #[arg(long, env = "CONFIG_RATE_LIMIT_COOLDOWN", default_value_t = 300)]
    pub config_rate_limit_cooldown: u64,
    /// Configuration changes per hour in total (0 = no limit).
    #[arg(long, env = "CONFIG_RATE_LIMIT_GLOBAL", default_value_t = 100)]
    pub config_rate_limit_global: u32,
    /// Add `strategy_revision_id` to every signal. Switch it on only after each strategy's characterization is
    /// stored: the decision service refuses signals whose revision has no characterization.
    #[arg(long, env = "SIGNAL_REVISION_ID", default_value_t = false, action = clap::ArgAction::Set)]
    pub signal_revision_id: bool,
    /// Publish health verdicts on NATS for the decision service (needs `NATS_URL`).
    #[arg(long, env = "HEALTH_VERDICT_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub health_verdict_enabled: bool,
    /// Subject of the health verdicts (`evaluator.<subsystem>.verdict`, read by the CIO from `evaluator.>`).
    #[arg(
        long,
        env = "HEALTH_VERDICT_SUBJECT",
        default_value = "evaluator.realtime-strategies.verdict"
    )]
    pub health_verdict_subject: String,
    /// Seconds between health verdicts (a change needs 3 equal consecutive judgements).
    #[arg(long, env = "HEALTH_VERDICT_INTERVAL_SECONDS", default_value_t = 30.0)]
    pub health_verdict_interval_seconds: f64,
    /// Seconds without a processed message after which the verdict is unhealthy.
    #[arg(
        long,
        env = "HEALTH_VERDICT_MAX_SILENCE_SECONDS",
        default_value_t = 60.0
    )]
    pub health_verdict_max_silence_seconds: f64,
    /// Consumer lag (wall clock minus event time) in seconds above which the verdict is unhealthy.
    #[arg(long, env = "HEALTH_VERDICT_MAX_LAG_SECONDS", default_value_t = 30.0)]
    pub health_verdict_max_lag_seconds: f64,
    /// Share of messages dropped in one interval above which the verdict is unhealthy.
    #[arg(long, env = "HEALTH_VERDICT_MAX_DROP_RATE", default_value_t = 0.05)]
    pub health_verdict_max_drop_rate: f64,
    /// Export traces over OTLP/gRPC (signals, configuration changes, external-feed calls).
    #[arg(long, env = "ENABLE_OTEL", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_otel: bool,
    /// OTLP/gRPC endpoint of the trace collector.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        default_value = "http://localhost:4317"
    )]
    pub otel_exporter_otlp_endpoint: String,
    /// Service name of the exported spans.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "realtime-strategies")]
    pub otel_service_name: String,
}

/// Whether the configuration API's writes need a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiAuth {
    /// Writes need `API_TOKEN` (refused with 401 when it is unset), except in standalone replay.
    Required,
    /// Writes are open (explicit opt-out).
    Disabled,
}

/// How the configuration API's writes are protected, as decided at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteAuth {
    /// `Authorization: Bearer <token>` is required.
    Token(String),
    /// Writes are open; the text says why (shown in the start log and `/info`).
    Open(&'static str),
    /// Writes are refused: no token is configured.
    Refused,
}

impl WriteAuth {
    /// Short name for `/info`.
    pub fn mode(&self) -> &'static str {
        match self {
            WriteAuth::Token(_) => "token",
            WriteAuth::Open(_) => "open",
            WriteAuth::Refused => "refused_no_token",
        }
    }
}

impl Settings {
    /// Settings from the process environment and arguments.
    pub fn from_env() -> Self {
        Self::parse()
    }

    /// Settings from the environment only (ignores command-line arguments; used by tests and embedding).
    pub fn from_env_only() -> Result<Self, clap::Error> {
        Self::try_parse_from(["realtime-strategies"])
    }

    /// Settings from explicit arguments (first item is the program name); panics with clap's message on error.
    pub fn from_args<I, T>(args: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(args).unwrap_or_else(|e| panic!("invalid settings: {e}"))
    }

    /// The HTTP listen address.
    pub fn http_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        format!("{}:{}", self.http_bind, self.health_check_port).parse()
    }

    /// The shard this replica owns, when sharding is on (`SHARD_COUNT` > 1).
    pub fn shard(&self) -> Result<Option<(u32, u32)>, String> {
        if self.shard_count <= 1 {
            return Ok(None);
        }
        let index = match self.shard_index {
            Some(i) => i,
            None => ["POD_NAME", "HOSTNAME"]
                .iter()
                .filter_map(|v| std::env::var(v).ok())
                .find_map(|name| name.rsplit('-').next()?.parse::<u32>().ok())
                .ok_or("SHARD_COUNT > 1 needs SHARD_INDEX or a StatefulSet pod name ending in -<ordinal>")?,
        };
        if index >= self.shard_count {
            return Err(format!(
                "SHARD_INDEX {index} must be below SHARD_COUNT {}",
                self.shard_count
            ));
        }
        Ok(Some((index, self.shard_count)))
    }

    /// Processing threads to run: `PROCESSING_THREADS`, or the available cores when 0 (at least 1, at most
    /// [`MAX_PROCESSING_THREADS`]).
    pub fn processing_threads(&self) -> usize {
        let n = match self.processing_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        n.clamp(1, MAX_PROCESSING_THREADS)
    }

    /// Checks the settings that must stop the start when wrong (each error names the variable and the fix).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.nats_url {
            if url.trim().is_empty() {
                return Err("NATS_URL is set but empty: set it to the NATS server (nats://host:4222) or unset it \
                            for standalone replay mode"
                    .into());
            }
        }
        if self
            .api_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err("API_TOKEN is set but empty: set a token, or unset it (writes are then refused unless \
                        API_AUTH=disabled)"
                .into());
        }
        if !self.replay_speed.is_finite() || self.replay_speed < 0.0 {
            return Err(format!(
                "REPLAY_SPEED must be a finite number >= 0 (0 = as fast as possible), got {}",
                self.replay_speed
            ));
        }
        if self.processing_threads > MAX_PROCESSING_THREADS {
            return Err(format!(
                "PROCESSING_THREADS must be at most {MAX_PROCESSING_THREADS} (0 = the available cores), got {}",
                self.processing_threads
            ));
        }
        if self.nats_user.is_some() != self.nats_password.is_some() {
            return Err("NATS_USER and NATS_PASSWORD must be set together".into());
        }
        Ok(())
    }

    /// How configuration writes are protected: the token when set; open when `API_AUTH=disabled` or in standalone
    /// replay (nothing trades from a replay); refused otherwise.
    pub fn write_auth(&self) -> WriteAuth {
        match (&self.api_token, self.api_auth) {
            (Some(t), _) if !t.trim().is_empty() => WriteAuth::Token(t.clone()),
            (_, ApiAuth::Disabled) => WriteAuth::Open("API_AUTH=disabled"),
            _ if self.nats_url.is_none() => WriteAuth::Open("standalone replay without API_TOKEN"),
            _ => WriteAuth::Refused,
        }
    }

    /// `NATS_URL` with any password or token replaced by `***` (safe to show and log).
    pub fn nats_url_redacted(&self) -> Option<String> {
        self.nats_url.as_deref().map(redact_urls)
    }

    /// The configuration write rate limits.
    pub fn rate_limits(&self) -> crate::config::RateLimits {
        crate::config::RateLimits {
            per_agent: self.config_rate_limit_per_agent,
            cooldown_seconds: self.config_rate_limit_cooldown,
            global: self.config_rate_limit_global,
        }
    }

    /// The health verdict settings (durations clamped to sane minimums).
    pub fn verdict_config(&self) -> crate::verdict::VerdictConfig {
        let secs = |v: f64, min: f64| {
            std::time::Duration::from_secs_f64(if v.is_finite() { v.max(min) } else { min })
        };
        crate::verdict::VerdictConfig {
            subject: self.health_verdict_subject.clone(),
            interval: secs(self.health_verdict_interval_seconds, 0.05),
            max_silence: secs(self.health_verdict_max_silence_seconds, 0.1),
            max_lag: secs(self.health_verdict_max_lag_seconds, 0.1),
            max_drop_rate: self.health_verdict_max_drop_rate,
        }
    }

    /// Whether signals go to stdout.
    pub fn print_signals(&self) -> bool {
        self.signals_to_stdout.unwrap_or(self.nats_url.is_none())
    }
}

/// Replaces the secret part of the user info (`user:secret@` → `user:***@`, `token@` → `***@`) of every URL in a
/// comma-separated list, so URLs can be shown and logged.
pub fn redact_urls(urls: &str) -> String {
    // Split only where the next piece starts a new URL: a comma inside one URL (MongoDB host lists, a password)
    // stays part of it.
    let mut pieces: Vec<String> = Vec::new();
    for piece in urls.split(',') {
        match pieces.last_mut() {
            Some(last) if !piece.contains("://") => {
                last.push(',');
                last.push_str(piece);
            }
            _ => pieces.push(piece.to_owned()),
        }
    }
    pieces
        .iter()
        .map(|p| redact_url(p))
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        None => url.to_owned(),
        Some(at) => {
            let userinfo = &authority[..at];
            let host = &authority[at + 1..];
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            format!("{scheme}{shown}@{host}{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_urls("nats://u:secret@h:4222"), "nats://u:***@h:4222");
        assert_eq!(redact_urls("nats://tok@h:4222"), "nats://***@h:4222");
        assert_eq!(redact_urls("nats://h:4222"), "nats://h:4222");
        assert_eq!(
            redact_urls("mongodb://a:p,q@h1,h2/db"),
            "mongodb://a:***@h1,h2/db"
        );
        assert_eq!(
            redact_urls("mongodb://a:p@w@h1,h2/db?x=1"),
            "mongodb://a:***@h1,h2/db?x=1"
        );
        assert_eq!(
            redact_urls("nats://a:b@h1:1,nats://c:d@h2:2"),
            "nats://a:***@h1:1,nats://c:***@h2:2"
        );
    }
}
