//! The embedded store: one redb file (ACID, crash-safe), used when `MONGODB_URI` is unset.
//!
//! Tables: `configs` (key `strategy␟SYMBOL` → override JSON), `audit` (sequence → record JSON) and `audit_index`
//! (`strategy␟SYMBOL␟version` → sequence). A change is one redb write transaction, which redb serializes, so the
//! version allocation, the new state and the audit record commit together or not at all.
//!
//! Failures: a file that cannot be written (disk full, read-only, over the file size limit) makes the change fail
//! as [`StoreError::Unavailable`] (503, nothing changed) and the store unavailable; redb refuses further work
//! after an I/O error, so the database is closed and reopened on the next operation, and while writes fail every
//! reload first probes with a small write, so the store comes back by itself once the file can be written again.
//! A file that is not a readable store stops the start with one message naming the file and how to recover.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::config::plan::plan_change;
use crate::config::rate_limit::{self, Events};
use crate::config::shadow_doc::ShadowDoc;
use crate::config::store::{
    now_ms, Applied, AuditRecord, Change, ConfigDoc, ConfigStore, StoreError, StrategyDocs,
};

const CONFIGS: TableDefinition<&str, &[u8]> = TableDefinition::new("configs");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
const AUDIT_INDEX: TableDefinition<&str, u64> = TableDefinition::new("audit_index");
/// Write rate-limit counters (key → [`Events`] JSON), updated in the change's transaction.
const RATE: TableDefinition<&str, &[u8]> = TableDefinition::new("rate_limit");
/// Shadow parameter sets (`strategy␟name` → [`ShadowDoc`] JSON).
const SHADOWS: TableDefinition<&str, &[u8]> = TableDefinition::new("shadows");
const SEP: char = '\u{1f}';

/// Written by the probe that checks whether the file can be written again after a failed write.
const PROBE: TableDefinition<&str, i64> = TableDefinition::new("write_probe");

/// A redb-backed [`ConfigStore`].
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The open database; `None` after an I/O error (reopened on the next operation).
    db: parking_lot::RwLock<Option<Arc<Database>>>,
    /// Why the last write failed, until a write succeeds again.
    write_error: parking_lot::Mutex<Option<String>>,
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

/// A redb error: I/O failures (disk full, read-only file, file size limit) and the refusal that follows one are
/// [`StoreError::Unavailable`]; the rest stays [`StoreError::Other`].
fn db_err(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Io(io) => StoreError::Unavailable(format!("I/O error: {io}")),
        redb::Error::PreviousIo => {
            StoreError::Unavailable("an earlier I/O error closed the store".into())
        }
        e => StoreError::Other(e.to_string()),
    }
}

/// Opens (or creates) the file and its tables; a file that is not a readable store gets a message naming it and
/// how to recover.
fn open_db(path: &Path) -> Result<Database, StoreError> {
    let shown = path.display();
    let db = Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Other(format!(
            "configuration store {shown} is already open in another process (one process may open it at a time; \
             set CONFIG_DB_PATH to another file)"
        )),
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() != std::io::ErrorKind::InvalidData
                && io.kind() != std::io::ErrorKind::UnexpectedEof =>
        {
            StoreError::Unavailable(format!("configuration store {shown} cannot be opened: {io}"))
        }
        e => StoreError::Other(format!(
            "configuration store {shown} is corrupt or not a configuration store ({e}); to recover, move it aside \
             (mv {shown} {shown}.corrupt) and start again with an empty store, or restore the file from a backup"
        )),
    })?;
    let txn = db.begin_write().map_err(db_err)?;
    {
        txn.open_table(CONFIGS).map_err(db_err)?;
        txn.open_table(AUDIT).map_err(db_err)?;
        txn.open_table(AUDIT_INDEX).map_err(db_err)?;
        txn.open_table(RATE).map_err(db_err)?;
        txn.open_table(SHADOWS).map_err(db_err)?;
    }
    txn.commit().map_err(db_err)?;
    Ok(db)
}

impl Inner {
    /// The open database, reopening it after an I/O error.
    fn handle(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.db.read().clone() {
            return Ok(db);
        }
        let mut slot = self.db.write();
        if let Some(db) = slot.clone() {
            return Ok(db);
        }
        let db = Arc::new(open_db(&self.path).map_err(|e| match e {
            StoreError::Other(m) => StoreError::Unavailable(m),
            e => e,
        })?);
        *slot = Some(db.clone());
        Ok(db)
    }

    /// Runs `f` on the database; an I/O failure closes it (reopened next time) and is reported with the file.
    fn run<T>(
        &self,
        write: bool,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let shown = self.path.display();
        let r = self.handle().and_then(|db| f(&db));
        match r {
            Err(StoreError::Unavailable(m)) => {
                *self.db.write() = None;
                let m = format!(
                    "the embedded store {shown} cannot be {} ({m}; disk full or not writable?); writes answer \
                     503 until it can be written again (checked every second)",
                    if write { "written" } else { "read" }
                );
                if write {
                    *self.write_error.lock() = Some(m.clone());
                }
                Err(StoreError::Unavailable(m))
            }
            Ok(v) => {
                if write {
                    *self.write_error.lock() = None;
                }
                Ok(v)
            }
            Err(e) => Err(e),
        }
    }

    /// After a failed write: whether the file can be written again (a small write of its own).
    fn probe(&self) -> Result<(), StoreError> {
        if self.write_error.lock().is_none() {
            return Ok(());
        }
        self.run(true, |db| {
            let txn = db.begin_write().map_err(db_err)?;
            txn.open_table(PROBE)
                .map_err(db_err)?
                .insert("probe", now_ms())
                .map_err(db_err)?;
            txn.commit().map_err(db_err)?;
            Ok(())
        })
    }
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
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Other(format!(
                    "configuration store directory {} cannot be created: {e}",
                    dir.display()
                ))
            })?;
        }
        let db = open_db(path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                db: parking_lot::RwLock::new(Some(Arc::new(db))),
                write_error: parking_lot::Mutex::new(None),
            }),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking_as(false, f).await
    }

    /// Runs `f` on a blocking thread. `write`: a failure marks the file not writable; otherwise, while it is
    /// marked, a probe write runs first, so reads report the store down until it can be written again.
    async fn blocking_as<T: Send + 'static>(
        &self,
        write: bool,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            if !write {
                inner.probe()?;
            }
            inner.run(write, f)
        })
        .await
        .map_err(other)?
    }
}

fn read_docs(db: &Database, prefix: Option<&str>) -> Result<Vec<ConfigDoc>, StoreError> {
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(CONFIGS).map_err(db_err)?;
    let mut out = Vec::new();
    let iter = match prefix {
        Some(p) => table.range(p..).map_err(db_err)?,
        None => table.range::<&str>(..).map_err(db_err)?,
    };
    for entry in iter {
        let (k, v) = entry.map_err(db_err)?;
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
    match table.get(key).map_err(db_err)? {
        Some(v) => serde_json::from_slice(v.value()).map_err(other),
        None => Ok(Events::default()),
    }
}

fn apply_txn(db: &Database, change: Change) -> Result<Applied, StoreError> {
    let txn = db.begin_write().map_err(db_err)?;
    let applied = {
        let mut configs = txn.open_table(CONFIGS).map_err(db_err)?;
        let mut audit = txn.open_table(AUDIT).map_err(db_err)?;
        let mut index = txn.open_table(AUDIT_INDEX).map_err(db_err)?;
        let symbol = change.symbol.as_deref();
        let key = key_of(&change.strategy_id, symbol);
        let existing: Option<ConfigDoc> = match configs.get(key.as_str()).map_err(db_err)? {
            Some(v) => Some(serde_json::from_slice(v.value()).map_err(other)?),
            None => None,
        };
        let prefix = index_prefix(&change.strategy_id, symbol);
        let mut last_version = 0u64;
        for entry in index.range(prefix.as_str()..).map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            let Some(rest) = k.value().strip_prefix(prefix.as_str()).map(str::to_owned) else {
                break;
            };
            last_version = last_version.max(rest.parse::<u64>().unwrap_or(0));
        }
        let seq = audit
            .last()
            .map_err(db_err)?
            .map_or(1, |(k, _)| k.value() + 1);
        let now = now_ms();
        let applied = plan_change(
            &change,
            existing.as_ref(),
            last_version,
            now,
            seq.to_string(),
        )?;
        if let Some(policy) = &change.rate_limit {
            let mut rate = txn.open_table(RATE).map_err(db_err)?;
            let agent = read_events(&rate, &policy.agent_key)?;
            let global = read_events(&rate, rate_limit::GLOBAL_KEY)?;
            let (agent, global) =
                rate_limit::admit(policy, agent, global, now).map_err(StoreError::RateLimited)?;
            for (key, events) in [
                (policy.agent_key.as_str(), agent),
                (rate_limit::GLOBAL_KEY, global),
            ] {
                let bytes = serde_json::to_vec(&events).map_err(other)?;
                rate.insert(key, bytes.as_slice()).map_err(db_err)?;
            }
        }
        match &applied.doc {
            Some(doc) => {
                let bytes = serde_json::to_vec(doc).map_err(other)?;
                configs
                    .insert(key.as_str(), bytes.as_slice())
                    .map_err(db_err)?;
            }
            None => {
                configs.remove(key.as_str()).map_err(db_err)?;
            }
        }
        let record = &applied.audit;
        let bytes = serde_json::to_vec(record).map_err(other)?;
        audit.insert(seq, bytes.as_slice()).map_err(db_err)?;
        let index_key = format!("{prefix}{:020}", record.version);
        index.insert(index_key.as_str(), seq).map_err(db_err)?;
        applied
    };
    txn.commit().map_err(db_err)?;
    Ok(applied)
}

#[async_trait::async_trait]
impl ConfigStore for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn location(&self) -> String {
        self.inner.path.display().to_string()
    }

    async fn init(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| {
            db.begin_read().map_err(db_err)?;
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
        self.blocking_as(true, move |db| apply_txn(db, change))
            .await
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
            let txn = db.begin_read().map_err(db_err)?;
            let index = txn.open_table(AUDIT_INDEX).map_err(db_err)?;
            let audit = txn.open_table(AUDIT).map_err(db_err)?;
            let mut seqs = Vec::new();
            for entry in index.range(prefix.as_str()..).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                if !k.value().starts_with(prefix.as_str()) {
                    break;
                }
                seqs.push(v.value());
            }
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            seqs.truncate(limit);
            let mut out = Vec::with_capacity(seqs.len());
            for seq in seqs {
                if let Some(v) = audit.get(seq).map_err(db_err)? {
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
            let txn = db.begin_read().map_err(db_err)?;
            let audit = txn.open_table(AUDIT).map_err(db_err)?;
            match audit.get(seq).map_err(db_err)? {
                Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(other)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn load_shadows(&self) -> Result<Vec<ShadowDoc>, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(SHADOWS).map_err(db_err)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(db_err)? {
                let (_, v) = entry.map_err(db_err)?;
                out.push(serde_json::from_slice(v.value()).map_err(other)?);
            }
            Ok(out)
        })
        .await
    }

    async fn put_shadow(&self, shadow: &ShadowDoc) -> Result<(), StoreError> {
        let key = format!("{}{SEP}{}", shadow.strategy_id, shadow.name);
        let bytes = serde_json::to_vec(shadow).map_err(other)?;
        self.blocking_as(true, move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            txn.open_table(SHADOWS)
                .map_err(db_err)?
                .insert(key.as_str(), bytes.as_slice())
                .map_err(db_err)?;
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn delete_shadow(&self, strategy_id: &str, name: &str) -> Result<bool, StoreError> {
        let key = format!("{strategy_id}{SEP}{name}");
        self.blocking_as(true, move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let existed = txn
                .open_table(SHADOWS)
                .map_err(db_err)?
                .remove(key.as_str())
                .map_err(db_err)?
                .is_some();
            txn.commit().map_err(db_err)?;
            Ok(existed)
        })
        .await
    }
}
