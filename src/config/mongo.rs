//! The MongoDB store: the original's collections and document shapes (`strategy_configs_global`,
//! `strategy_configs_symbol`, `strategy_config_audit`), written in multi-document transactions.
//!
//! Timeouts: server selection and connect are capped at 2 s (the driver's default 30 s would hang requests while
//! the database is down) and every operation runs under an outer `MONGODB_TIMEOUT_MS` deadline.
//!
//! Durability: the client, and every transaction explicitly, use write concern `majority` with journal and read
//! concern `majority`, so an acknowledged change survives the loss of the primary (or a `kill -9` of a single
//! node) and reads never see a change that could still be rolled back. A change's version is derived inside its
//! transaction from the highest version stored for the key (audit trail and current document), never from a
//! counter in memory.
//!
//! Concurrency across processes: transactions on the same key conflict (`WriteConflict`, a duplicate version on
//! the unique audit index) and are retried with jittered exponential backoff until the deadline. A host whose
//! attempt lost announces itself in `config_write_claims` (one document per key); other hosts start no new
//! transaction on that key while the claim is fresh, so a busy replica cannot starve another one's writes.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::error::{Error as MongoError, ErrorKind, TRANSIENT_TRANSACTION_ERROR};
use mongodb::options::{
    Acknowledgment, ClientOptions, IndexOptions, ReadConcern, TransactionOptions, WriteConcern,
};
use mongodb::{Client, Collection, Database, IndexModel};
use serde_json::{Map, Value};

use crate::config::plan::plan_change;
use crate::config::rate_limit::{self, Events};
use crate::config::store::{
    key_name, now_ms, Applied, AuditRecord, Change, ConfigDoc, ConfigStore, StoreError,
    StrategyDocs,
};

const GLOBAL: &str = "strategy_configs_global";
const SYMBOL: &str = "strategy_configs_symbol";
const AUDIT: &str = "strategy_config_audit";
/// Claims of hosts whose transaction on a key lost a conflict (`_id` = key, `owner`, `at`).
const CLAIMS: &str = "config_write_claims";
/// Write rate-limit counters (`_id` = `realtime-strategies:<key>`, `at_ms` = change times of the last hour).
const RATE: &str = "config_rate_limits";
/// Shadow parameter sets, `_id` = `strategy/name`.
const SHADOWS: &str = "strategy_shadows";

/// A MongoDB-backed [`ConfigStore`].
pub struct MongoStore {
    client: Client,
    db: Database,
    name: String,
    timeout: Duration,
    /// This store's id in write claims.
    instance: String,
}

/// Write concern of every write: acknowledged by a majority of the replica set and journaled.
fn durable_writes() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}

/// Options of every transaction (explicit, whatever the URI says).
fn transaction_options() -> TransactionOptions {
    TransactionOptions::builder()
        .read_concern(ReadConcern::majority())
        .write_concern(durable_writes())
        .build()
}

fn classify(e: MongoError) -> StoreError {
    match *e.kind {
        // Said before any server was reached (unknown topology) as well as by a standalone server: either way no
        // write can succeed now, and the store may recover (503, not 500).
        ErrorKind::Transaction { ref message, .. } if message.contains("not supported") => {
            StoreError::Unavailable(format!(
                "MongoDB is unreachable or not a replica set (transactions unavailable): {message}"
            ))
        }
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. } => {
            StoreError::Unavailable(crate::settings::redact_urls(&e.to_string()))
        }
        _ => StoreError::Other(crate::settings::redact_urls(&e.to_string())),
    }
}

fn retryable(e: &MongoError) -> bool {
    let text = e.to_string();
    e.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || text.contains("E11000")
        || text.contains("WriteConflict")
        || text.contains("duplicate key")
}

impl MongoStore {
    /// Creates the client (no connection is made yet: a database that is down does not stop start-up).
    pub async fn connect(uri: &str, database: &str, timeout_ms: u64) -> Result<Self, StoreError> {
        let options = ClientOptions::parse(uri).await.map_err(|e| {
            StoreError::Other(format!(
                "MONGODB_URI: {}",
                crate::settings::redact_urls(&e.to_string())
            ))
        })?;
        Self::with_options(options, database, timeout_ms)
    }

    /// Creates the client from parsed options, setting this store's timeouts and its write and read concerns
    /// over whatever the options say (tests add a command monitor this way).
    pub fn with_options(
        mut options: ClientOptions,
        database: &str,
        timeout_ms: u64,
    ) -> Result<Self, StoreError> {
        let timeout = Duration::from_millis(timeout_ms.max(100));
        let short = timeout.min(Duration::from_secs(2));
        options.server_selection_timeout = Some(short);
        options.connect_timeout = Some(short);
        options.app_name = Some(crate::SERVICE_NAME.to_owned());
        options.max_pool_size = Some(10);
        options.write_concern = Some(durable_writes());
        options.read_concern = Some(ReadConcern::majority());
        let client = Client::with_options(options).map_err(classify)?;
        let db = client.database(database);
        Ok(Self {
            client,
            db,
            name: database.to_owned(),
            timeout,
            instance: uuid::Uuid::new_v4().to_string(),
        })
    }

    async fn timed<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "MongoDB did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    fn coll(&self, symbol: bool) -> Collection<Document> {
        self.db.collection(if symbol { SYMBOL } else { GLOBAL })
    }

    fn audit_coll(&self) -> Collection<Document> {
        self.db.collection(AUDIT)
    }

    /// How long a claim keeps other hosts from starting transactions on its key (its owner renews it on every
    /// lost attempt; a crashed owner's claim simply expires).
    fn claim_ttl(&self) -> Duration {
        (self.timeout / 3).clamp(Duration::from_millis(300), Duration::from_secs(2))
    }

    /// Claims `key` after a lost conflict: other hosts wait until this host's change is through. False when
    /// another host holds a fresh claim (this one waits for it instead).
    async fn claim(&self, key: &str) -> bool {
        let now = now_ms();
        let stale = now - i64::try_from(self.claim_ttl().as_millis()).unwrap_or(i64::MAX);
        let r = self
            .db
            .collection::<Document>(CLAIMS)
            .update_one(
                doc! { "_id": key, "$or": [ { "owner": &self.instance }, { "at": { "$lt": stale } } ] },
                doc! { "$set": { "owner": &self.instance, "at": now } },
            )
            .upsert(true)
            .await;
        r.is_ok()
    }

    /// Removes this host's claim on `key`.
    async fn release(&self, key: &str) {
        let _ = tokio::time::timeout(
            self.timeout,
            self.db
                .collection::<Document>(CLAIMS)
                .delete_one(doc! { "_id": key, "owner": &self.instance }),
        )
        .await;
    }

    /// Waits (until `deadline` at most) while another host holds a fresh claim on `key`.
    async fn wait_for_claims(&self, key: &str, deadline: tokio::time::Instant) {
        let claims = self.db.collection::<Document>(CLAIMS);
        let ttl = i64::try_from(self.claim_ttl().as_millis()).unwrap_or(i64::MAX);
        let mut pause = Duration::from_millis(5);
        loop {
            let Ok(Some(claim)) = claims.find_one(doc! { "_id": key }).await else {
                return;
            };
            let owner = claim.get_str("owner").unwrap_or_default();
            let at = claim.get("at").and_then(bson_ms_value).unwrap_or(0);
            if owner == self.instance || at < now_ms() - ttl {
                return;
            }
            if tokio::time::Instant::now() + pause >= deadline {
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(40));
        }
    }

    async fn try_apply(&self, change: &Change) -> Result<Applied, MongoOutcome> {
        let symbol = change.symbol.as_deref();
        let coll = self.coll(symbol.is_some());
        let audit = self.audit_coll();
        let mut filter = doc! { "strategy_id": &change.strategy_id };
        if let Some(s) = symbol {
            filter.insert("symbol", s);
        }
        let audit_filter =
            doc! { "strategy_id": &change.strategy_id, "symbol": symbol_bson(symbol) };
        let mut session = self
            .client
            .start_session()
            .await
            .map_err(MongoOutcome::Fatal)?;
        session
            .start_transaction()
            .with_options(transaction_options())
            .await
            .map_err(MongoOutcome::Fatal)?;
        let result: Result<Applied, MongoOutcome> = async {
            let existing = coll
                .find_one(filter.clone())
                .session(&mut session)
                .await
                .map_err(MongoOutcome::from_error)?
                .map(|d| doc_to_config(&d))
                .transpose()
                .map_err(MongoOutcome::Store)?;
            let last = audit
                .find_one(audit_filter.clone())
                .sort(doc! { "version": -1 })
                .session(&mut session)
                .await
                .map_err(MongoOutcome::from_error)?
                .and_then(|d| d.get("version").and_then(bson_u64))
                .unwrap_or(0);
            let id = ObjectId::new();
            let now = now_ms();
            let applied = plan_change(change, existing.as_ref(), last, now, id.to_hex())
                .map_err(MongoOutcome::Store)?;
            if let Some(policy) = &change.rate_limit {
                let rate = self.db.collection::<Document>(RATE);
                let agent_id = format!("{}:{}", crate::SERVICE_NAME, policy.agent_key);
                let global_id = format!("{}:{}", crate::SERVICE_NAME, rate_limit::GLOBAL_KEY);
                let mut counters = Vec::with_capacity(2);
                for id in [&agent_id, &global_id] {
                    let found = rate
                        .find_one(doc! { "_id": id.as_str() })
                        .session(&mut session)
                        .await
                        .map_err(MongoOutcome::from_error)?;
                    let at_ms = found
                        .as_ref()
                        .and_then(|d| d.get_array("at_ms").ok())
                        .map(|a| a.iter().filter_map(bson_ms_value).collect())
                        .unwrap_or_default();
                    counters.push(Events { at_ms });
                }
                let global = counters.pop().unwrap_or_default();
                let agent = counters.pop().unwrap_or_default();
                let (agent, global) = rate_limit::admit(policy, agent, global, now)
                    .map_err(|d| MongoOutcome::Store(StoreError::RateLimited(d)))?;
                // Writing both counters makes concurrent limited writers conflict, so one retries and sees the other.
                for (id, events) in [(&agent_id, agent), (&global_id, global)] {
                    rate.replace_one(
                        doc! { "_id": id.as_str() },
                        doc! { "_id": id.as_str(), "at_ms": events.at_ms, "updated_at": DateTime::from_millis(now) },
                    )
                    .upsert(true)
                    .session(&mut session)
                    .await
                    .map_err(MongoOutcome::from_error)?;
                }
            }
            match &applied.doc {
                Some(doc) => {
                    coll.replace_one(filter.clone(), config_to_doc(doc))
                        .upsert(true)
                        .session(&mut session)
                        .await
                        .map_err(MongoOutcome::from_error)?;
                }
                None => {
                    coll.delete_one(filter.clone())
                        .session(&mut session)
                        .await
                        .map_err(MongoOutcome::from_error)?;
                }
            }
            audit
                .insert_one(audit_to_doc(&applied.audit, id))
                .session(&mut session)
                .await
                .map_err(MongoOutcome::from_error)?;
            Ok(applied)
        }
        .await;
        match result {
            Ok(applied) => {
                let mut tries = 0;
                loop {
                    match session.commit_transaction().await {
                        Ok(()) => return Ok(applied),
                        Err(e)
                            if e.contains_label(
                                mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT,
                            ) && tries < 3 =>
                        {
                            tries += 1;
                        }
                        Err(e) => return Err(MongoOutcome::from_error(e)),
                    }
                }
            }
            Err(e) => {
                let _ = session.abort_transaction().await;
                Err(e)
            }
        }
    }
}

enum MongoOutcome {
    Retry(MongoError),
    Fatal(MongoError),
    Store(StoreError),
}

impl MongoOutcome {
    fn from_error(e: MongoError) -> Self {
        if retryable(&e) {
            MongoOutcome::Retry(e)
        } else {
            MongoOutcome::Fatal(e)
        }
    }
}

/// Pause before retry `attempt` (1-based) of a conflicting transaction: exponential from 5 ms, capped at 160 ms,
/// with full jitter so competing hosts do not retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    let cap = 5u64 << attempt.clamp(1, 6).saturating_sub(1);
    let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u16) % cap.max(1);
    Duration::from_millis(cap / 2 + jitter / 2)
}

fn symbol_bson(symbol: Option<&str>) -> Bson {
    symbol.map_or(Bson::Null, |s| Bson::String(s.to_owned()))
}

fn bson_u64(b: &Bson) -> Option<u64> {
    match b {
        Bson::Int32(i) => u64::try_from(*i).ok(),
        Bson::Int64(i) => u64::try_from(*i).ok(),
        Bson::Double(f) if *f >= 0.0 => Some(*f as u64),
        _ => None,
    }
}

fn bson_ms(b: Option<&Bson>) -> i64 {
    match b {
        Some(Bson::DateTime(d)) => d.timestamp_millis(),
        _ => 0,
    }
}

fn json_map(b: Option<&Bson>) -> Option<Map<String, Value>> {
    match b {
        Some(b @ Bson::Document(_)) => match b.clone().into_relaxed_extjson() {
            Value::Object(m) => Some(m),
            _ => None,
        },
        _ => None,
    }
}

fn to_bson(v: &Map<String, Value>) -> Bson {
    mongodb::bson::to_bson(v).unwrap_or_else(|_| Bson::Document(Document::new()))
}

fn str_of(d: &Document, key: &str) -> Option<String> {
    d.get_str(key).ok().map(str::to_owned)
}

fn doc_to_config(d: &Document) -> Result<ConfigDoc, StoreError> {
    Ok(ConfigDoc {
        strategy_id: str_of(d, "strategy_id")
            .ok_or_else(|| StoreError::Other("config document without strategy_id".into()))?,
        symbol: str_of(d, "symbol"),
        parameters: json_map(d.get("parameters")).unwrap_or_default(),
        version: d.get("version").and_then(bson_u64).unwrap_or(1),
        created_at_ms: bson_ms(d.get("created_at")),
        updated_at_ms: bson_ms(d.get("updated_at")),
        created_by: str_of(d, "created_by").unwrap_or_default(),
        metadata: json_map(d.get("metadata")).unwrap_or_default(),
    })
}

fn config_to_doc(c: &ConfigDoc) -> Document {
    let mut d = doc! {
        "strategy_id": &c.strategy_id,
        "parameters": to_bson(&c.parameters),
        "version": c.version as i64,
        "created_at": DateTime::from_millis(c.created_at_ms),
        "updated_at": DateTime::from_millis(c.updated_at_ms),
        "created_by": &c.created_by,
        "metadata": to_bson(&c.metadata),
    };
    if let Some(s) = &c.symbol {
        d.insert("symbol", s);
    }
    d
}

/// Parameters as the original stored them in audit records: with the config version inside.
fn versioned(params: &Option<Map<String, Value>>, version: Option<u64>) -> Bson {
    match (params, version) {
        (Some(p), v) => {
            let mut p = p.clone();
            if let Some(v) = v {
                p.insert("version".into(), v.into());
            }
            to_bson(&p)
        }
        (None, _) => Bson::Null,
    }
}

fn unversioned(b: Option<&Bson>) -> Option<Map<String, Value>> {
    json_map(b).map(|mut m| {
        m.remove("version");
        m
    })
}

fn audit_to_doc(a: &AuditRecord, id: ObjectId) -> Document {
    doc! {
        "_id": id,
        "strategy_id": &a.strategy_id,
        "symbol": symbol_bson(a.symbol.as_deref()),
        "action": &a.action,
        "operation": &a.operation,
        "old_parameters": versioned(&a.old_parameters, a.old_version),
        "new_parameters": versioned(&a.new_parameters, Some(a.version)),
        "version": a.version as i64,
        "changed_by": &a.changed_by,
        "changed_at": DateTime::from_millis(a.changed_at_ms),
        "reason": a.reason.as_deref().map_or(Bson::Null, |r| Bson::String(r.to_owned())),
        "issuer": a.issuer.as_deref().map_or(Bson::Null, |r| Bson::String(r.to_owned())),
    }
}

fn bson_ms_value(b: &Bson) -> Option<i64> {
    match b {
        Bson::Int64(v) => Some(*v),
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Double(v) if v.is_finite() => Some(*v as i64),
        _ => None,
    }
}

fn doc_to_audit(d: &Document) -> AuditRecord {
    let old_version = d
        .get_document("old_parameters")
        .ok()
        .and_then(|p| p.get("version"))
        .and_then(bson_u64);
    AuditRecord {
        id: d
            .get_object_id("_id")
            .map(|o| o.to_hex())
            .unwrap_or_default(),
        strategy_id: str_of(d, "strategy_id").unwrap_or_default(),
        symbol: str_of(d, "symbol"),
        action: str_of(d, "action").unwrap_or_default(),
        operation: str_of(d, "operation").unwrap_or_else(|| "set".into()),
        old_parameters: unversioned(d.get("old_parameters")),
        old_version,
        new_parameters: unversioned(d.get("new_parameters")),
        version: d.get("version").and_then(bson_u64).unwrap_or(0),
        changed_by: str_of(d, "changed_by").unwrap_or_default(),
        changed_at_ms: bson_ms(d.get("changed_at")),
        reason: str_of(d, "reason"),
        issuer: str_of(d, "issuer"),
    }
}

#[async_trait::async_trait]
impl ConfigStore for MongoStore {
    fn kind(&self) -> &'static str {
        "mongodb"
    }

    fn location(&self) -> String {
        format!("database {}", self.name)
    }

    async fn init(&self) -> Result<(), StoreError> {
        self.timed(async {
            let unique = IndexOptions::builder().unique(true).build();
            self.coll(false)
                .create_index(
                    IndexModel::builder()
                        .keys(doc! { "strategy_id": 1 })
                        .options(unique.clone())
                        .build(),
                )
                .await
                .map_err(classify)?;
            self.coll(true)
                .create_index(
                    IndexModel::builder()
                        .keys(doc! { "strategy_id": 1, "symbol": 1 })
                        .options(unique.clone())
                        .build(),
                )
                .await
                .map_err(classify)?;
            let audit = self.audit_coll();
            audit
                .create_index(
                    IndexModel::builder()
                        .keys(doc! { "strategy_id": 1, "symbol": 1 })
                        .build(),
                )
                .await
                .map_err(classify)?;
            audit
                .create_index(
                    IndexModel::builder()
                        .keys(doc! { "changed_at": -1 })
                        .build(),
                )
                .await
                .map_err(classify)?;
            // One audit record per version of a key: concurrent writers from several replicas cannot both claim it.
            audit
                .create_index(
                    IndexModel::builder()
                        .keys(doc! { "strategy_id": 1, "symbol": 1, "version": 1 })
                        .options(unique)
                        .build(),
                )
                .await
                .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(async {
            self.db
                .run_command(doc! { "ping": 1 })
                .await
                .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn load_all(&self) -> Result<BTreeMap<String, StrategyDocs>, StoreError> {
        self.timed(async {
            let mut out: BTreeMap<String, StrategyDocs> = BTreeMap::new();
            let mut cursor = self.coll(false).find(doc! {}).await.map_err(classify)?;
            while let Some(d) = cursor.try_next().await.map_err(classify)? {
                let c = doc_to_config(&d)?;
                let id = c.strategy_id.clone();
                out.entry(id).or_default().global = Some(c);
            }
            let mut cursor = self.coll(true).find(doc! {}).await.map_err(classify)?;
            while let Some(d) = cursor.try_next().await.map_err(classify)? {
                let c = doc_to_config(&d)?;
                if let Some(s) = c.symbol.clone() {
                    out.entry(c.strategy_id.clone())
                        .or_default()
                        .symbols
                        .insert(s, c);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn load_strategy(&self, strategy_id: &str) -> Result<StrategyDocs, StoreError> {
        self.timed(async {
            let mut out = StrategyDocs::default();
            if let Some(d) = self
                .coll(false)
                .find_one(doc! { "strategy_id": strategy_id })
                .await
                .map_err(classify)?
            {
                out.global = Some(doc_to_config(&d)?);
            }
            let mut cursor = self
                .coll(true)
                .find(doc! { "strategy_id": strategy_id })
                .await
                .map_err(classify)?;
            while let Some(d) = cursor.try_next().await.map_err(classify)? {
                let c = doc_to_config(&d)?;
                if let Some(s) = c.symbol.clone() {
                    out.symbols.insert(s, c);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn apply(&self, change: Change) -> Result<Applied, StoreError> {
        let key = key_name(&change.strategy_id, change.symbol.as_deref());
        let deadline = tokio::time::Instant::now() + self.timeout;
        let claimed = std::sync::atomic::AtomicBool::new(false);
        let result = self
            .timed(async {
                let mut attempt = 0u32;
                loop {
                    attempt += 1;
                    self.wait_for_claims(&key, deadline).await;
                    match self.try_apply(&change).await {
                        Ok(applied) => return Ok(applied),
                        Err(MongoOutcome::Store(e)) => return Err(e),
                        Err(MongoOutcome::Retry(e)) => {
                            tracing::debug!(error = %e, attempt, key, "config transaction conflict; retrying");
                            if self.claim(&key).await {
                                claimed.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            tokio::time::sleep(backoff(attempt)).await;
                        }
                        Err(MongoOutcome::Fatal(e)) => return Err(classify(e)),
                    }
                }
            })
            .await;
        if claimed.load(std::sync::atomic::Ordering::Relaxed) {
            self.release(&key).await;
        }
        result
    }

    async fn audit(
        &self,
        strategy_id: &str,
        key: Option<Option<&str>>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.timed(async {
            let mut filter = doc! { "strategy_id": strategy_id };
            if let Some(symbol) = key {
                filter.insert("symbol", symbol_bson(symbol));
            }
            let mut cursor = self
                .audit_coll()
                .find(filter)
                .sort(doc! { "changed_at": -1, "version": -1 })
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .await
                .map_err(classify)?;
            let mut out = Vec::new();
            while let Some(d) = cursor.try_next().await.map_err(classify)? {
                out.push(doc_to_audit(&d));
            }
            Ok(out)
        })
        .await
    }

    async fn audit_by_id(&self, id: &str) -> Result<Option<AuditRecord>, StoreError> {
        let Ok(oid) = ObjectId::parse_str(id) else {
            return Ok(None);
        };
        self.timed(async {
            Ok(self
                .audit_coll()
                .find_one(doc! { "_id": oid })
                .await
                .map_err(classify)?
                .map(|d| doc_to_audit(&d)))
        })
        .await
    }

    async fn load_shadows(&self) -> Result<Vec<crate::config::shadow_doc::ShadowDoc>, StoreError> {
        self.timed(async {
            let docs: Vec<Document> = self
                .db
                .collection::<Document>(SHADOWS)
                .find(doc! {})
                .await
                .map_err(classify)?
                .try_collect()
                .await
                .map_err(classify)?;
            let mut out = Vec::with_capacity(docs.len());
            for mut d in docs {
                d.remove("_id");
                match mongodb::bson::from_document(d) {
                    Ok(shadow) => out.push(shadow),
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed stored shadow"),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put_shadow(
        &self,
        shadow: &crate::config::shadow_doc::ShadowDoc,
    ) -> Result<(), StoreError> {
        let id = format!("{}/{}", shadow.strategy_id, shadow.name);
        let mut d =
            mongodb::bson::to_document(shadow).map_err(|e| StoreError::Other(e.to_string()))?;
        d.insert("_id", id.clone());
        self.timed(async {
            self.db
                .collection::<Document>(SHADOWS)
                .replace_one(doc! { "_id": &id }, d)
                .upsert(true)
                .await
                .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn delete_shadow(&self, strategy_id: &str, name: &str) -> Result<bool, StoreError> {
        let id = format!("{strategy_id}/{name}");
        self.timed(async {
            let r = self
                .db
                .collection::<Document>(SHADOWS)
                .delete_one(doc! { "_id": &id })
                .await
                .map_err(classify)?;
            Ok(r.deleted_count > 0)
        })
        .await
    }
}
