//! The strategy and plugin registry, built once at start-up from what the linked crates registered.

mod validation;

use std::collections::BTreeMap;

use serde_json::Value;
use strategy_sdk::registry::{self as sdk_registry, PluginDescriptor, StrategyDescriptor};
use strategy_sdk::strategy::ErasedParams;
use strategy_sdk::FieldError;

pub use validation::schema_errors;

/// Why the registry refused to load.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two crates registered the same id.
    #[error("duplicate {kind} id `{id}` registered twice")]
    Duplicate {
        /// `strategy` or `plugin`.
        kind: &'static str,
        /// The id.
        id: &'static str,
    },
    /// A strategy's JSON Schema does not compile.
    #[error("strategy `{id}`: its parameter schema does not compile: {message}")]
    BadSchema {
        /// Strategy id.
        id: &'static str,
        /// Compiler message.
        message: String,
    },
    /// A strategy crate declares a parameter the host reserves for itself (`crate::host_params`).
    #[error("strategy `{id}`: parameter `{field}` is reserved for the host (host-level parameters: enabled, stop_loss_pct, take_profit_pct, …)")]
    ReservedParameter {
        /// Strategy id.
        id: &'static str,
        /// The clashing parameter.
        field: String,
    },
    /// A strategy's own defaults fail its schema or cross-field rules.
    #[error("strategy `{id}`: its defaults are invalid: {}", render(errors))]
    BadDefaults {
        /// Strategy id.
        id: &'static str,
        /// The failures, naming each field.
        errors: Vec<FieldError>,
    },
}

fn render(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{} ({}): {}", e.field, e.rule, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One registered strategy with its compiled validator.
pub struct RegisteredStrategy {
    /// The crate's descriptor.
    pub descriptor: &'static StrategyDescriptor,
    /// JSON Schema (2020-12) of its parameters, with the host-level parameters (`crate::host_params`).
    pub schema: Value,
    /// Default parameters, with the host-level parameters.
    pub defaults: Value,
    /// The strategy crate's own parameter names in declaration order (without the host-level ones).
    pub fields: Vec<String>,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for RegisteredStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredStrategy")
            .field("id", &self.descriptor.id)
            .finish_non_exhaustive()
    }
}

impl RegisteredStrategy {
    fn new(descriptor: &'static StrategyDescriptor) -> Result<Self, RegistryError> {
        let mut schema = (descriptor.schema)().to_value();
        let mut defaults = (descriptor.defaults)();
        let fields: Vec<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(field) = fields.iter().find(|f| crate::host_params::is_host_param(f)) {
            return Err(RegistryError::ReservedParameter {
                id: descriptor.id,
                field: field.clone(),
            });
        }
        crate::host_params::extend(descriptor, &mut schema, &mut defaults);
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| RegistryError::BadSchema {
                id: descriptor.id,
                message: e.to_string(),
            })?;
        let me = Self {
            descriptor,
            schema,
            defaults,
            fields,
            validator,
        };
        me.check_complete(&me.defaults)
            .map_err(|errors| RegistryError::BadDefaults {
                id: descriptor.id,
                errors,
            })?;
        Ok(me)
    }

    /// Strategy id.
    pub fn id(&self) -> &'static str {
        self.descriptor.id
    }

    /// Schema errors of a (possibly partial) parameter document.
    pub fn check_schema(&self, doc: &Value) -> Vec<FieldError> {
        schema_errors(&self.validator, doc)
    }

    /// Every parameter name: the strategy's own, then the host-level ones.
    pub fn all_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .map(String::as_str)
            .chain(crate::host_params::HOST_PARAMS.iter().map(|p| p.name))
    }

    /// Full check of a complete parameter document: schema, then typed deserialization and cross-field rules of the
    /// strategy's own part. Every error names its field.
    pub fn check_complete(&self, doc: &Value) -> Result<ErasedParams, Vec<FieldError>> {
        let errors = self.check_schema(doc);
        if !errors.is_empty() {
            return Err(errors);
        }
        let own = crate::host_params::strategy_part(doc);
        (self.descriptor.check)(&own).map_err(|errors| {
            errors
                .into_iter()
                .map(|mut e| {
                    if e.field.is_empty() {
                        e.field = self.blame(&own);
                    }
                    e
                })
                .collect()
        })
    }

    /// The field a whole-document deserialization error comes from: the first field that fails on its own on top
    /// of the defaults (or the whole `parameters` object when none does alone).
    fn blame(&self, own: &Value) -> String {
        let base = crate::host_params::strategy_part(&self.defaults);
        if let (Some(obj), Some(base)) = (own.as_object(), base.as_object()) {
            for (k, v) in obj {
                let mut probe = base.clone();
                probe.insert(k.clone(), v.clone());
                if (self.descriptor.check)(&Value::Object(probe)).is_err() {
                    return format!("/{k}");
                }
            }
        }
        "/parameters".into()
    }

    /// The schema's `properties.<field>` object.
    pub fn property(&self, field: &str) -> Option<&Value> {
        self.schema.get("properties")?.get(field)
    }

    /// Whether the strategy is enabled, from `STRATEGY_ENABLED_<ID>` or its default.
    pub fn enabled_in(&self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        match env(&self.descriptor.enabled_var()) {
            Some(v) => matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "on"
            ),
            None => self.descriptor.enabled_by_default,
        }
    }
}

/// All registered strategies and plugins, sorted by id.
#[derive(Debug)]
pub struct Registry {
    strategies: Vec<RegisteredStrategy>,
    by_id: BTreeMap<&'static str, usize>,
    plugins: Vec<&'static PluginDescriptor>,
}

impl Registry {
    /// Collects everything the linked crates registered, rejecting duplicates and invalid defaults.
    pub fn load() -> Result<Self, RegistryError> {
        Self::from_descriptors(sdk_registry::strategies(), sdk_registry::plugins())
    }

    /// Builds a registry from explicit descriptors (the same checks as [`Registry::load`]).
    pub fn from_descriptors(
        strategies: impl IntoIterator<Item = &'static StrategyDescriptor>,
        plugins: impl IntoIterator<Item = &'static PluginDescriptor>,
    ) -> Result<Self, RegistryError> {
        let mut descriptors: Vec<_> = strategies.into_iter().collect();
        descriptors.sort_by_key(|d| d.id);
        for pair in descriptors.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(RegistryError::Duplicate {
                    kind: "strategy",
                    id: pair[0].id,
                });
            }
        }
        let mut plugins: Vec<_> = plugins.into_iter().collect();
        plugins.sort_by_key(|p| p.id);
        for pair in plugins.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(RegistryError::Duplicate {
                    kind: "plugin",
                    id: pair[0].id,
                });
            }
        }
        let strategies = descriptors
            .into_iter()
            .map(RegisteredStrategy::new)
            .collect::<Result<Vec<_>, _>>()?;
        let by_id = strategies
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id(), i))
            .collect();
        Ok(Self {
            strategies,
            by_id,
            plugins,
        })
    }

    /// Strategies sorted by id.
    pub fn strategies(&self) -> &[RegisteredStrategy] {
        &self.strategies
    }

    /// One strategy by id.
    pub fn get(&self, id: &str) -> Option<&RegisteredStrategy> {
        self.by_id.get(id).map(|&i| &self.strategies[i])
    }

    /// Plugins sorted by id.
    pub fn plugins(&self) -> &[&'static PluginDescriptor] {
        &self.plugins
    }

    /// Strategy ids, sorted.
    pub fn ids(&self) -> Vec<&'static str> {
        self.strategies.iter().map(|s| s.id()).collect()
    }
}
