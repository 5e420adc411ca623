//! Every parameter does something: for every strategy and every parameter its crate declares, some value in the
//! schema's range must change the signals of the bundled recording (all values run as variants of one
//! `evaluate` pass), unless `tests/data/parameter_exemptions.json` says why the recording cannot show it and
//! names the generated-case test in the strategy's crate that does.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use realtime_strategies::evaluate::param_sets::{build_set, ParameterSet};
use realtime_strategies::evaluate::recording::{read_all, Source};
use realtime_strategies::evaluate::run::{evaluate, Limits};
use realtime_strategies::host_params::is_host_param;
use realtime_strategies::registry::{RegisteredStrategy, Registry};
use realtime_strategies::scoring::ScoreSettings;
use serde_json::{Map, Value};

/// Candidate values of a parameter: the schema's bounds, half and double the default (within bounds), the
/// other boolean, the other enum members.
fn candidates(schema: &Value, default: &Value) -> Vec<Value> {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if let Some(options) = schema["enum"].as_array() {
        return options.iter().filter(|v| *v != default).cloned().collect();
    }
    if types.contains(&"boolean") {
        return vec![Value::Bool(!default.as_bool().unwrap_or(false))];
    }
    let integer = types.contains(&"integer");
    if !integer && !types.contains(&"number") {
        return Vec::new();
    }
    let min = schema["minimum"].as_f64();
    let max = schema["maximum"].as_f64();
    let d = default.as_f64().unwrap_or(0.0);
    let mut out: Vec<f64> = Vec::new();
    out.extend(min);
    out.extend(max);
    for f in [0.5, 2.0, 0.9, 1.1] {
        let v = d * f;
        if min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m) {
            out.push(v);
        }
    }
    out.into_iter()
        .map(|v| if integer { v.round() } else { v })
        .filter(|v| (v - d).abs() > 1e-12)
        .map(|v| {
            if integer {
                Value::from(v as i64)
            } else {
                Value::from(v)
            }
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold(Vec::new(), |mut acc, v| {
            if !acc.contains(&v) {
                acc.push(v);
            }
            acc
        })
}

type Signature = Vec<(String, i64, i64, String, String)>;

#[test]
fn every_parameter_changes_the_signals_or_is_exempt_with_a_reason() {
    let registry = Registry::load().unwrap();
    let exemptions: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(include_str!("data/parameter_exemptions.json")).unwrap();
    let mut sets: Vec<ParameterSet> = Vec::new();
    let mut owner: Vec<(&'static str, String)> = Vec::new();
    let own_params = |s: &RegisteredStrategy| -> Vec<String> {
        s.fields
            .iter()
            .filter(|f| !is_host_param(f))
            .cloned()
            .collect()
    };
    for s in registry.strategies() {
        sets.push(build_set(s, "default", Map::new()).unwrap());
        owner.push((s.id(), String::new()));
        for field in own_params(s) {
            let schema = s.property(&field).unwrap().clone();
            for value in candidates(&schema, &s.defaults[&field]) {
                let mut overrides = Map::new();
                overrides.insert(field.clone(), value.clone());
                // Values that break a cross-field rule are not a valid set: skip them.
                if let Ok(set) = build_set(s, &format!("{field}={value}"), overrides) {
                    sets.push(set);
                    owner.push((s.id(), field.clone()));
                }
            }
        }
    }
    let recordings = read_all(&[Source::Bundled]).unwrap();
    let mut signatures: Vec<Signature> = vec![Vec::new(); sets.len()];
    let index: BTreeMap<(String, String), usize> = sets
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.strategy_id.to_owned(), s.name.clone()), i))
        .collect();
    let mut on_signal = |set: &ParameterSet, signal: &strategy_sdk::Signal| {
        let i = index[&(set.strategy_id.to_owned(), set.name.clone())];
        let (stop, take) = signal.risk_levels();
        signatures[i].push((
            signal.symbol.clone(),
            signal.event_time_ms,
            (signal.confidence * 1e6).round() as i64,
            signal.action.as_str().to_owned(),
            format!(
                "{:.6} {stop:.6} {take:.6} {:?}",
                signal.price, signal.quantity
            ),
        ));
    };
    evaluate(
        &registry,
        sets.clone(),
        &recordings,
        ScoreSettings::default(),
        Limits::default(),
        &mut on_signal,
        &|_| {},
    );

    let mut effective: BTreeSet<(&str, String)> = BTreeSet::new();
    let default_of: BTreeMap<&str, usize> = owner
        .iter()
        .enumerate()
        .filter(|(_, (_, f))| f.is_empty())
        .map(|(i, (s, _))| (*s, i))
        .collect();
    for (i, (strategy, field)) in owner.iter().enumerate() {
        if !field.is_empty() && signatures[i] != signatures[default_of[strategy]] {
            effective.insert((strategy, field.clone()));
        }
    }
    let mut missing = Vec::new();
    for s in registry.strategies() {
        let exempt = exemptions.get(s.id());
        for field in own_params(s) {
            let has_effect = effective.contains(&(s.id(), field.clone()));
            let reason = exempt.and_then(|e| e.get(&field));
            if !has_effect && reason.is_none_or(|r| r.trim().len() < 20) {
                missing.push(format!("{}.{field}", s.id()));
            }
        }
        if let Some(e) = exempt {
            for field in e.keys() {
                assert!(
                    own_params(s).contains(field),
                    "exemption for unknown parameter {}.{field}",
                    s.id()
                );
            }
        }
    }
    for name in exemptions.keys() {
        assert!(
            registry.get(name).is_some(),
            "exemption for unknown strategy {name}"
        );
    }
    assert!(
        missing.is_empty(),
        "no value in range changes the bundled recording's signals, and no exemption explains why: {missing:?}"
    );
}
