//! The Kubernetes manifests under `k8s/`: every document parses and names itself, kustomizations resolve, workloads
//! have probes, resources and a non-root user, the sharded StatefulSet derives its shard from the pod name, services,
//! PDBs and autoscaling fit the workloads, and the API is protected by the Secret token and a NetworkPolicy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod k8s_support;

use k8s_support::*;

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

/// Each workload's CPU request and limit equal its processing threads (its env, else the ConfigMap's): every thread
/// gets the core it uses under load, and no more threads run than the pod has cores.
#[test]
fn cpu_matches_processing_threads() {
    let docs = all_docs();
    let shared = configmap_env(&docs);
    let mut problems = Vec::new();
    for (d, pod) in workloads(&docs) {
        let (_, env) = container_env(pod);
        let threads = env
            .get("PROCESSING_THREADS")
            .and_then(|e| text(&e["value"]))
            .or_else(|| shared.get("PROCESSING_THREADS").cloned());
        let Some(threads) = threads
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| *t >= 1.0)
        else {
            problems.push(format!(
                "{}: PROCESSING_THREADS must be set to a number >= 1 (0 = the node's cores, which the CPU \
                 request cannot follow)",
                d.at()
            ));
            continue;
        };
        let c = &seq(&pod["containers"])[0];
        for side in ["requests", "limits"] {
            let cores =
                text(&c["resources"][side]["cpu"]).and_then(|v| match v.strip_suffix('m') {
                    Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
                    None => v.parse::<f64>().ok(),
                });
            if cores != Some(threads) {
                problems.push(format!(
                    "{}: resources.{side}.cpu {cores:?} must equal PROCESSING_THREADS {threads}",
                    d.at()
                ));
            }
        }
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
