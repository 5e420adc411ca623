//! The persistence contract of the configuration API: one trait, a MongoDB and an embedded implementation.
//!
//! A store keeps, per (strategy, symbol-or-global) key, the current override document and the audit trail of
//! every change. A change (set or delete) allocates the key's next version, writes the new state and its audit
//! record in one transaction, and returns both. Versions of a key strictly increase across sets *and* deletes, so
//! a deleted config can be restored and a version number always names one change.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A stored override: the original's `strategy_configs_global` / `strategy_configs_symbol` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigDoc {
    /// Strategy id.
    pub strategy_id: String,
    /// Upper-case symbol, `None` for the global override.
    pub symbol: Option<String>,
    /// The override's parameters (partial: only the fields it sets).
    pub parameters: Map<String, Value>,
    /// Version of this key (strictly increasing per key).
    pub version: u64,
    /// When the key was first created (ms since the epoch).
    pub created_at_ms: i64,
    /// When this version was written (ms since the epoch).
    pub updated_at_ms: i64,
    /// Who wrote this version.
    pub created_by: String,
    /// Free-form metadata (`changed_by`, `reason`).
    pub metadata: Map<String, Value>,
}

/// One audit record: the original's `strategy_config_audit` document, plus the version it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Record id (MongoDB ObjectId hex, or the embedded store's sequence number).
    pub id: String,
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `None` for global.
    pub symbol: Option<String>,
    /// `CREATE`, `UPDATE` or `DELETE` (the original's actions).
    pub action: String,
    /// What produced it: `set`, `delete`, `rollback` or `restore`.
    pub operation: String,
    /// Parameters before the change (`None` if the key did not exist).
    pub old_parameters: Option<Map<String, Value>>,
    /// Version before the change (`None` if the key did not exist).
    pub old_version: Option<u64>,
    /// Parameters after the change (`None` for a delete).
    pub new_parameters: Option<Map<String, Value>>,
    /// Version of this change.
    pub version: u64,
    /// Who made it.
    pub changed_by: String,
    /// When (ms since the epoch).
    pub changed_at_ms: i64,
    /// Why.
    pub reason: Option<String>,
}

/// What a change does to its key.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Store these parameters as the key's override (replacing the previous one).
    Set(Map<String, Value>),
    /// Remove the key's override.
    Delete,
}

/// A change to apply atomically.
#[derive(Debug, Clone)]
pub struct Change {
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `None` for global.
    pub symbol: Option<String>,
    /// The mutation.
    pub mutation: Mutation,
    /// Who.
    pub changed_by: String,
    /// Why.
    pub reason: Option<String>,
    /// `set`, `delete`, `rollback` or `restore`.
    pub operation: &'static str,
}

/// The result of an applied change.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The key's document after the change (`None` after a delete).
    pub doc: Option<ConfigDoc>,
    /// The audit record written with it.
    pub audit: AuditRecord,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing database cannot be reached or timed out.
    #[error("configuration store unavailable: {0}")]
    Unavailable(String),
    /// A delete of a key that has no override.
    #[error("no configuration stored for {0}")]
    NothingToDelete(String),
    /// Anything else (corrupt document, unexpected server answer).
    #[error("configuration store error: {0}")]
    Other(String),
}

/// All overrides of one strategy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrategyDocs {
    /// Global override.
    pub global: Option<ConfigDoc>,
    /// Symbol overrides, by symbol.
    pub symbols: std::collections::BTreeMap<String, ConfigDoc>,
}

/// Persistence of overrides and their audit trail.
#[async_trait::async_trait]
pub trait ConfigStore: Send + Sync {
    /// `mongodb` or `embedded`.
    fn kind(&self) -> &'static str;
    /// Where it is (database name or file path), for `/info`.
    fn location(&self) -> String;
    /// Creates indexes / tables; cheap to call again.
    async fn init(&self) -> Result<(), StoreError>;
    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Every stored override of every strategy, by strategy id.
    async fn load_all(
        &self,
    ) -> Result<std::collections::BTreeMap<String, StrategyDocs>, StoreError>;
    /// The overrides of one strategy.
    async fn load_strategy(&self, strategy_id: &str) -> Result<StrategyDocs, StoreError>;
    /// Applies a change and writes its audit record, atomically.
    async fn apply(&self, change: Change) -> Result<Applied, StoreError>;
    /// Audit records of a strategy (optionally one key: `Some(None)` = global only, `Some(Some(s))` = symbol s),
    /// newest first.
    async fn audit(
        &self,
        strategy_id: &str,
        key: Option<Option<&str>>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// One audit record by id.
    async fn audit_by_id(&self, id: &str) -> Result<Option<AuditRecord>, StoreError>;
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// ISO-8601 UTC text of a millisecond timestamp.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The audit action of a change given the previous state.
pub fn action_of(mutation: &Mutation, existed: bool) -> &'static str {
    match (mutation, existed) {
        (Mutation::Delete, _) => "DELETE",
        (Mutation::Set(_), true) => "UPDATE",
        (Mutation::Set(_), false) => "CREATE",
    }
}

/// A readable name of a key for messages.
pub fn key_name(strategy_id: &str, symbol: Option<&str>) -> String {
    match symbol {
        Some(s) => format!("{strategy_id}/{s}"),
        None => format!("{strategy_id} (global)"),
    }
}
