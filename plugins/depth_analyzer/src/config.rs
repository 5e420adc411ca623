//! The plugin's settings: symbol limit and expiry, and the environment variable that overrides the limit.

/// Default number of symbols tracked at once (the original was configured for 100).
pub const DEFAULT_MAX_SYMBOLS: usize = 1000;
/// Default time after which a symbol without depth update expires (5 minutes, as the original).
pub const DEFAULT_TTL_MS: i64 = 5 * 60 * 1000;
/// Environment variable overriding [`DEFAULT_MAX_SYMBOLS`] when the plugin is built by the registry.
pub const ENV_MAX_SYMBOLS: &str = "DEPTH_ANALYZER_MAX_SYMBOLS";
/// Plugin settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthAnalyzerConfig {
    /// Most symbols tracked at once; events of further symbols are ignored (and counted) until one expires.
    pub max_symbols: usize,
    /// A symbol whose last depth update is older than this (event time) is dropped at the next `tick`.
    pub ttl_ms: i64,
}

impl Default for DepthAnalyzerConfig {
    fn default() -> Self {
        Self {
            max_symbols: DEFAULT_MAX_SYMBOLS,
            ttl_ms: DEFAULT_TTL_MS,
        }
    }
}

impl DepthAnalyzerConfig {
    /// Defaults, with `max_symbols` from [`ENV_MAX_SYMBOLS`] when it is set to a positive integer.
    pub fn from_env() -> Self {
        let mut c = Self::default();
        if let Some(n) = std::env::var(ENV_MAX_SYMBOLS)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
        {
            c.max_symbols = n;
        }
        c
    }
}
