//! Parameter resolution: defaults ← environment ← global override ← symbol override.

pub mod resolve;
pub mod service;

pub use resolve::{env_layer, merge_patch, EnvError};
pub use service::ConfigService;
