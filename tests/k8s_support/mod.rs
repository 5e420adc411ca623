//! Shared helpers of the deployment tests (`deployment_manifests`, `deployment_env`, `deployment_dashboard`):
//! reading the Kubernetes manifests under `k8s/`, the variables the code reads, and the metrics it exports.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use clap::{CommandFactory, Parser};
pub use realtime_strategies::k8s_configmap::{NAMESPACE, UNSET_ANNOTATION};
pub use realtime_strategies::metrics::Metrics;
pub use realtime_strategies::registry::Registry;
pub use realtime_strategies::settings::Settings;
pub use serde::Deserialize;
pub use serde_json::Value as Json;
pub use serde_norway::Value as Yaml;
pub use std::collections::{BTreeMap, BTreeSet};
pub use std::path::{Path, PathBuf};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The generated strategy ConfigMap.
pub const STRATEGY_CONFIGMAP: &str = "k8s/base/configmap-strategies.yaml";

pub const DASHBOARD: &str = "k8s/grafana/realtime-strategies-dashboard.json";

pub const PORT: i64 = 8080;

/// Read by the host (`Settings::shard`) but provided by the platform, not by a ConfigMap: POD_NAME through the
/// downward API (checked on the StatefulSet below), HOSTNAME by the container runtime.
pub const PLATFORM_PROVIDED: &[&str] = &["POD_NAME", "HOSTNAME"];

pub fn root() -> &'static Path {
    Path::new(ROOT)
}

// ---------------------------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------------------------

pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub fn k8s_files(ext: &[&str]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(&root().join("k8s"), &mut all);
    all.into_iter()
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e))
        })
        .collect()
}

pub fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// Every YAML document of a (multi-document) file; empty documents are skipped.
pub fn parse_docs(path: &Path) -> Result<Vec<Yaml>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut docs = Vec::new();
    for de in serde_norway::Deserializer::from_str(&text) {
        let v = Yaml::deserialize(de).map_err(|e| e.to_string())?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

pub struct Doc {
    pub file: String,
    pub v: Yaml,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or("")
    }
    pub fn at(&self) -> String {
        format!("{} {} ({})", self.kind(), self.name(), self.file)
    }
}

pub fn all_docs() -> Vec<Doc> {
    let mut out = Vec::new();
    for path in k8s_files(&["yaml", "yml"]) {
        for v in parse_docs(&path).unwrap_or_else(|e| panic!("{}: {e}", rel(&path))) {
            out.push(Doc {
                file: rel(&path),
                v,
            });
        }
    }
    out
}

pub fn of_kind<'a>(docs: &'a [Doc], kind: &str) -> Vec<&'a Doc> {
    docs.iter().filter(|d| d.kind() == kind).collect()
}

pub fn s(v: &Yaml) -> Option<&str> {
    v.as_str()
}

pub fn seq(v: &Yaml) -> &[Yaml] {
    v.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

/// A quantity or int-or-string value as text (YAML may give `1` or `"1"`).
pub fn text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `(workload, pod template spec)` of every Deployment and StatefulSet.
pub fn workloads(docs: &[Doc]) -> Vec<(&Doc, &Yaml)> {
    docs.iter()
        .filter(|d| matches!(d.kind(), "Deployment" | "StatefulSet"))
        .map(|d| (d, &d.v["spec"]["template"]["spec"]))
        .collect()
}

pub fn probe_problems(at: &str, c: &Yaml, probe: &str, path: &str) -> Vec<String> {
    let get = &c[probe]["httpGet"];
    let mut out = Vec::new();
    if s(&get["path"]) != Some(path) {
        out.push(format!(
            "{at}: {probe} must GET {path}, has {:?}",
            get["path"]
        ));
    }
    // A numeric port, or a named one that resolves to containerPort 8080.
    let port = match &get["port"] {
        Yaml::Number(n) => n.as_i64(),
        Yaml::String(name) => seq(&c["ports"])
            .iter()
            .find(|p| s(&p["name"]) == Some(name))
            .and_then(|p| p["containerPort"].as_i64()),
        _ => None,
    };
    if port != Some(PORT) {
        out.push(format!(
            "{at}: {probe} must use port {PORT}, has {:?}",
            get["port"]
        ));
    }
    out
}

/// Environment of a workload's first container: `(envFrom ConfigMap names, env entries by name)`.
pub fn container_env(pod: &Yaml) -> (BTreeSet<String>, BTreeMap<String, Yaml>) {
    let c = &seq(&pod["containers"])[0];
    let from = seq(&c["envFrom"])
        .iter()
        .filter_map(|e| s(&e["configMapRef"]["name"]).map(String::from))
        .collect();
    let env = seq(&c["env"])
        .iter()
        .filter_map(|e| Some((s(&e["name"])?.to_owned(), e.clone())))
        .collect();
    (from, env)
}

pub fn configmaps(docs: &[Doc]) -> Vec<&Doc> {
    of_kind(docs, "ConfigMap")
}

pub fn configmap_data(d: &Doc) -> BTreeMap<String, String> {
    d.v["data"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((s(k)?.to_owned(), text(v).unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn labels_match(selector: &Yaml, labels: &Yaml) -> bool {
    selector
        .as_mapping()
        .is_some_and(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

// ---------------------------------------------------------------------------------------------------------------
// Environment variable parity
// ---------------------------------------------------------------------------------------------------------------

/// Variables declared by the clap settings.
pub fn settings_vars() -> BTreeSet<String> {
    Settings::command()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

pub fn is_env_name(lit: &str) -> bool {
    let mut chars = lit.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && lit.contains('_')
        && lit
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The host's production source files (`src/`, without `src/bin/` tools), each cut at its first `#[cfg(test)]`.
/// Plugins and strategies are not scanned: they declare the variables they read in their descriptors
/// ([`registry_vars`]).
pub fn production_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !p.starts_with(root().join("src/bin")))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
            (rel(&p), text[..cut].to_owned())
        })
        .collect()
}

/// Variables the registry declares: each plugin's `env` and each strategy's `feed_env` (parameters and switches
/// are added by [`code_vars`] from the strategies' fields).
pub fn registry_vars(registry: &Registry) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for p in registry.plugins() {
        for e in p.env {
            out.insert(
                e.name.to_owned(),
                format!("plugin {} ({})", p.id, e.meaning),
            );
        }
    }
    for st in registry.strategies() {
        for e in st.descriptor.feed_env {
            out.insert(
                e.name.to_owned(),
                format!("strategy {} feed ({})", st.id(), e.meaning),
            );
        }
    }
    out
}

/// Variables the host's own code (`src/`) reads directly by name: the first argument of `env::var(..)`, `env::var_os(..)` or of a lookup
/// closure (`get(..)`, `ms(..)`, `lookup(..)`) when it is an upper-case literal, or an upper-case `const`
/// holding one (`std::env::var(ENV_MAX_SYMBOLS)`).
pub fn scanned_vars() -> BTreeMap<String, String> {
    const CALLEES: &[&str] = &["var", "var_os", "get", "ms", "lookup"];
    let sources = production_sources();
    // const NAME: &str = "VALUE";
    let mut consts = BTreeMap::new();
    for (_, text) in &sources {
        for line in text.lines() {
            let l = line
                .trim_start()
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            if let Some(rest) = l.strip_prefix("const ") {
                if let Some((name, value)) = rest.split_once(": &str = \"") {
                    if let Some(value) = value.strip_suffix("\";") {
                        consts.insert(name.trim().to_owned(), value.to_owned());
                    }
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (file, text) in &sources {
        let bytes = text.as_bytes();
        for (open, _) in text.match_indices('(') {
            // the identifier right before `(`
            let start = text[..open]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| {
                    i + text[i..].chars().next().map_or(1, char::len_utf8)
                });
            let callee = &text[start..open];
            if !CALLEES.contains(&callee) {
                continue;
            }
            let preceded_ok =
                start == 0 || matches!(bytes[start - 1], b':' | b'.' | b' ' | b'(' | b'\n');
            if !preceded_ok {
                continue;
            }
            let arg = text[open + 1..].trim_start();
            let name = if let Some(lit) = arg.strip_prefix('"') {
                lit.split('"').next().map(str::to_owned)
            } else {
                let ident: String = arg
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let after = arg[ident.len()..].trim_start();
                (after.starts_with(')') || after.starts_with(','))
                    .then(|| consts.get(&ident).cloned())
                    .flatten()
            };
            if let Some(name) = name.filter(|n| is_env_name(n)) {
                out.entry(name).or_insert_with(|| file.clone());
            }
        }
    }
    out
}

/// Every variable the code reads, with where it comes from.
pub fn code_vars(registry: &Registry) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for v in settings_vars() {
        out.insert(v, "src/settings.rs (clap)".to_owned());
    }
    for st in registry.strategies() {
        out.insert(
            st.descriptor.enabled_var(),
            format!("strategy {} switch", st.id()),
        );
        for f in &st.fields {
            out.insert(
                st.descriptor.env_var_for(f),
                format!("strategy {} parameter {f}", st.id()),
            );
        }
    }
    for (v, from) in registry_vars(registry) {
        out.entry(v).or_insert(from);
    }
    for (v, file) in scanned_vars() {
        out.entry(v).or_insert(file);
    }
    for p in PLATFORM_PROVIDED {
        out.remove(*p);
    }
    out
}

/// Every variable the manifests provide (ConfigMap data, documented-unset annotations, Secret-backed env of the
/// workloads), with where.
pub fn manifest_vars(docs: &[Doc]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for d in configmaps(docs) {
        for k in configmap_data(d).into_keys() {
            out.insert(k, format!("ConfigMap {} ({})", d.name(), d.file));
        }
        if let Some(list) = s(&d.v["metadata"]["annotations"][UNSET_ANNOTATION]) {
            for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                out.insert(k.to_owned(), format!("{UNSET_ANNOTATION} of {}", d.name()));
            }
        }
    }
    for (d, pod) in workloads(docs) {
        for (name, e) in container_env(pod).1 {
            if e["valueFrom"]["secretKeyRef"].is_mapping() {
                out.insert(name, format!("Secret via {}", d.at()));
            }
        }
    }
    out
}

/// Names in the README's environment table rows (backticked, split on ` / `).
pub fn readme_env_names() -> (BTreeSet<String>, String) {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut names = BTreeSet::new();
    let mut rows = String::new();
    for line in readme.lines().filter(|l| l.trim_start().starts_with('|')) {
        rows.push_str(line);
        rows.push('\n');
        let first_cell = line
            .trim_start()
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap_or("");
        for part in first_cell.split('`').skip(1).step_by(2) {
            names.insert(part.trim().to_owned());
        }
        for part in first_cell.split(['`', '/', ' ']) {
            let p = part.trim();
            if is_env_name(p) {
                names.insert(p.to_owned());
            }
        }
    }
    (names, rows)
}

/// All ConfigMap data under k8s/, by variable.
pub fn configmap_env(docs: &[Doc]) -> BTreeMap<String, String> {
    configmaps(docs)
        .into_iter()
        .flat_map(configmap_data)
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Grafana dashboard
// ---------------------------------------------------------------------------------------------------------------

/// Metric family names of the host's exposition. Label-vector families without any child are not rendered, so
/// one child of each is created first.
pub fn exported_metric_names() -> BTreeSet<String> {
    let m = Metrics::new();
    m.processing_latency.with_label_values(&["depth"]);
    m.signals_generated.with_label_values(&["x", "buy"]);
    m.signals_published.with_label_values(&["x"]);
    m.signals_failed.with_label_values(&["x"]);
    m.config_changes.with_label_values(&["x", "global"]);
    m.circuit_breaker.with_label_values(&["x"]);
    m.symbol_net_pressure.with_label_values(&["X"]);
    m.signal_return_bps.with_label_values(&["x", "60s"]);
    m.signal_outcomes.with_label_values(&["x", "scored"]);
    let mut out = BTreeSet::new();
    for line in m.render().lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (Some(name), Some(kind)) = (it.next(), it.next()) else {
                continue;
            };
            out.insert(name.to_owned());
            if kind == "histogram" || kind == "summary" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    out
}

/// Metrics the dashboard already charts that the host does not export yet (placeholder panels). Remove a name
/// once the host exports it.
pub const PENDING_METRICS: &[&str] = &[];

pub const PROMQL_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
    // aggregation operators (may be followed by `by (...)` rather than `(`)
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
    "limit_ratio",
];

/// Metric names referenced by a PromQL expression: identifiers outside label matchers, strings, range
/// selectors and `by (...)`-style label lists that are not function calls, keywords or Grafana variables.
pub fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_label_list => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                skip_label_list = false;
                i += 1;
            }
            '$' => {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let is_call = j < chars.len() && chars[j] == '(';
                let lower = word.to_ascii_lowercase();
                if matches!(
                    lower.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    // a label list follows when the next token is `(` (optional after group_left/right)
                    skip_label_list = is_call;
                } else if !is_call && !PROMQL_WORDS.contains(&lower.as_str()) {
                    out.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    out
}

pub fn collect_exprs(v: &Json, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                if k == "expr" {
                    if let Some(e) = x.as_str() {
                        out.push((p.clone(), e.to_owned()));
                    }
                }
                collect_exprs(x, &p, out);
            }
        }
        Json::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_exprs(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
