//! The `data` documents of the configuration API (the original's shapes), as types: the handlers build them and
//! the OpenAPI document describes them from the same definitions.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::service::Effective;
use crate::config::store::{iso, Applied, AuditRecord};

fn provenance_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "Per parameter: the layer its value comes from",
        "additionalProperties": { "type": "string", "enum": ["default", "env", "global", "symbol"] }
    })
}

fn optional_provenance_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut s = provenance_schema(g);
    s.insert("type".into(), serde_json::json!(["object", "null"]));
    s
}

/// `data` of `GET …/config[/{symbol}]`: the effective parameters and where each comes from.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigResponse {
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `null` for the global scope.
    pub symbol: Option<String>,
    /// Merged parameters (complete).
    #[schemars(with = "Map<String, Value>")]
    pub parameters: Value,
    /// Version of the most specific stored override (0 if none).
    pub version: u64,
    /// `mongodb`/`embedded` (an override applies), `environment` or `default`.
    pub source: String,
    /// Whether a symbol override applies.
    pub is_override: bool,
    /// Creation time of the most specific override.
    pub created_at: Option<String>,
    /// Update time of the most specific override.
    pub updated_at: Option<String>,
    /// Per field: `default`, `env`, `global` or `symbol`.
    #[schemars(schema_with = "provenance_schema")]
    pub provenance: Map<String, Value>,
    /// Version of the global override, if any.
    pub global_version: Option<u64>,
    /// Version of the symbol override, if any.
    pub symbol_version: Option<u64>,
    /// Stored overrides of this key that do not fit the strategy and do not run, with their validation errors.
    pub invalid_overrides: Vec<Map<String, Value>>,
    /// `mongodb` or `embedded`.
    pub store: &'static str,
}

impl ConfigResponse {
    /// The document of `e` for `id` / `symbol`.
    pub fn new(id: &str, symbol: Option<&str>, e: &Effective, store: &'static str) -> Self {
        Self {
            strategy_id: id.to_owned(),
            symbol: symbol.map(str::to_owned),
            parameters: e.parameters.clone(),
            version: e.version,
            source: e.source.clone(),
            is_override: e.is_override,
            created_at: e.created_at.clone(),
            updated_at: e.updated_at.clone(),
            provenance: e.provenance.clone(),
            global_version: e.global_version,
            symbol_version: e.symbol_version,
            invalid_overrides: e
                .invalid_overrides
                .iter()
                .filter_map(|v| v.as_object().cloned())
                .collect(),
            store,
        }
    }
}

/// `data` of a write (set, patch, rollback, restore, promote): the key's stored override after the change and the
/// effective parameters it gives.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AppliedResponse {
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `null` for the global override.
    pub symbol: Option<String>,
    /// The stored override after the change (`null` when it was removed).
    pub parameters: Option<Map<String, Value>>,
    /// Its version.
    pub version: u64,
    /// `mongodb` or `embedded`.
    pub source: &'static str,
    /// Whether it is a symbol override.
    pub is_override: bool,
    /// Creation time of the override.
    pub created_at: Option<String>,
    /// Update time of the override.
    pub updated_at: Option<String>,
    /// The effective parameters now.
    pub effective_parameters: Option<Map<String, Value>>,
    /// Where each effective parameter comes from.
    #[schemars(schema_with = "optional_provenance_schema")]
    pub provenance: Option<Map<String, Value>>,
}

impl AppliedResponse {
    /// The document of `applied`, with the effective parameters `effective` gives now.
    pub fn new(
        id: &str,
        symbol: Option<&str>,
        applied: &Applied,
        effective: Option<&Effective>,
        store: &'static str,
    ) -> Self {
        let (parameters, version, created_at, updated_at) = match &applied.doc {
            Some(d) => (
                Some(d.parameters.clone()),
                d.version,
                Some(iso(d.created_at_ms)),
                Some(iso(d.updated_at_ms)),
            ),
            None => (None, applied.audit.version, None, None),
        };
        Self {
            strategy_id: id.to_owned(),
            symbol: symbol.map(str::to_owned),
            parameters,
            version,
            source: store,
            is_override: symbol.is_some(),
            created_at,
            updated_at,
            effective_parameters: effective.and_then(|e| e.parameters.as_object().cloned()),
            provenance: effective.map(|e| e.provenance.clone()),
        }
    }
}

/// One audit record as `GET …/audit` answers it (newest first).
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditTrailItem {
    /// Record id.
    pub id: String,
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `null` for the global override.
    pub symbol: Option<String>,
    /// What happened to the stored document.
    #[schemars(extend("enum" = ["CREATE", "UPDATE", "DELETE"]))]
    pub action: String,
    /// Which operation did it.
    #[schemars(extend("enum" = ["set", "delete", "rollback", "restore"]))]
    pub operation: String,
    /// The override before (with its `version`), `null` if there was none.
    pub old_parameters: Option<Map<String, Value>>,
    /// The override after (with its `version`), `null` after a delete.
    pub new_parameters: Option<Map<String, Value>>,
    /// Version after the change.
    pub version: u64,
    /// Who.
    pub changed_by: String,
    /// When (ISO-8601 UTC).
    pub changed_at: String,
    /// Why.
    pub reason: Option<String>,
    /// The calling service (`X-Petrosa-Issuer`).
    pub issuer: Option<String>,
}

fn with_version(
    params: &Option<Map<String, Value>>,
    version: Option<u64>,
) -> Option<Map<String, Value>> {
    params.as_ref().map(|p| {
        let mut p = p.clone();
        if let Some(v) = version {
            p.insert("version".into(), v.into());
        }
        p
    })
}

impl From<&AuditRecord> for AuditTrailItem {
    fn from(r: &AuditRecord) -> Self {
        Self {
            id: r.id.clone(),
            strategy_id: r.strategy_id.clone(),
            symbol: r.symbol.clone(),
            action: r.action.clone(),
            operation: r.operation.clone(),
            old_parameters: with_version(&r.old_parameters, r.old_version),
            new_parameters: with_version(&r.new_parameters, Some(r.version)),
            version: r.version,
            changed_by: r.changed_by.clone(),
            changed_at: iso(r.changed_at_ms),
            reason: r.reason.clone(),
            issuer: r.issuer.clone(),
        }
    }
}

/// `data` of deletes and cache refreshes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageResponse {
    /// What was done.
    pub message: String,
}

/// `data` of `POST /api/v1/config/validate`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidationResponse {
    /// Whether every check passed.
    pub validation_passed: bool,
    /// Every failed check.
    pub errors: Vec<ValidationIssue>,
    /// Always empty (the original's field).
    pub warnings: Vec<String>,
    /// A value that would pass, where one is known.
    pub suggested_fixes: Vec<SuggestedFix>,
    /// Rough size of the change.
    pub estimated_impact: EstimatedImpact,
    /// Always empty (the original's field).
    pub conflicts: Vec<String>,
}

/// One failed check of a validation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidationIssue {
    /// Parameter name.
    pub field: String,
    /// JSON pointer of the field.
    pub pointer: String,
    /// Failed rule (`minimum`, `type`, `additionalProperties`, `cross_field`, …).
    pub rule: String,
    /// A sentence for a person.
    pub message: String,
    /// `OUT_OF_RANGE`, `INVALID_TYPE`, `UNKNOWN_PARAMETER`, `CROSS_FIELD_CONFLICT`, `INVALID_VALUE` or
    /// `VALIDATION_ERROR`.
    pub code: &'static str,
    /// A value that would pass (the bound or the default), if known.
    pub suggested_value: Option<Value>,
}

/// A suggested fix of a validation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SuggestedFix {
    /// Parameter name.
    pub field: String,
    /// The value to use.
    pub suggested_value: Value,
    /// Why.
    pub reason: String,
}

/// `estimated_impact` of a validation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EstimatedImpact {
    /// `low` (up to 3 parameters) or `medium`.
    #[schemars(extend("enum" = ["low", "medium"]))]
    pub risk_level: &'static str,
    /// Parameters in the request.
    pub parameter_count: usize,
}
