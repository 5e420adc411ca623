//! Parameter resolution (defaults ← environment ← global override ← symbol override), validated writes, the
//! stores (MongoDB or an embedded file) and live propagation.

pub mod embedded;
pub mod key_lock;
pub mod layers;
pub mod merge;
pub mod mongo;
pub mod plan;
pub mod rate_limit;
pub mod regression;
pub mod replicas;
pub mod replication;
pub mod service;
pub mod shadow_doc;
pub mod shadows;
pub mod snapshot;
pub mod store;
pub mod updates;
pub mod writes;

use std::sync::Arc;

pub use layers::{env_layer, merge_patch, EnvError};
pub use merge::{WriteMode, Writer};
pub use rate_limit::RateLimits;
pub use service::{ConfigError, ConfigService, Effective};
pub use store::{ConfigStore, StoreError};

use crate::settings::Settings;

/// Opens the store the settings select: MongoDB when `MONGODB_URI` is set, else the embedded file
/// (`CONFIG_DB_PATH`). A MongoDB server that is down does not fail this (the client connects lazily).
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn ConfigStore>, StoreError> {
    match settings
        .mongodb_uri
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        Some(uri) => Ok(Arc::new(
            mongo::MongoStore::connect(
                uri,
                &settings.mongodb_database,
                settings.mongodb_timeout_ms,
            )
            .await?,
        )),
        None => Ok(Arc::new(embedded::EmbeddedStore::open(
            &settings.config_db_path,
        )?)),
    }
}
