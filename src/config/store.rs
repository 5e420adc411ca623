//! The persistence contract of the configuration API: one trait, a MongoDB and an embedded implementation.
//!
//! A store keeps, per (strategy, symbol-or-global) key, the current override document and the audit trail of
//! every change. A change (set or delete) allocates the key's next version, writes the new state and its audit
//! record in one transaction, and returns both. Versions of a key strictly increase across sets *and* deletes, so
//! a deleted config can be restored and a version number always names one change.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strategy_sdk::FieldError;

use crate::config::rate_limit::{Denied, RatePolicy};

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
    /// The calling service's `X-Petrosa-Issuer` header, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// Checks a complete override layer before it is stored (the schema and the strategy's rules).
pub type LayerCheck = Arc<dyn Fn(&Map<String, Value>) -> Result<(), Vec<FieldError>> + Send + Sync>;

/// What a change does to its key.
#[derive(Clone)]
pub enum Mutation {
    /// Store these parameters as the key's override (replacing the previous one).
    Set(Map<String, Value>),
    /// Merge these parameters into the key's stored override inside the change's transaction (RFC 7396: `null`
    /// removes a field), check the result with `check`, then store it; a result without fields deletes the key.
    Merge {
        /// The merge patch.
        patch: Map<String, Value>,
        /// Check of the merged layer.
        check: LayerCheck,
    },
    /// Remove the key's override.
    Delete,
}

impl std::fmt::Debug for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mutation::Set(p) => f.debug_tuple("Set").field(p).finish(),
            Mutation::Merge { patch, .. } => f.debug_struct("Merge").field("patch", patch).finish(),
            Mutation::Delete => f.write_str("Delete"),
        }
    }
}

impl Mutation {
    /// Turns a merge into the `Set` or `Delete` it amounts to given the key's stored override (stores call this
    /// inside their transaction, right after reading the key).
    pub fn resolve(self, existing: Option<&ConfigDoc>) -> Result<Mutation, StoreError> {
        let Mutation::Merge { patch, check } = self else {
            return Ok(self);
        };
        let mut layer = existing.map(|d| d.parameters.clone()).unwrap_or_default();
        for (k, v) in patch {
            if v.is_null() {
                layer.remove(&k);
            } else {
                layer.insert(k, v);
            }
        }
        if layer.is_empty() {
            return match existing {
                Some(_) => Ok(Mutation::Delete),
                None => Err(StoreError::Invalid(vec![FieldError {
                    field: "/parameters".into(),
                    rule: "minProperties".into(),
                    message: "the change leaves no parameter to store".into(),
                }])),
            };
        }
        check(&layer).map_err(StoreError::Invalid)?;
        Ok(Mutation::Set(layer))
    }
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
    /// The calling service (`X-Petrosa-Issuer`), kept in the audit record.
    pub issuer: Option<String>,
    /// The write rate limit to enforce in the change's transaction (`None`: not limited).
    pub rate_limit: Option<RatePolicy>,
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
    /// A merged override fails the checks.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// The writer or the service is over its write rate limit; nothing was changed.
    #[error("rate limit exceeded: {}", .0.reason)]
    RateLimited(Denied),
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
    /// Every stored shadow parameter set.
    async fn load_shadows(&self) -> Result<Vec<crate::config::shadow_doc::ShadowDoc>, StoreError>;
    /// Stores a shadow (replacing one of the same strategy and name).
    async fn put_shadow(
        &self,
        shadow: &crate::config::shadow_doc::ShadowDoc,
    ) -> Result<(), StoreError>;
    /// Deletes a shadow; `false` when there was none.
    async fn delete_shadow(&self, strategy_id: &str, name: &str) -> Result<bool, StoreError>;
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
        (Mutation::Set(_) | Mutation::Merge { .. }, true) => "UPDATE",
        (Mutation::Set(_) | Mutation::Merge { .. }, false) => "CREATE",
    }
}

/// A readable name of a key for messages.
pub fn key_name(strategy_id: &str, symbol: Option<&str>) -> String {
    match symbol {
        Some(s) => format!("{strategy_id}/{s}"),
        None => format!("{strategy_id} (global)"),
    }
}
