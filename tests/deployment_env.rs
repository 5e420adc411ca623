//! Environment variable parity: the variables the code reads == the variables the manifests provide, the README
//! documents every setting, the ConfigMap values are accepted by the host, and the strategies' ConfigMap is the one
//! `realtime-strategies k8s-configmap` generates from the registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod k8s_support;

use k8s_support::*;

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
    for (v, from) in registry_vars(&registry) {
        required.entry(v).or_insert(from);
    }
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
