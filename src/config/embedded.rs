//! The embedded store: one redb file (ACID, crash-safe), used when `MONGODB_URI` is unset.
//!
//! Tables: `configs` (key `strategy␟SYMBOL` → override JSON), `audit` (sequence → record JSON) and `audit_index`
//! (`strategy␟SYMBOL␟version` → sequence). A change is one redb write transaction, which redb serializes, so the
//! version allocation, the new state and the audit record commit together or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::config::rate_limit::{self, Events};
use crate::config::shadow_doc::ShadowDoc;
use crate::config::store::{
    action_of, key_name, now_ms, Applied, AuditRecord, Change, ConfigDoc, ConfigStore, Mutation,
    StoreError, StrategyDocs,
};

const CONFIGS: TableDefinition<&str, &[u8]> = TableDefinition::new("configs");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
const AUDIT_INDEX: TableDefinition<&str, u64> = TableDefinition::new("audit_index");
/// Write rate-limit counters (key → [`Events`] JSON), updated in the change's transaction.
const RATE: TableDefinition<&str, &[u8]> = TableDefinition::new("rate_limit");
/// Shadow parameter sets (`strategy␟name` → [`ShadowDoc`] JSON).
const SHADOWS: TableDefinition<&str, &[u8]> = TableDefinition::new("shadows");
const SEP: char = '\u{1f}';

/// A redb-backed [`ConfigStore`].
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: PathBuf,
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

fn key_of(strategy: &str, symbol: Option<&str>) -> String {
    format!("{strategy}{SEP}{}", symbol.unwrap_or(""))
}

fn index_prefix(strategy: &str, symbol: Option<&str>) -> String {
    format!("{strategy}{SEP}{}{SEP}", symbol.unwrap_or(""))
}

impl EmbeddedStore {
    /// Opens (or creates) the file and its tables.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(other)?;
        }
        let db = Database::create(path)
            .map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(other)?;
        {
            txn.open_table(CONFIGS).map_err(other)?;
            txn.open_table(AUDIT).map_err(other)?;
            txn.open_table(AUDIT_INDEX).map_err(other)?;
            txn.open_table(RATE).map_err(other)?;
            txn.open_table(SHADOWS).map_err(other)?;
        }
        txn.commit().map_err(other)?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_owned(),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(other)?
    }
}

fn read_docs(db: &Database, prefix: Option<&str>) -> Result<Vec<ConfigDoc>, StoreError> {
    let txn = db.begin_read().map_err(other)?;
    let table = txn.open_table(CONFIGS).map_err(other)?;
    let mut out = Vec::new();
    let iter = match prefix {
        Some(p) => table.range(p..).map_err(other)?,
        None => table.range::<&str>(..).map_err(other)?,
    };
    for entry in iter {
        let (k, v) = entry.map_err(other)?;
        if let Some(p) = prefix {
            if !k.value().starts_with(p) {
                break;
            }
        }
        out.push(serde_json::from_slice::<ConfigDoc>(v.value()).map_err(other)?);
    }
    Ok(out)
}

fn group(docs: Vec<ConfigDoc>) -> BTreeMap<String, StrategyDocs> {
    let mut out: BTreeMap<String, StrategyDocs> = BTreeMap::new();
    for d in docs {
        let entry = out.entry(d.strategy_id.clone()).or_default();
        match d.symbol.clone() {
            Some(s) => {
                entry.symbols.insert(s, d);
            }
            None => entry.global = Some(d),
        }
    }
    out
}

fn read_events(table: &redb::Table<'_, &str, &[u8]>, key: &str) -> Result<Events, StoreError> {
    match table.get(key).map_err(other)? {
        Some(v) => serde_json::from_slice(v.value()).map_err(other),
        None => Ok(Events::default()),
    }
}

fn apply_txn(db: &Database, change: Change) -> Result<Applied, StoreError> {
    let txn = db.begin_write().map_err(other)?;
    let applied = {
        let mut configs = txn.open_table(CONFIGS).map_err(other)?;
        let mut audit = txn.open_table(AUDIT).map_err(other)?;
        let mut index = txn.open_table(AUDIT_INDEX).map_err(other)?;
        let symbol = change.symbol.as_deref();
        let key = key_of(&change.strategy_id, symbol);
        let existing: Option<ConfigDoc> = match configs.get(key.as_str()).map_err(other)? {
            Some(v) => Some(serde_json::from_slice(v.value()).map_err(other)?),
            None => None,
        };
        let prefix = index_prefix(&change.strategy_id, symbol);
        let mut last_version = 0u64;
        for entry in index.range(prefix.as_str()..).map_err(other)? {
            let (k, _) = entry.map_err(other)?;
            let Some(rest) = k.value().strip_prefix(prefix.as_str()).map(str::to_owned) else {
                break;
            };
            last_version = last_version.max(rest.parse::<u64>().unwrap_or(0));
        }
        let mutation = change.mutation.clone().resolve(existing.as_ref())?;
        if matches!(mutation, Mutation::Delete) && existing.is_none() {
            return Err(StoreError::NothingToDelete(key_name(
                &change.strategy_id,
                symbol,
            )));
        }
        let now = now_ms();
        if let Some(policy) = &change.rate_limit {
            let mut rate = txn.open_table(RATE).map_err(other)?;
            let agent = read_events(&rate, &policy.agent_key)?;
            let global = read_events(&rate, rate_limit::GLOBAL_KEY)?;
            let (agent, global) =
                rate_limit::admit(policy, agent, global, now).map_err(StoreError::RateLimited)?;
            for (key, events) in [
                (policy.agent_key.as_str(), agent),
                (rate_limit::GLOBAL_KEY, global),
            ] {
                let bytes = serde_json::to_vec(&events).map_err(other)?;
                rate.insert(key, bytes.as_slice()).map_err(other)?;
            }
        }
        let version = last_version.max(existing.as_ref().map_or(0, |d| d.version)) + 1;
        let doc = match &mutation {
            Mutation::Set(parameters) => {
                let mut metadata = serde_json::Map::new();
                metadata.insert("changed_by".into(), change.changed_by.clone().into());
                metadata.insert(
                    "reason".into(),
                    change
                        .reason
                        .clone()
                        .map_or(serde_json::Value::Null, Into::into),
                );
                let doc = ConfigDoc {
                    strategy_id: change.strategy_id.clone(),
                    symbol: change.symbol.clone(),
                    parameters: parameters.clone(),
                    version,
                    created_at_ms: existing.as_ref().map_or(now, |d| d.created_at_ms),
                    updated_at_ms: now,
                    created_by: change.changed_by.clone(),
                    metadata,
                };
                let bytes = serde_json::to_vec(&doc).map_err(other)?;
                configs
                    .insert(key.as_str(), bytes.as_slice())
                    .map_err(other)?;
                Some(doc)
            }
            Mutation::Delete | Mutation::Merge { .. } => {
                configs.remove(key.as_str()).map_err(other)?;
                None
            }
        };
        let seq = audit
            .last()
            .map_err(other)?
            .map_or(1, |(k, _)| k.value() + 1);
        let record = AuditRecord {
            id: seq.to_string(),
            strategy_id: change.strategy_id.clone(),
            symbol: change.symbol.clone(),
            action: action_of(&mutation, existing.is_some()).to_owned(),
            operation: change.operation.to_owned(),
            old_parameters: existing.as_ref().map(|d| d.parameters.clone()),
            old_version: existing.as_ref().map(|d| d.version),
            new_parameters: doc.as_ref().map(|d| d.parameters.clone()),
            version,
            changed_by: change.changed_by.clone(),
            changed_at_ms: now,
            reason: change.reason.clone(),
            issuer: change.issuer.clone(),
        };
        let bytes = serde_json::to_vec(&record).map_err(other)?;
        audit.insert(seq, bytes.as_slice()).map_err(other)?;
        let index_key = format!("{prefix}{version:020}");
        index.insert(index_key.as_str(), seq).map_err(other)?;
        Applied { doc, audit: record }
    };
    txn.commit().map_err(other)?;
    Ok(applied)
}

#[async_trait::async_trait]
impl ConfigStore for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn init(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| {
            db.begin_read().map_err(other)?;
            Ok(())
        })
        .await
    }

    async fn load_all(&self) -> Result<BTreeMap<String, StrategyDocs>, StoreError> {
        self.blocking(|db| Ok(group(read_docs(db, None)?))).await
    }

    async fn load_strategy(&self, strategy_id: &str) -> Result<StrategyDocs, StoreError> {
        let prefix = format!("{strategy_id}{SEP}");
        let id = strategy_id.to_owned();
        self.blocking(move |db| {
            let mut all = group(read_docs(db, Some(&prefix))?);
            Ok(all.remove(&id).unwrap_or_default())
        })
        .await
    }

    async fn apply(&self, change: Change) -> Result<Applied, StoreError> {
        self.blocking(move |db| apply_txn(db, change)).await
    }

    async fn audit(
        &self,
        strategy_id: &str,
        key: Option<Option<&str>>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let prefix = match key {
            Some(symbol) => index_prefix(strategy_id, symbol),
            None => format!("{strategy_id}{SEP}"),
        };
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let index = txn.open_table(AUDIT_INDEX).map_err(other)?;
            let audit = txn.open_table(AUDIT).map_err(other)?;
            let mut seqs = Vec::new();
            for entry in index.range(prefix.as_str()..).map_err(other)? {
                let (k, v) = entry.map_err(other)?;
                if !k.value().starts_with(prefix.as_str()) {
                    break;
                }
                seqs.push(v.value());
            }
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            seqs.truncate(limit);
            let mut out = Vec::with_capacity(seqs.len());
            for seq in seqs {
                if let Some(v) = audit.get(seq).map_err(other)? {
                    out.push(serde_json::from_slice(v.value()).map_err(other)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn audit_by_id(&self, id: &str) -> Result<Option<AuditRecord>, StoreError> {
        let Ok(seq) = id.parse::<u64>() else {
            return Ok(None);
        };
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let audit = txn.open_table(AUDIT).map_err(other)?;
            match audit.get(seq).map_err(other)? {
                Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(other)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn load_shadows(&self) -> Result<Vec<ShadowDoc>, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(other)?;
            let table = txn.open_table(SHADOWS).map_err(other)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(other)? {
                let (_, v) = entry.map_err(other)?;
                out.push(serde_json::from_slice(v.value()).map_err(other)?);
            }
            Ok(out)
        })
        .await
    }

    async fn put_shadow(&self, shadow: &ShadowDoc) -> Result<(), StoreError> {
        let key = format!("{}{SEP}{}", shadow.strategy_id, shadow.name);
        let bytes = serde_json::to_vec(shadow).map_err(other)?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            txn.open_table(SHADOWS)
                .map_err(other)?
                .insert(key.as_str(), bytes.as_slice())
                .map_err(other)?;
            txn.commit().map_err(other)
        })
        .await
    }

    async fn delete_shadow(&self, strategy_id: &str, name: &str) -> Result<bool, StoreError> {
        let key = format!("{strategy_id}{SEP}{name}");
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            let existed = txn
                .open_table(SHADOWS)
                .map_err(other)?
                .remove(key.as_str())
                .map_err(other)?
                .is_some();
            txn.commit().map_err(other)?;
            Ok(existed)
        })
        .await
    }
}
