//! Which strategies and parameter sets `evaluate` runs: the defaults (set `default`), named sets from a
//! `--params` file, and the cartesian product of `--grid` specifications, each merged over the defaults and
//! validated exactly as the configuration API validates a write.
//!
//! `--params` file shape: `{"<strategy_id>": {"<set name>": {<partial parameters>}, …}, …}`.
//! `--grid` shape: `<strategy_id>.<parameter>=<v1>,<v2>,…` (values are JSON; bare words are strings).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};
use strategy_sdk::strategy::ErasedParams;
use strategy_sdk::FieldError;

use crate::registry::{RegisteredStrategy, Registry};

/// Name of the set made of the strategy's defaults.
pub const DEFAULT_SET: &str = "default";

/// Why the plan cannot run. Each message is one line naming the file, strategy or field.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `--strategy`, `--params` or `--grid` named a strategy that is not registered.
    #[error("unknown strategy `{0}` (known: {1})")]
    UnknownStrategy(String, String),
    /// `--params` or `--grid` names a strategy left out by `--strategy`.
    #[error(
        "strategy `{0}` has parameter sets (--params/--grid) but is not selected with --strategy"
    )]
    NotSelected(String),
    /// The `--params` file cannot be read or is not the expected JSON shape.
    #[error("{path}: {message}")]
    ParamsFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `--grid` specification is malformed.
    #[error("--grid `{spec}`: {message}")]
    Grid {
        /// The specification as given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// A parameter set fails the strategy's schema or rules.
    #[error("strategy `{strategy}`, parameter set `{set}`: {}", render(errors))]
    Invalid {
        /// Strategy id.
        strategy: String,
        /// Set name.
        set: String,
        /// Per-field errors.
        errors: Vec<FieldError>,
    },
}

fn render(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| {
            let field = e.field.trim_start_matches('/');
            let field = if field.is_empty() {
                "(document)"
            } else {
                field
            };
            format!("{field} ({}): {}", e.rule, e.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One strategy with one complete, validated parameter set.
#[derive(Clone)]
pub struct ParameterSet {
    /// Strategy id.
    pub strategy_id: &'static str,
    /// Set name (`default`, a `--params` name, or `param=value,…` for grid points).
    pub name: String,
    /// The parameters given for this set (empty for `default`).
    pub overrides: Map<String, Value>,
    /// The complete effective parameters.
    pub parameters: Value,
    /// The same, deserialized for a runner.
    pub params: ErasedParams,
}

impl std::fmt::Debug for ParameterSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParameterSet")
            .field("strategy_id", &self.strategy_id)
            .field("name", &self.name)
            .field("overrides", &self.overrides)
            .finish_non_exhaustive()
    }
}

/// What the user asked for on the command line.
#[derive(Debug, Default, Clone)]
pub struct PlanRequest {
    /// `--strategy` ids; empty = every enabled strategy plus those named by `--params`/`--grid`.
    pub strategies: Vec<String>,
    /// `--params` file.
    pub params_file: Option<std::path::PathBuf>,
    /// `--grid` specifications.
    pub grids: Vec<String>,
}

/// Builds the parameter sets, strategy by strategy in id order, `default` first.
pub fn plan(
    registry: &Registry,
    request: &PlanRequest,
    enabled: &dyn Fn(&RegisteredStrategy) -> bool,
) -> Result<Vec<ParameterSet>, PlanError> {
    let known = || registry.ids().join(", ");
    let lookup = |id: &str| {
        registry
            .get(id)
            .ok_or_else(|| PlanError::UnknownStrategy(id.to_owned(), known()))
    };
    let named = match &request.params_file {
        Some(path) => read_params_file(path)?,
        None => Vec::new(),
    };
    let grids = request
        .grids
        .iter()
        .map(|spec| parse_grid(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let mut selected: BTreeSet<&'static str> = BTreeSet::new();
    for id in &request.strategies {
        selected.insert(lookup(id)?.id());
    }
    let mentioned = named
        .iter()
        .map(|(s, _, _)| s.as_str())
        .chain(grids.iter().map(|g| g.strategy.as_str()));
    for id in mentioned {
        let s = lookup(id)?;
        if !request.strategies.is_empty() && !selected.contains(s.id()) {
            return Err(PlanError::NotSelected(id.to_owned()));
        }
        selected.insert(s.id());
    }
    if request.strategies.is_empty() {
        selected.extend(
            registry
                .strategies()
                .iter()
                .filter(|s| enabled(s))
                .map(|s| s.id()),
        );
    }

    let mut sets = Vec::new();
    for id in selected {
        let strategy = lookup(id)?;
        sets.push(build_set(strategy, DEFAULT_SET, Map::new())?);
        for (_, name, overrides) in named.iter().filter(|(s, _, _)| s == id) {
            sets.push(build_set(strategy, name, overrides.clone())?);
        }
        let axes: Vec<&Grid> = grids.iter().filter(|g| g.strategy == id).collect();
        for point in cartesian(&axes) {
            let name = point
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let overrides: Map<String, Value> = point.into_iter().collect();
            sets.push(build_set(strategy, &name, overrides)?);
        }
    }
    Ok(sets)
}

/// One validated set: `overrides` merged over the strategy's defaults.
pub fn build_set(
    strategy: &RegisteredStrategy,
    name: &str,
    overrides: Map<String, Value>,
) -> Result<ParameterSet, PlanError> {
    let invalid = |errors| PlanError::Invalid {
        strategy: strategy.id().to_owned(),
        set: name.to_owned(),
        errors,
    };
    let partial = Value::Object(overrides.clone());
    let errors = strategy.check_schema(&partial);
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let mut merged = strategy.defaults.clone();
    if let Value::Object(target) = &mut merged {
        for (k, v) in &overrides {
            target.insert(k.clone(), v.clone());
        }
    }
    let params = strategy.check_complete(&merged).map_err(invalid)?;
    Ok(ParameterSet {
        strategy_id: strategy.id(),
        name: name.to_owned(),
        overrides,
        parameters: merged,
        params,
    })
}

/// `(strategy id, set name, partial parameters)` in file order.
type NamedSet = (String, String, Map<String, Value>);

fn read_params_file(path: &Path) -> Result<Vec<NamedSet>, PlanError> {
    let err = |message: String| PlanError::ParamsFile {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    let Value::Object(strategies) = doc else {
        return Err(err(
            "expected {\"<strategy_id>\": {\"<set name>\": {parameters}}}".into(),
        ));
    };
    let mut out = Vec::new();
    for (strategy, sets) in strategies {
        let Value::Object(sets) = sets else {
            return Err(err(format!(
                "`{strategy}` must map set names to parameter objects"
            )));
        };
        for (name, params) in sets {
            let Value::Object(params) = params else {
                return Err(err(format!(
                    "`{strategy}.{name}` must be an object of parameters"
                )));
            };
            if name == DEFAULT_SET {
                return Err(err(format!(
                    "`{strategy}.{DEFAULT_SET}`: the name `{DEFAULT_SET}` is reserved for the defaults"
                )));
            }
            out.push((strategy.clone(), name, params));
        }
    }
    Ok(out)
}

/// One `--grid` axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Strategy id.
    pub strategy: String,
    /// Parameter name.
    pub parameter: String,
    /// Values, in the order given.
    pub values: Vec<Value>,
}

/// Parses `strategy.parameter=v1,v2,…`.
pub fn parse_grid(spec: &str) -> Result<Grid, PlanError> {
    let err = |message: &str| PlanError::Grid {
        spec: spec.to_owned(),
        message: message.to_owned(),
    };
    let (key, values) = spec
        .split_once('=')
        .ok_or_else(|| err("expected <strategy_id>.<parameter>=<v1>,<v2>,…"))?;
    let (strategy, parameter) = key
        .trim()
        .split_once('.')
        .ok_or_else(|| err("expected <strategy_id>.<parameter> before `=`"))?;
    if strategy.is_empty() || parameter.is_empty() {
        return Err(err("strategy id and parameter name must not be empty"));
    }
    let values: Vec<Value> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned())))
        .collect();
    if values.is_empty() {
        return Err(err("no values after `=`"));
    }
    Ok(Grid {
        strategy: strategy.to_owned(),
        parameter: parameter.to_owned(),
        values,
    })
}

fn cartesian(axes: &[&Grid]) -> Vec<Vec<(String, Value)>> {
    if axes.is_empty() {
        return Vec::new();
    }
    let mut points: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|point| {
                axis.values.iter().map(move |v| {
                    let mut p = point.clone();
                    p.retain(|(k, _)| k != &axis.parameter);
                    p.push((axis.parameter.clone(), v.clone()));
                    p
                })
            })
            .collect();
    }
    points
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn grid_values_are_json_or_words() {
        let g = parse_grid("orderbook_skew.buy_threshold=1.2, 1.5,true,abc").unwrap();
        assert_eq!(g.strategy, "orderbook_skew");
        assert_eq!(g.parameter, "buy_threshold");
        assert_eq!(
            g.values,
            vec![
                Value::from(1.2),
                Value::from(1.5),
                Value::Bool(true),
                Value::from("abc")
            ]
        );
        assert!(parse_grid("buy_threshold=1").is_err());
        assert!(parse_grid("a.b=").is_err());
    }

    #[test]
    fn three_by_two_grid_gives_six_points() {
        let a = parse_grid("s.a=1,2,3").unwrap();
        let b = parse_grid("s.b=x,y").unwrap();
        let points = cartesian(&[&a, &b]);
        assert_eq!(points.len(), 6);
        assert_eq!(
            points[0],
            vec![("a".into(), Value::from(1)), ("b".into(), Value::from("x"))]
        );
    }
}
