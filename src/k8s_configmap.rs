//! `realtime-strategies k8s-configmap`: the Kubernetes ConfigMap of every registered strategy's environment layer
//! (its `STRATEGY_ENABLED_<ID>` switch and one variable per parameter, set to the default), generated from the
//! registry so `k8s/base/configmap-strategies.yaml` can never drift from the code (`tests/deployment_env.rs` checks it).

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::registry::Registry;

/// Name of the generated ConfigMap.
pub const STRATEGY_CONFIGMAP_NAME: &str = "petrosa-realtime-strategies-strategies";
/// Namespace of every manifest.
pub const NAMESPACE: &str = "petrosa-apps";
/// Annotation listing parameters deliberately left unset (no default).
pub const UNSET_ANNOTATION: &str = "realtime-strategies.petrosa.io/unset-env";
/// Where the generated file lives in the repository.
pub const STRATEGY_CONFIGMAP_PATH: &str = "k8s/base/configmap-strategies.yaml";

/// The env value that reproduces a default through the host's env layer (`config::env_layer`): scalars as
/// text, a list of plain strings comma-separated (the original's format), other arrays and objects as JSON.
/// `None` for a null default (left unset).
pub fn env_value(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        Json::Array(items)
            if !items.is_empty()
                && items.iter().all(|i| {
                    i.as_str()
                        .is_some_and(|s| !s.is_empty() && !s.contains(',') && s.trim() == s)
                }) =>
        {
            Some(
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            )
        }
        other => Some(other.to_string()),
    }
}

/// A YAML double-quoted scalar (a JSON string literal is one).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

fn first_sentence(desc: &str) -> String {
    let flat = desc.split_whitespace().collect::<Vec<_>>().join(" ");
    let sentence = flat.find(". ").map_or(flat.as_str(), |i| &flat[..=i]);
    if sentence.chars().count() <= 110 {
        sentence.to_owned()
    } else {
        let mut out: String = sentence.chars().take(109).collect();
        out.push('…');
        out
    }
}

/// The generated ConfigMap: every strategy's switch and parameter variables with their defaults.
pub fn render(registry: &Registry) -> String {
    let mut unset = Vec::new();
    let mut body = String::new();
    for st in registry.strategies() {
        let d = st.descriptor;
        let _ = writeln!(
            body,
            "  # --- {} ({}): {} by default",
            d.id,
            d.name,
            if d.enabled_by_default {
                "enabled"
            } else {
                "disabled"
            }
        );
        let _ = writeln!(
            body,
            "  {}: {}",
            d.enabled_var(),
            yaml_str(&d.enabled_by_default.to_string())
        );
        for f in &st.fields {
            let var = d.env_var_for(f);
            if let Some(desc) = st
                .property(f)
                .and_then(|p| p.get("description"))
                .and_then(Json::as_str)
            {
                let _ = writeln!(body, "  # {f}: {}", first_sentence(desc));
            }
            match st.defaults.get(f).and_then(env_value) {
                Some(v) => {
                    let _ = writeln!(body, "  {var}: {}", yaml_str(&v));
                }
                None => {
                    let _ = writeln!(body, "  # {var}: unset (default: none)");
                    unset.push(var);
                }
            }
        }
    }
    let mut out = String::new();
    out.push_str(
        "# GENERATED from the strategy registry by\n\
         #   realtime-strategies k8s-configmap > k8s/base/configmap-strategies.yaml\n\
         # Do not edit by hand: change a strategy's defaults in its crate and regenerate. To override a value for\n\
         # one deployment, patch it in an overlay, or use the configuration API (global / per-symbol overrides sit\n\
         # above this environment layer).\n\
         #\n\
         # STRATEGY_ENABLED_<ID> switches a strategy on or off; every other key is the environment layer of one\n\
         # parameter (the original's variable name where it had one, else <ID>_<FIELD>), set to the default.\n",
    );
    out.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n");
    let _ = writeln!(out, "  name: {STRATEGY_CONFIGMAP_NAME}");
    let _ = writeln!(out, "  namespace: {NAMESPACE}");
    out.push_str(
        "  labels:\n    app: realtime-strategies\n    app.kubernetes.io/name: realtime-strategies\n    \
         app.kubernetes.io/part-of: petrosa\n",
    );
    if !unset.is_empty() {
        out.push_str("  annotations:\n    # Parameters without a default value are left unset.\n");
        let _ = writeln!(
            out,
            "    {UNSET_ANNOTATION}: {}",
            yaml_str(&unset.join(","))
        );
    }
    out.push_str("data:\n");
    out.push_str(&body);
    out
}
