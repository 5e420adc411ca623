//! Typed strategy parameters and their validation errors.

use std::fmt::Debug;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a strategy's parameter struct must be: serde both ways, a JSON Schema (schemars), a `Default` that is the
/// single source of default values, and optional cross-field rules.
///
/// Declare the struct with `#[serde(default, deny_unknown_fields)]` so partial overrides deserialize and typos are
/// rejected; give each field a doc comment (it becomes the schema description) and `#[schemars(range(..))]`.
pub trait StrategyParams:
    Serialize + DeserializeOwned + JsonSchema + Default + Clone + Debug + Send + Sync + 'static
{
    /// Rules that involve more than one field (e.g. `sell_threshold < buy_threshold`). Single-field ranges belong
    /// in the schema.
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// One problem with one parameter: which field (JSON pointer), which rule, and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// JSON pointer of the field, e.g. `/buy_threshold` (empty for the whole document).
    pub field: String,
    /// The rule that failed, e.g. `minimum`, `type`, `additionalProperties`, `cross_field`.
    pub rule: String,
    /// Readable explanation.
    pub message: String,
}

impl FieldError {
    /// A cross-field rule violation on `field` (name without the leading slash).
    pub fn cross_field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: format!("/{field}"),
            rule: "cross_field".into(),
            message: message.into(),
        }
    }
}

/// Collects cross-field errors: `check(cond, field, message)` records the message when `cond` is false.
#[derive(Debug, Default)]
pub struct Rules {
    errors: Vec<FieldError>,
}

impl Rules {
    /// A new empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error on `field` unless `ok` holds.
    pub fn check(&mut self, ok: bool, field: &str, message: impl Into<String>) -> &mut Self {
        if !ok {
            self.errors.push(FieldError::cross_field(field, message));
        }
        self
    }

    /// `Ok` when no rule failed.
    pub fn finish(&mut self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.errors))
        }
    }
}
