//! Deployment artefacts stay in step with the code: the Kubernetes manifests under `k8s/` (shape, probes,
//! resources, security), the Grafana dashboard (every query names a metric the host exports) and environment
//! variable parity (variables the code reads == variables the manifests provide, and the README documents them).
//!
//! The strategy part of the ConfigMap is generated from the registry:
//! `realtime-strategies k8s-configmap` (the binary's subcommand) prints `k8s/base/configmap-strategies.yaml`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use realtime_strategies::k8s_configmap::{NAMESPACE, UNSET_ANNOTATION};
use realtime_strategies::metrics::Metrics;
use realtime_strategies::registry::Registry;
use realtime_strategies::settings::Settings;
use serde::Deserialize;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The generated strategy ConfigMap.
const STRATEGY_CONFIGMAP: &str = "k8s/base/configmap-strategies.yaml";
const DASHBOARD: &str = "k8s/grafana/realtime-strategies-dashboard.json";
const PORT: i64 = 8080;
/// Read by the host (`Settings::shard`) but provided by the platform, not by a ConfigMap: POD_NAME through the
/// downward API (checked on the StatefulSet below), HOSTNAME by the container runtime.
const PLATFORM_PROVIDED: &[&str] = &["POD_NAME", "HOSTNAME"];

fn root() -> &'static Path {
    Path::new(ROOT)
}

// ---------------------------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------------------------

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
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

fn k8s_files(ext: &[&str]) -> Vec<PathBuf> {
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

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// Every YAML document of a (multi-document) file; empty documents are skipped.
fn parse_docs(path: &Path) -> Result<Vec<Yaml>, String> {
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

struct Doc {
    file: String,
    v: Yaml,
}

impl Doc {
    fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or("")
    }
    fn at(&self) -> String {
        format!("{} {} ({})", self.kind(), self.name(), self.file)
    }
}

fn all_docs() -> Vec<Doc> {
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

fn of_kind<'a>(docs: &'a [Doc], kind: &str) -> Vec<&'a Doc> {
    docs.iter().filter(|d| d.kind() == kind).collect()
}

fn s(v: &Yaml) -> Option<&str> {
    v.as_str()
}

fn seq(v: &Yaml) -> &[Yaml] {
    v.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

/// A quantity or int-or-string value as text (YAML may give `1` or `"1"`).
fn text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[test]
fn every_manifest_parses_and_names_itself() {
    let files = k8s_files(&["yaml", "yml"]);
    assert!(!files.is_empty(), "no manifests under k8s/");
    let mut problems = Vec::new();
    for path in &files {
        let docs = match parse_docs(path) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{}: does not parse as YAML: {e}", rel(path)));
                continue;
            }
        };
        if docs.is_empty() {
            problems.push(format!("{}: no document", rel(path)));
        }
        for (i, d) in docs.iter().enumerate() {
            for (what, v) in [
                ("apiVersion", &d["apiVersion"]),
                ("kind", &d["kind"]),
                ("metadata.name", &d["metadata"]["name"]),
            ] {
                if s(v).is_none_or(str::is_empty) {
                    problems.push(format!("{} document {i}: missing {what}", rel(path)));
                }
            }
            let kind = s(&d["kind"]).unwrap_or("");
            if kind != "Kustomization" && s(&d["metadata"]["namespace"]) != Some(NAMESPACE) {
                problems.push(format!(
                    "{} document {i}: metadata.namespace is not {NAMESPACE}",
                    rel(path)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "manifest problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn kustomizations_reference_existing_resources() {
    let mut problems = Vec::new();
    let mut count = 0;
    for path in k8s_files(&["yaml", "yml"]) {
        if path.file_name().and_then(|n| n.to_str()) != Some("kustomization.yaml") {
            continue;
        }
        count += 1;
        let dir = path.parent().unwrap();
        for doc in parse_docs(&path).unwrap() {
            for r in seq(&doc["resources"]) {
                let r = s(r).unwrap_or("");
                if !dir.join(r).exists() {
                    problems.push(format!("{}: resource `{r}` does not exist", rel(&path)));
                }
            }
        }
    }
    assert!(
        count >= 3,
        "expected k8s/, k8s/queue-group and k8s/sharded kustomizations"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `(workload, pod template spec)` of every Deployment and StatefulSet.
fn workloads(docs: &[Doc]) -> Vec<(&Doc, &Yaml)> {
    docs.iter()
        .filter(|d| matches!(d.kind(), "Deployment" | "StatefulSet"))
        .map(|d| (d, &d.v["spec"]["template"]["spec"]))
        .collect()
}

fn probe_problems(at: &str, c: &Yaml, probe: &str, path: &str) -> Vec<String> {
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

#[test]
fn workloads_have_probes_resources_and_run_as_non_root() {
    let docs = all_docs();
    let w = workloads(&docs);
    let kinds: BTreeSet<&str> = w.iter().map(|(d, _)| d.kind()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["Deployment", "StatefulSet"]),
        "expected a Deployment (queue-group mode) and a StatefulSet (sharded mode)"
    );
    let mut problems = Vec::new();
    for (d, pod) in &w {
        let at = d.at();
        let containers = seq(&pod["containers"]);
        if containers.is_empty() {
            problems.push(format!("{at}: no containers"));
        }
        let pod_sc = &pod["securityContext"];
        for c in containers {
            let at = format!("{at} container {}", s(&c["name"]).unwrap_or("?"));
            if !seq(&c["ports"])
                .iter()
                .any(|p| p["containerPort"].as_i64() == Some(PORT))
            {
                problems.push(format!("{at}: no containerPort {PORT}"));
            }
            problems.extend(probe_problems(&at, c, "livenessProbe", "/healthz"));
            problems.extend(probe_problems(&at, c, "readinessProbe", "/ready"));
            for side in ["requests", "limits"] {
                for res in ["cpu", "memory"] {
                    if text(&c["resources"][side][res]).is_none() {
                        problems.push(format!("{at}: resources.{side}.{res} missing"));
                    }
                }
            }
            let sc = &c["securityContext"];
            let non_root = sc["runAsNonRoot"]
                .as_bool()
                .or(pod_sc["runAsNonRoot"].as_bool());
            if non_root != Some(true) {
                problems.push(format!("{at}: runAsNonRoot is not true"));
            }
            let uid = sc["runAsUser"].as_i64().or(pod_sc["runAsUser"].as_i64());
            if uid.is_none_or(|u| u == 0) {
                problems.push(format!(
                    "{at}: runAsUser must be set and non-zero, is {uid:?}"
                ));
            }
            if sc["readOnlyRootFilesystem"].as_bool() != Some(true) {
                problems.push(format!("{at}: readOnlyRootFilesystem is not true"));
            }
            if sc["allowPrivilegeEscalation"].as_bool() != Some(false) {
                problems.push(format!("{at}: allowPrivilegeEscalation is not false"));
            }
            if !seq(&sc["capabilities"]["drop"])
                .iter()
                .any(|c| s(c) == Some("ALL"))
            {
                problems.push(format!("{at}: capabilities.drop does not contain ALL"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "workload problems:\n{}",
        problems.join("\n")
    );
}

/// Environment of a workload's first container: `(envFrom ConfigMap names, env entries by name)`.
fn container_env(pod: &Yaml) -> (BTreeSet<String>, BTreeMap<String, Yaml>) {
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

fn configmaps(docs: &[Doc]) -> Vec<&Doc> {
    of_kind(docs, "ConfigMap")
}

fn configmap_data(d: &Doc) -> BTreeMap<String, String> {
    d.v["data"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((s(k)?.to_owned(), text(v).unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn workloads_take_their_environment_from_the_configmaps_and_the_secret() {
    let docs = all_docs();
    let cm_names: BTreeSet<String> = configmaps(&docs)
        .iter()
        .map(|d| d.name().to_owned())
        .collect();
    let secrets: BTreeMap<String, BTreeSet<String>> = of_kind(&docs, "Secret")
        .iter()
        .map(|d| {
            let keys = ["stringData", "data"]
                .iter()
                .filter_map(|k| d.v[*k].as_mapping())
                .flat_map(|m| m.keys().filter_map(|k| s(k).map(String::from)))
                .collect();
            (d.name().to_owned(), keys)
        })
        .collect();
    let mut problems = Vec::new();
    for (d, pod) in workloads(&docs) {
        let (from, env) = container_env(pod);
        if from != cm_names {
            problems.push(format!(
                "{}: envFrom ConfigMaps {from:?} != ConfigMaps under k8s/ {cm_names:?}",
                d.at()
            ));
        }
        for (name, e) in &env {
            let r = &e["valueFrom"]["secretKeyRef"];
            if let (Some(secret), Some(key)) = (s(&r["name"]), s(&r["key"])) {
                if !secrets.get(secret).is_some_and(|k| k.contains(key)) {
                    problems.push(format!(
                        "{}: {name} reads key {key} of Secret {secret}, which no Secret example under k8s/ has",
                        d.at()
                    ));
                }
            }
        }
        for needed in ["MONGODB_URI", "API_TOKEN"] {
            if !env.contains_key(needed) {
                problems.push(format!(
                    "{}: env {needed} (from the Secret) missing",
                    d.at()
                ));
            }
        }
    }
    let log_format: Vec<String> = configmaps(&docs)
        .iter()
        .filter_map(|d| configmap_data(d).get("LOG_FORMAT").cloned())
        .collect();
    if log_format != ["json"] {
        problems.push(format!(
            "LOG_FORMAT must be set once, to json; found {log_format:?}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn sharded_statefulset_derives_its_shard_from_the_pod_name() {
    let docs = all_docs();
    let sts = of_kind(&docs, "StatefulSet");
    assert_eq!(sts.len(), 1, "expected exactly one StatefulSet");
    let st = sts[0];
    let pod = &st.v["spec"]["template"]["spec"];
    let (_, env) = container_env(pod);
    let field = env
        .get("POD_NAME")
        .and_then(|e| s(&e["valueFrom"]["fieldRef"]["fieldPath"]));
    assert_eq!(
        field,
        Some("metadata.name"),
        "{}: POD_NAME must come from the downward API (fieldRef metadata.name)",
        st.at()
    );
    assert!(
        !env.contains_key("SHARD_INDEX"),
        "{}: SHARD_INDEX must not be set (derived from the ordinal)",
        st.at()
    );
    let replicas = st.v["spec"]["replicas"]
        .as_i64()
        .expect("StatefulSet replicas");
    let shard_count = env
        .get("SHARD_COUNT")
        .and_then(|e| text(&e["value"]))
        .expect("StatefulSet env SHARD_COUNT");
    assert!(replicas > 1, "sharded mode needs more than one replica");
    assert_eq!(
        shard_count,
        replicas.to_string(),
        "{}: SHARD_COUNT must equal spec.replicas",
        st.at()
    );
    // The ordinal parse the host does (Settings::shard) works on the names this StatefulSet produces.
    for i in 0..replicas {
        let name = format!("{}-{i}", st.name());
        let parsed = name.rsplit('-').next().and_then(|o| o.parse::<i64>().ok());
        assert_eq!(parsed, Some(i), "pod name {name}");
    }
    // Governing Service: headless, same selector labels.
    let service = s(&st.v["spec"]["serviceName"]).expect("serviceName");
    let svc = of_kind(&docs, "Service")
        .into_iter()
        .find(|d| d.name() == service)
        .unwrap_or_else(|| panic!("no Service {service} (the StatefulSet's serviceName)"));
    assert_eq!(
        s(&svc.v["spec"]["clusterIP"]),
        Some("None"),
        "{} must be headless",
        svc.at()
    );
    // The shared ConfigMap stays in queue-group mode; only the StatefulSet switches sharding on.
    let base = configmaps(&docs)
        .into_iter()
        .find_map(|d| configmap_data(d).get("SHARD_COUNT").cloned());
    assert_eq!(
        base.as_deref(),
        Some("1"),
        "ConfigMap SHARD_COUNT must be 1 (queue-group default)"
    );
}

fn labels_match(selector: &Yaml, labels: &Yaml) -> bool {
    selector
        .as_mapping()
        .is_some_and(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

#[test]
fn services_pdbs_and_autoscaling_fit_the_workloads() {
    let docs = all_docs();
    let mut problems = Vec::new();
    let services = of_kind(&docs, "Service");
    if !services.iter().any(|d| {
        d.v["spec"]["clusterIP"].as_str() != Some("None")
            && seq(&d.v["spec"]["ports"])
                .iter()
                .any(|p| p["port"].as_i64() == Some(PORT))
    }) {
        problems.push(format!("no (non-headless) Service on port {PORT}"));
    }
    // The decision service's default URL for us has no port: the Service must answer on 80 as well.
    if !services.iter().any(|d| {
        d.v["spec"]["clusterIP"].as_str() != Some("None")
            && seq(&d.v["spec"]["ports"])
                .iter()
                .any(|p| p["port"].as_i64() == Some(80) && p["targetPort"].as_str() == Some("http"))
    }) {
        problems.push("no (non-headless) Service on port 80 (the CIO's default URL)".to_owned());
    }
    let pdbs = of_kind(&docs, "PodDisruptionBudget");
    for (d, _) in workloads(&docs) {
        let labels = &d.v["spec"]["template"]["metadata"]["labels"];
        if !labels_match(&d.v["spec"]["selector"]["matchLabels"], labels) {
            problems.push(format!(
                "{}: selector does not match its pod labels",
                d.at()
            ));
        }
        if !pdbs
            .iter()
            .any(|p| labels_match(&p.v["spec"]["selector"]["matchLabels"], labels))
        {
            problems.push(format!(
                "{}: no PodDisruptionBudget selects its pods",
                d.at()
            ));
        }
        if !services
            .iter()
            .any(|svc| labels_match(&svc.v["spec"]["selector"], labels))
        {
            problems.push(format!("{}: no Service selects its pods", d.at()));
        }
    }
    let hpas = of_kind(&docs, "HorizontalPodAutoscaler");
    if hpas.is_empty() {
        problems.push("no HorizontalPodAutoscaler for queue-group mode".into());
    }
    for h in hpas {
        let target = &h.v["spec"]["scaleTargetRef"];
        let kind = s(&target["kind"]).unwrap_or("");
        let name = s(&target["name"]).unwrap_or("");
        if kind != "Deployment" {
            problems.push(format!(
                "{}: may only scale the queue-group Deployment, targets {kind} (a StatefulSet's replicas must equal SHARD_COUNT)",
                h.at()
            ));
        }
        if !docs.iter().any(|d| d.kind() == kind && d.name() == name) {
            problems.push(format!("{}: target {kind} {name} does not exist", h.at()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------------
// Environment variable parity
// ---------------------------------------------------------------------------------------------------------------

/// Variables declared by the clap settings.
fn settings_vars() -> BTreeSet<String> {
    Settings::command()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

fn is_env_name(lit: &str) -> bool {
    let mut chars = lit.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && lit.contains('_')
        && lit
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Production source files: the host (`src/`, without `src/bin/` tools), plugins and strategies (without the
/// SDK's `testing` module); each file cut at its first `#[cfg(test)]`.
fn production_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    for group in ["plugins", "strategies"] {
        for krate in std::fs::read_dir(root().join(group))
            .unwrap()
            .filter_map(Result::ok)
        {
            let src = krate.path().join("src");
            if src.is_dir() {
                walk(&src, &mut files);
            }
        }
    }
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !p.starts_with(root().join("src/bin")))
        .filter(|p| p.file_name().is_some_and(|n| n != "testing.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
            (rel(&p), text[..cut].to_owned())
        })
        .collect()
}

/// Variables read directly by name: the first argument of `env::var(..)`, `env::var_os(..)` or of a lookup
/// closure (`get(..)`, `ms(..)`, `lookup(..)`) when it is an upper-case literal, or an upper-case `const`
/// holding one (`std::env::var(ENV_MAX_SYMBOLS)`).
fn scanned_vars() -> BTreeMap<String, String> {
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
fn code_vars(registry: &Registry) -> BTreeMap<String, String> {
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
fn manifest_vars(docs: &[Doc]) -> BTreeMap<String, String> {
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

#[test]
fn configmaps_and_secret_provide_exactly_the_variables_the_code_reads() {
    let registry = Registry::load().expect("registry loads");
    let code = code_vars(&registry);
    let manifests = manifest_vars(&all_docs());
    let missing: Vec<String> = code
        .iter()
        .filter(|(k, _)| !manifests.contains_key(*k))
        .map(|(k, from)| format!("  {k}  (read by {from})"))
        .collect();
    let unknown: Vec<String> = manifests
        .iter()
        .filter(|(k, _)| !code.contains_key(*k))
        .map(|(k, at)| format!("  {k}  (in {at})"))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "environment variable parity broken.\n\
         Read by the code but missing from k8s/ ConfigMaps / Secret env ({}):\n{}\n\
         In k8s/ but read by no code ({}):\n{}\n\
         Strategy switches/parameters: regenerate with `cargo run -- k8s-configmap > k8s/base/configmap-strategies.yaml`; \
         host settings: edit k8s/base/configmap.yaml (or list deliberately unset ones in its {UNSET_ANNOTATION} annotation).",
        missing.len(),
        missing.join("\n"),
        unknown.len(),
        unknown.join("\n"),
    );
}

/// Names in the README's environment table rows (backticked, split on ` / `).
fn readme_env_names() -> (BTreeSet<String>, String) {
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

#[test]
fn readme_documents_every_setting() {
    let registry = Registry::load().expect("registry loads");
    let (names, rows) = readme_env_names();
    let mut problems = Vec::new();
    for pattern in ["STRATEGY_ENABLED_<ID>", "<ID>_<PARAM>"] {
        if !rows.contains(&format!("`{pattern}`")) {
            problems.push(format!("README env table has no `{pattern}` row"));
        }
    }
    // Strategy switches and anything under a strategy's `<ID>_` prefix are covered by the pattern rows.
    let prefixes: Vec<String> = registry
        .strategies()
        .iter()
        .map(|st| format!("{}_", st.id().to_ascii_uppercase()))
        .collect();
    let mut required: BTreeMap<String, String> = settings_vars()
        .into_iter()
        .map(|v| (v, "src/settings.rs".to_owned()))
        .collect();
    for (v, file) in scanned_vars() {
        required.entry(v).or_insert(file);
    }
    for (v, from) in required {
        let covered = v.starts_with("STRATEGY_ENABLED_")
            || prefixes.iter().any(|p| v.starts_with(p.as_str()));
        if !covered && !names.contains(&v) {
            problems.push(format!("README env table lacks `{v}` (read by {from})"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------------
// Generated strategy ConfigMap
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn strategy_configmap_is_current() {
    let registry = Registry::load().expect("registry loads");
    let expected = realtime_strategies::k8s_configmap::render(&registry);
    let actual = std::fs::read_to_string(root().join(STRATEGY_CONFIGMAP)).unwrap_or_default();
    if expected != actual {
        let e: BTreeSet<&str> = expected.lines().collect();
        let a: BTreeSet<&str> = actual.lines().collect();
        let stale: Vec<&&str> = a.difference(&e).collect();
        let new: Vec<&&str> = e.difference(&a).collect();
        panic!(
            "{STRATEGY_CONFIGMAP} is out of date with the registry; regenerate it with\n  \
             cargo run -- k8s-configmap > {STRATEGY_CONFIGMAP}\nlines to remove: {stale:#?}\nlines to add: {new:#?}"
        );
    }
}

/// All ConfigMap data under k8s/, by variable.
fn configmap_env(docs: &[Doc]) -> BTreeMap<String, String> {
    configmaps(docs)
        .into_iter()
        .flat_map(configmap_data)
        .collect()
}

#[test]
fn configmap_values_are_accepted_by_the_host() {
    let docs = all_docs();
    let env = configmap_env(&docs);
    // Host settings: parse them as clap would from the environment (`--<long>=<value>` per set variable).
    let mut args = vec!["realtime-strategies".to_owned()];
    for a in Settings::command().get_arguments() {
        let (Some(var), Some(long)) = (a.get_env(), a.get_long()) else {
            continue;
        };
        if let Some(v) = env.get(&*var.to_string_lossy()) {
            args.push(format!("--{long}={v}"));
        }
    }
    let settings = Settings::try_parse_from(&args)
        .unwrap_or_else(|e| panic!("ConfigMap settings rejected: {e}"));
    assert!(
        settings.nats_url.is_some(),
        "the cluster runs on NATS: NATS_URL must be set"
    );
    assert_eq!(settings.http_addr().map(|a| a.port()).ok(), Some(8080));
    assert_eq!(
        settings.shard().ok(),
        Some(None),
        "the shared ConfigMap is queue-group mode"
    );
    // Strategies: every switch and parameter passes the env layer, and the result is exactly the defaults.
    let registry = Registry::load().expect("registry loads");
    let lookup = |name: &str| env.get(name).cloned();
    let mut problems = Vec::new();
    for st in registry.strategies() {
        if st.enabled_in(&lookup) != st.descriptor.enabled_by_default {
            problems.push(format!(
                "{}: {} differs from the default switch",
                st.id(),
                st.descriptor.enabled_var()
            ));
        }
        match realtime_strategies::config::env_layer(st, &lookup) {
            Err(e) => problems.push(e.to_string()),
            Ok(layer) => {
                let mut merged = st.defaults.clone();
                realtime_strategies::config::merge_patch(&mut merged, &Json::Object(layer));
                if merged != st.defaults {
                    problems.push(format!(
                        "{}: the ConfigMap does not reproduce the defaults: {merged} != {}",
                        st.id(),
                        st.defaults
                    ));
                }
                if let Err(errors) = st.check_complete(&merged) {
                    problems.push(format!("{}: {errors:?}", st.id()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------------
// Grafana dashboard
// ---------------------------------------------------------------------------------------------------------------

/// Metric family names of the host's exposition. Label-vector families without any child are not rendered, so
/// one child of each is created first.
fn exported_metric_names() -> BTreeSet<String> {
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
const PENDING_METRICS: &[&str] = &[];

const PROMQL_WORDS: &[&str] = &[
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
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
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

fn collect_exprs(v: &Json, path: &str, out: &mut Vec<(String, String)>) {
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

#[test]
fn promql_name_extraction_understands_the_syntax_used() {
    let names = promql_metric_names(
        r#"histogram_quantile(0.99, sum by (le, message_type) (rate(realtime_message_processing_latency_seconds_bucket{job=~"$job", x="a(b)"}[$__rate_interval])))"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["realtime_message_processing_latency_seconds_bucket".to_owned()])
    );
    let names = promql_metric_names(
        "sum(rate(a_total[5m])) / ignoring(x) group_left sum(b) * 100 + c offset 5m",
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_total".to_owned(), "b".to_owned(), "c".to_owned()])
    );
}

#[test]
fn dashboard_queries_only_metrics_the_host_exports() {
    let text = std::fs::read_to_string(root().join(DASHBOARD)).unwrap();
    let dashboard: Json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "no panels"
    );
    let exported = exported_metric_names();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, "", &mut exprs);
    assert!(
        exprs.len() >= 8,
        "expected at least 8 queries, found {}",
        exprs.len()
    );
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (path, expr) in &exprs {
        let names = promql_metric_names(expr);
        if names.is_empty() {
            problems.push(format!("{path}: `{expr}` references no metric"));
        }
        for n in names {
            if !exported.contains(&n) && !PENDING_METRICS.contains(&n.as_str()) {
                problems.push(format!(
                    "{path}: `{n}` is not exported by the host (query `{expr}`)"
                ));
            }
            used.insert(n);
        }
    }
    for required in [
        "realtime_messages_processed_total",
        "realtime_messages_dropped_total",
        "realtime_nats_slow_consumer_total",
        "realtime_message_processing_latency_seconds_bucket",
        "realtime_signal_latency_seconds_bucket",
        "realtime_signals_published_total",
        "memory_usage_bytes",
        "realtime_nats_connected",
    ] {
        if !used.contains(required) {
            problems.push(format!("no panel queries `{required}`"));
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems ({} metric families exported: {exported:?}):\n{}",
        exported.len(),
        problems.join("\n")
    );
}

/// Writes are protected twice in the cluster: the token comes from the Secret (a required key, so a missing token
/// stops the pod instead of opening writes) and a NetworkPolicy limits who reaches port 8080 of every workload.
#[test]
fn api_is_protected_by_the_secret_token_and_a_network_policy() {
    let docs = all_docs();
    let mut problems = Vec::new();
    let policies = of_kind(&docs, "NetworkPolicy");
    for (d, pod) in workloads(&docs) {
        let labels = &d.v["spec"]["template"]["metadata"]["labels"];
        let guarded = policies.iter().any(|p| {
            labels_match(&p.v["spec"]["podSelector"]["matchLabels"], labels)
                && seq(&p.v["spec"]["policyTypes"])
                    .iter()
                    .any(|t| s(t) == Some("Ingress"))
                && !seq(&p.v["spec"]["ingress"]).is_empty()
                && seq(&p.v["spec"]["ingress"]).iter().all(|rule| {
                    !seq(&rule["from"]).is_empty()
                        && seq(&rule["ports"])
                            .iter()
                            .all(|port| port["port"].as_i64() == Some(PORT))
                })
        });
        if !guarded {
            problems.push(format!(
                "{}: no NetworkPolicy limits ingress to port {PORT} of its pods to named sources",
                d.at()
            ));
        }
        let env = container_env(pod).1;
        let token = &env
            .get("API_TOKEN")
            .map(|e| e["valueFrom"]["secretKeyRef"].clone());
        match token {
            Some(r) if r.is_mapping() => {
                if r["optional"].as_bool() == Some(true) {
                    problems.push(format!("{}: API_TOKEN must not be optional", d.at()));
                }
            }
            _ => problems.push(format!("{}: API_TOKEN is not taken from a Secret", d.at())),
        }
    }
    let auth: Vec<String> = configmaps(&docs)
        .iter()
        .filter_map(|d| configmap_data(d).get("API_AUTH").cloned())
        .collect();
    if auth != ["required"] {
        problems.push(format!(
            "API_AUTH must be set once, to required; found {auth:?}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The binary's `k8s-configmap` subcommand prints exactly the committed file.
#[test]
fn the_configmap_subcommand_prints_the_committed_file() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_realtime-strategies"))
        .arg("k8s-configmap")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(root().join(STRATEGY_CONFIGMAP)).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}
