//! The web console in a real browser: Debian's chromium driven through chromedriver (WebDriver, fantoccini) against
//! a real host replaying the bundled recording. Skips with a loud message only when chromedriver is missing and `CI`
//! is unset; in CI it must run (tests/run.sh installs chromium and chromium-driver).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{env_of, free_port, settings, TestHost};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

fn find_binary(env: &str, candidates: &[&str]) -> Option<String> {
    if let Ok(p) = std::env::var(env) {
        return Some(p);
    }
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| (*p).to_owned())
}

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
    _log_dir: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver and waits for its `/status`. A driver that exits (its port taken between `free_port` and
    /// its bind, say) is retried on another port; one that never answers fails the test with its own log.
    async fn start(binary: &str) -> Self {
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log_path = log_dir.path().join("chromedriver.log");
        let mut attempts = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(&log_path).expect("chromedriver log file");
            let log_err = log.try_clone().expect("chromedriver log file");
            // Its own process group, so the browsers it starts can be stopped with it even when a test fails; no
            // terminal on stdin, so a CI runner's tty cannot stop it.
            let mut child = Command::new(binary)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .expect("chromedriver starts");
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(60);
            let exited = loop {
                if let Ok(r) = reqwest::get(format!("{url}/status")).await {
                    if r.status().is_success() {
                        return Self {
                            child,
                            url,
                            _log_dir: log_dir,
                        };
                    }
                }
                if let Ok(Some(status)) = child.try_wait() {
                    break Some(status);
                }
                if Instant::now() >= deadline {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
            attempts.push(format!("port {port}: exit {exited:?}; log:\n{log_text}"));
            if exited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
        panic!("chromedriver did not start:\n{}", attempts.join("\n---\n"));
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is chromedriver's own (process_group(0) above): chromedriver and the browsers it launched.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, chromium: &str, profile: &std::path::Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:loggingPrefs": { "browser": "ALL" },
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--no-default-browser-check", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session")
}

/// Evaluates `script` (a function body returning a value) until it returns something truthy.
async fn wait_js(c: &Client, what: &str, script: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = c.execute(script, vec![]).await.unwrap_or(Value::Null);
        let truthy = match &v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().unwrap_or(0.0) != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(_) => true,
        };
        if truthy {
            return v;
        }
        if Instant::now() >= deadline {
            let page = c
                .execute(
                    "return { status: document.querySelector('#config-status').textContent, \
                     banner: document.querySelector('#banner').hidden ? '' : document.querySelector('#banner').textContent, \
                     form: document.querySelector('#param-form').innerHTML.slice(0, 3000) }",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            panic!("timed out after {secs}s waiting for {what} (last: {v}); page: {page:#}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
}

async fn type_into(c: &Client, selector: &str, text: &str) {
    let input = css(c, selector).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Clicks Save, checks the confirmation names `scope` and previews `field`, and confirms.
async fn confirm_save(c: &Client, scope: &str, field: &str) {
    css(c, "#save-btn").await.click().await.unwrap();
    let preview = wait_js(
        c,
        "the save confirmation with its diff preview",
        &format!(
            "const d = document.querySelector('#confirm-dialog'); const p = document.querySelector('#confirm-detail [data-preview=\"{field}\"]'); \
             return d.open && p ? document.querySelector('#confirm-text').textContent + ' | ' + p.textContent + ' | ' + document.querySelector('#confirm-ok').textContent : ''"
        ),
        20,
    )
    .await;
    let preview = preview.as_str().unwrap();
    assert!(preview.contains(&format!("for {scope}")), "{preview}");
    assert!(preview.contains('→'), "{preview}");
    css(c, "#confirm-ok").await.click().await.unwrap();
}

/// Runs axe-core (vendored in tests/vendor) on the page as it is; returns the violations.
async fn axe_violations(c: &Client) -> Vec<Value> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vendor/axe-core/axe.min.js"
    ))
    .unwrap();
    c.execute(&source, vec![]).await.unwrap();
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) })))).catch(e => done([{ id: 'axe-error', error: String(e) }]));",
            vec![],
        )
        .await
        .unwrap();
    result.as_array().cloned().unwrap_or_default()
}

/// Severe entries of the browser's console log (chromedriver's log endpoint).
async fn console_errors(c: &Client, driver: &Driver) -> Vec<Value> {
    let sid = c.session_id().await.unwrap().expect("session id");
    let r: Value = reqwest::Client::new()
        .post(format!("{}/session/{sid}/se/log", driver.url))
        .json(&json!({ "type": "browser" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect()
}

async fn no_horizontal_overflow(c: &Client, width: u32) {
    c.set_window_size(width, 900).await.unwrap();
    let inner = wait_js(
        c,
        "the new viewport width",
        &format!("return Math.abs(window.innerWidth - {width}) <= 20 ? window.innerWidth : 0"),
        10,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let wide = js(
        c,
        "return [document.documentElement.scrollWidth, window.innerWidth, \
         [...document.querySelectorAll('body *')].filter(e => { const r = e.getBoundingClientRect(); \
         return r.width > 0 && r.right > window.innerWidth + 1 && !e.closest('.table-wrap') && \
         getComputedStyle(e).position !== 'absolute'; }).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)]",
    )
    .await;
    assert!(
        wide[0].as_f64().unwrap() <= wide[1].as_f64().unwrap(),
        "layout overflows at {width}px (viewport {inner}): {wide}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let Some(chromedriver) = find_binary(
        "CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is missing but CI is set: the browser test must run in CI (tests/run.sh installs chromium-driver)"
        );
        eprintln!(
            "\n\n########################################################################\n\
             ### SKIPPED console_browser: chromedriver not found.                 ###\n\
             ### Install it (apt-get install chromium chromium-driver) or run       ###\n\
             ### tests/run.sh; set CHROMEDRIVER / CHROMIUM to other locations.      ###\n\
             ########################################################################\n\n"
        );
        return;
    };
    let chromium = find_binary(
        "CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    )
    .expect("chromium is installed next to chromedriver");

    let db = common::fresh_config_db();
    let first_settings = || {
        settings(&[
            "--replay-speed",
            "20",
            "--signals-to-stdout",
            "false",
            "--config-db-path",
            &db,
        ])
    };
    let host = TestHost::start(first_settings(), env_of(&[])).await;
    host.wait_ready(30).await;
    let driver = Driver::start(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, &chromium, profile.path()).await;

    // A browser asking for / gets the console (API clients keep the JSON service map).
    c.goto(&host.url("/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path() == "/ui/");
    let (_, root) = host.get_json("/").await;
    assert_eq!(root["endpoints"]["console"], "/ui/");

    // A replay cannot be mistaken for a live feed: a banner with the recording and its date, "not traded".
    let banner = wait_js(
        &c,
        "the replay banner",
        "const b = document.querySelector('#source-banner'); return b && !b.hidden ? b.textContent : ''",
        20,
    )
    .await;
    let banner = banner.as_str().unwrap();
    assert!(
        banner.contains("STANDALONE REPLAY")
            && banner.contains("NOT traded")
            && banner.contains("2024-08-08"),
        "{banner}"
    );
    assert!(js(
        &c,
        "return document.querySelector('#signals-h').textContent"
    )
    .await
    .as_str()
    .unwrap()
    .contains("not traded"));

    // Every registered strategy is listed, with its enabled state and type.
    let (_, list) = host.get_json("/api/v1/strategies").await;
    let strategies = list["data"].as_array().unwrap().clone();
    assert!(!strategies.is_empty());
    wait_js(
        &c,
        "the strategy list",
        &format!(
            "return document.querySelectorAll('#strategy-list [data-strategy]').length === {}",
            strategies.len()
        ),
        20,
    )
    .await;
    for s in &strategies {
        let id = s["strategy_id"].as_str().unwrap();
        let text = css(&c, &format!("[data-strategy='{id}']"))
            .await
            .text()
            .await
            .unwrap();
        assert!(text.contains(s["name"].as_str().unwrap()), "{text}");
        assert!(text.contains(if s["enabled"] == true {
            "enabled"
        } else {
            "disabled"
        }));
        assert!(text.contains(s["type"].as_str().unwrap()), "{text}");
    }

    // The form library renders every registered strategy's schema (as the API serves it), labelled fields and all.
    for s in &strategies {
        let id = s["strategy_id"].as_str().unwrap();
        let (_, schema) = host
            .get_json(&format!("/api/v1/strategies/{id}/schema"))
            .await;
        let props: Vec<String> = schema["metadata"]["json_schema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        css(&c, &format!("[data-strategy='{id}']"))
            .await
            .click()
            .await
            .unwrap();
        wait_js(
            &c,
            &format!("the {id} form"),
            &format!(
                "const f = document.querySelector('#param-form[data-strategy=\"{id}\"]'); \
                 return f && f.querySelectorAll('[data-field]').length === {} && \
                 f.querySelectorAll('[data-provenance]').length === {}",
                props.len(),
                props.len()
            ),
            20,
        )
        .await;
        for p in &props {
            let labelled = js(
                &c,
                &format!(
                    "const f = document.querySelector('#param-form [data-field=\"{p}\"]'); \
                     return [...f.querySelectorAll('input, select, textarea')].filter(i => i.type !== 'hidden') \
                       .every(i => i.labels && i.labels.length > 0 || i.getAttribute('aria-label'))"
                ),
            )
            .await;
            assert_eq!(labelled, json!(true), "{id}.{p} has an unlabelled input");
        }
    }

    // The glue and library also take schemars' other 2020-12 shapes: $defs + $ref enums and nullable unions.
    let rendered = c
        .execute_async(
            r##"const done = arguments[arguments.length - 1];
               const schema = { "$schema": "https://json-schema.org/draft/2020-12/schema", title: "Probe",
                 type: "object", additionalProperties: false,
                 properties: {
                   limit: { type: ["number", "null"], format: "double", minimum: 0, default: null, description: "nullable" },
                   venue: { "$ref": "#/$defs/Venue", default: "kraken" },
                   venues: { type: "array", items: { "$ref": "#/$defs/Venue" }, default: ["coinbase"] } },
                 "$defs": { Venue: { type: "string", enum: ["coinbase", "kraken"], description: "exchange" } } };
               const holder = document.createElement('div');
               document.body.append(holder);
               RSConsole.renderSchema(holder, schema).then((ed) => {
                 const value = ed.getValue();
                 const options = [...holder.querySelectorAll('select option')].map(o => o.value);
                 const inputs = holder.querySelectorAll('input, select').length;
                 ed.destroy(); holder.remove();
                 done({ value, options, inputs });
               }, (e) => done({ error: String(e) }));"##,
            vec![],
        )
        .await
        .unwrap();
    assert!(rendered.get("error").is_none(), "{rendered}");
    assert_eq!(rendered["value"]["limit"], Value::Null, "{rendered}");
    assert_eq!(rendered["value"]["venue"], "kraken", "{rendered}");
    assert_eq!(
        rendered["value"]["venues"],
        json!(["coinbase"]),
        "{rendered}"
    );
    assert!(
        rendered["options"]
            .as_array()
            .unwrap()
            .contains(&json!("coinbase")),
        "{rendered}"
    );

    // orderbook_skew, chosen with the keyboard: every parameter with its default, provenance "default".
    let button = css(&c, "[data-strategy='orderbook_skew']").await;
    button.send_keys(&Key::Enter.to_string()).await.unwrap();
    let (_, defaults) = host
        .get_json("/api/v1/strategies/orderbook_skew/defaults")
        .await;
    let defaults = defaults["data"].as_object().unwrap().clone();
    wait_js(
        &c,
        "the orderbook_skew form",
        "return !!document.querySelector('#param-form[data-strategy=\"orderbook_skew\"] [data-field=\"buy_threshold\"] input')",
        20,
    )
    .await;
    // Enter keeps the focus on the strategy chosen (the list is re-rendered, not the focus lost to the page).
    assert_eq!(
        js(
            &c,
            "return document.activeElement && document.activeElement.dataset.strategy"
        )
        .await,
        "orderbook_skew"
    );
    // Each card says whether its strategy runs, has no data (and why), or is disabled, as /info reports.
    let (_, info) = host.get_json("/info").await;
    for (id, st) in info["strategies"]["status"].as_object().unwrap() {
        let badge = js(
            &c,
            &format!("const b = document.querySelector('[data-strategy=\"{id}\"] [data-runtime]'); return b ? b.dataset.runtime : 'none'"),
        )
        .await;
        let enabled = strategies
            .iter()
            .any(|s| s["strategy_id"] == id.as_str() && s["enabled"] == true);
        match st["state"].as_str().unwrap() {
            _ if !enabled => assert_eq!(badge, "none", "{id} is disabled"),
            "no_data" => assert_eq!(badge, "no_data", "{id}"),
            "ready" => assert_eq!(badge, "ready", "{id}"),
            _ => assert_eq!(badge, "none", "{id}"),
        }
    }
    // The host-level parameters (enabled, stop_loss_pct, take_profit_pct) are in every form too.
    for name in ["enabled", "stop_loss_pct", "take_profit_pct"] {
        let present = js(
            &c,
            &format!("return !!document.querySelector('#param-form [data-field=\"{name}\"]')"),
        )
        .await;
        assert_eq!(present, json!(true), "{name} missing from the form");
    }
    for (name, value) in defaults
        .iter()
        .filter(|(n, _)| !realtime_strategies::host_params::is_host_param(n))
    {
        let shown = js(
            &c,
            &format!(
                "return document.querySelector('#param-form [data-field=\"{name}\"] input').value"
            ),
        )
        .await;
        assert_eq!(
            shown.as_str().unwrap().parse::<f64>().ok(),
            value.as_f64(),
            "{name}: form shows {shown}, default {value}"
        );
        let prov = js(
            &c,
            &format!("return document.querySelector('[data-provenance=\"{name}\"]').textContent"),
        )
        .await;
        assert_eq!(prov, "default");
    }

    // Out of range: the API's own error appears beside the field, and nothing is stored.
    type_into(&c, "#author-input", "console-test").await;
    type_into(&c, "[data-field='buy_threshold'] input", "5").await;
    let (_, check) = reqwest::Client::new()
        .post(host.url("/api/v1/config/validate"))
        .json(&json!({ "strategy_id": "orderbook_skew", "parameters": { "buy_threshold": 5 } }))
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    let check: Value = check.json().await.unwrap();
    let api_message = check["data"]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    // (typing replaces the old value, so a transient error for the empty field may come and go first)
    wait_js(
        &c,
        "the API's error beside buy_threshold",
        &format!(
            "const e = document.querySelector('[data-field=\"buy_threshold\"] .api-error'); \
             return !!e && e.textContent === {}",
            json!(api_message)
        ),
        20,
    )
    .await;
    type_into(&c, "#reason-input", "too far").await;
    css(&c, "#save-btn").await.click().await.unwrap();
    wait_js(
        &c,
        "the refusal",
        "return document.querySelector('#config-status').textContent.includes('Not saved')",
        20,
    )
    .await;
    let (_, cfg) = host
        .get_json("/api/v1/strategies/orderbook_skew/config")
        .await;
    assert_eq!(cfg["data"]["parameters"]["buy_threshold"], 1.2);
    assert_eq!(cfg["data"]["provenance"]["buy_threshold"], "default");
    let (_, audit) = host
        .get_json("/api/v1/strategies/orderbook_skew/audit")
        .await;
    assert_eq!(audit["data"], json!([]));

    // A valid value with a reason is saved, shown with provenance "global", and audited with its diff.
    async fn save_value(c: &Client, value: &str, reason: &str, version: u64) {
        type_into(c, "[data-field='buy_threshold'] input", value).await;
        wait_js(
            c,
            "the edit to be checked",
            "return !document.querySelector('#param-form .api-error') && !document.querySelector('#save-btn').disabled",
            20,
        )
        .await;
        type_into(c, "#reason-input", reason).await;
        confirm_save(c, "ALL symbols", "buy_threshold").await;
        wait_js(
            c,
            "the save",
            &format!(
                "return document.querySelector('#config-status').textContent.includes('Saved as version {version}') && \
                 document.querySelector('[data-effective=\"buy_threshold\"]').textContent === '{value}'"
            ),
            20,
        )
        .await;
    }
    save_value(&c, "1.3", "raise the buy threshold", 1).await;
    assert_eq!(
        js(
            &c,
            "return document.querySelector('[data-provenance=\"buy_threshold\"]').textContent"
        )
        .await,
        "global"
    );
    let (_, cfg) = host
        .get_json("/api/v1/strategies/orderbook_skew/config")
        .await;
    assert_eq!(cfg["data"]["parameters"]["buy_threshold"], 1.3);
    assert_eq!(cfg["data"]["provenance"]["buy_threshold"], "global");
    let row = wait_js(
        &c,
        "the audit row of version 1",
        "const r = document.querySelector('#audit-table tr[data-version=\"1\"]'); return r ? r.textContent : ''",
        20,
    )
    .await;
    let row = row.as_str().unwrap();
    assert!(
        row.contains("console-test") && row.contains("raise the buy threshold"),
        "{row}"
    );
    let diff = js(
        &c,
        "return document.querySelector('#audit-table tr[data-version=\"1\"] [data-diff=\"buy_threshold\"]').textContent",
    )
    .await;
    assert!(diff.as_str().unwrap().contains("→ 1.3"), "{diff}");

    // A second change, then one confirmed click rolls back to version 1.
    save_value(&c, "1.5", "try 1.5", 2).await;
    let diff = wait_js(
        &c,
        "the audit row of version 2",
        "const d = document.querySelector('#audit-table tr[data-version=\"2\"] [data-diff=\"buy_threshold\"]'); return d ? d.textContent : ''",
        20,
    )
    .await;
    assert!(diff.as_str().unwrap().contains("1.3 → 1.5"), "{diff}");
    // Versions are named with their scope; the rollback's confirmation previews the change.
    let label = js(
        &c,
        "return document.querySelector('button[data-rollback=\"1\"]').textContent + ' | ' + \
         document.querySelector('#audit-table tr[data-version=\"2\"] .version').textContent",
    )
    .await;
    assert_eq!(label, "Roll back global to v1 | global v2");
    css(&c, "button[data-rollback='1']")
        .await
        .click()
        .await
        .unwrap();
    let preview = wait_js(
        &c,
        "the rollback preview",
        "const p = document.querySelector('#confirm-detail [data-preview=\"buy_threshold\"]'); return p ? p.textContent : ''",
        10,
    )
    .await;
    assert!(preview.as_str().unwrap().contains("1.5 → 1.3"), "{preview}");
    css(&c, "#confirm-ok").await.click().await.unwrap();
    wait_js(
        &c,
        "the rollback",
        "return document.querySelector('#config-status').textContent.includes('Rolled back') && \
         document.querySelector('[data-effective=\"buy_threshold\"]').textContent === '1.3'",
        20,
    )
    .await;
    let (_, cfg) = host
        .get_json("/api/v1/strategies/orderbook_skew/config")
        .await;
    assert_eq!(cfg["data"]["parameters"]["buy_threshold"], 1.3);
    // The operation is shown as the API gives it.
    wait_js(
        &c,
        "the rollback's operation in the history",
        "const r = document.querySelector('#audit-table tr[data-version=\"3\"] .operation'); return !!r && r.textContent === 'rollback'",
        20,
    )
    .await;

    // Delete the override, then restore it from the history.
    type_into(&c, "#reason-input", "back to defaults").await;
    css(&c, "#delete-btn").await.click().await.unwrap();
    css(&c, "#confirm-ok").await.click().await.unwrap();
    wait_js(
        &c,
        "the delete",
        "return document.querySelector('[data-provenance=\"buy_threshold\"]').textContent === 'default' && \
         !!document.querySelector('button[data-restore]')",
        20,
    )
    .await;
    let (_, cfg) = host
        .get_json("/api/v1/strategies/orderbook_skew/config")
        .await;
    assert_eq!(cfg["data"]["provenance"]["buy_threshold"], "default");
    css(&c, "button[data-restore]").await.click().await.unwrap();
    css(&c, "#confirm-ok").await.click().await.unwrap();
    wait_js(
        &c,
        "the restore",
        "return document.querySelector('[data-provenance=\"buy_threshold\"]').textContent === 'global' && \
         document.querySelector('[data-effective=\"buy_threshold\"]').textContent === '1.3'",
        20,
    )
    .await;
    let (_, cfg) = host
        .get_json("/api/v1/strategies/orderbook_skew/config")
        .await;
    assert_eq!(cfg["data"]["parameters"]["buy_threshold"], 1.3);

    // The scope saved is the scope shown: an edit of the global form, then "One symbol" + ETHUSDT typed but not
    // loaded: Save is off and says why (before, this wrote a global override while the radio said ETHUSDT).
    assert_eq!(
        js(&c, "return document.querySelector('#save-btn').textContent").await,
        "Save for ALL symbols"
    );
    type_into(&c, "[data-field='top_levels'] input", "9").await;
    wait_js(
        &c,
        "the edit",
        "return !document.querySelector('#save-btn').disabled",
        20,
    )
    .await;
    css(&c, "input[name=scope][value=symbol]")
        .await
        .click()
        .await
        .unwrap();
    type_into(&c, "#symbol-input", "ethusdt").await;
    let hint = wait_js(
        &c,
        "the scope hint",
        "const h = document.querySelector('#scope-hint'); return document.querySelector('#save-btn').disabled && !h.hidden ? h.textContent : ''",
        10,
    )
    .await;
    assert!(
        hint.as_str()
            .unwrap()
            .contains("Press Load to edit ETHUSDT"),
        "{hint}"
    );
    let (_, audit_before) = host
        .get_json("/api/v1/strategies/orderbook_skew/audit?limit=100")
        .await;
    // Loading another scope with unsaved edits asks first, listing them.
    css(&c, "#symbol-load").await.click().await.unwrap();
    let ask = wait_js(
        &c,
        "the unsaved-edits warning",
        "const d = document.querySelector('#confirm-dialog'); const p = document.querySelector('#confirm-detail [data-preview=\"top_levels\"]'); \
         return d.open && p ? document.querySelector('#confirm-text').textContent + ' | ' + p.textContent : ''",
        10,
    )
    .await;
    assert!(
        ask.as_str()
            .unwrap()
            .contains("Discard your unsaved edits to orderbook_skew for ALL symbols"),
        "{ask}"
    );
    let violations = axe_violations(&c).await;
    assert!(
        violations.is_empty(),
        "axe-core with the confirmation open: {violations:#?}"
    );
    css(&c, "#confirm-ok").await.click().await.unwrap();
    let (_, audit_after) = host
        .get_json("/api/v1/strategies/orderbook_skew/audit?limit=100")
        .await;
    assert_eq!(audit_before, audit_after, "nothing was written");
    wait_js(
        &c,
        "the ETHUSDT configuration",
        "return document.querySelector('#config-meta').textContent.startsWith('Symbol ETHUSDT') && \
         document.querySelector('[data-provenance=\"buy_threshold\"]').textContent === 'global'",
        20,
    )
    .await;
    assert_eq!(
        js(&c, "return document.querySelector('#save-btn').textContent").await,
        "Save for ETHUSDT"
    );
    type_into(&c, "[data-field='top_levels'] input", "7").await;
    type_into(&c, "#reason-input", "deeper book for ETH").await;
    confirm_save(&c, "ETHUSDT", "top_levels").await;
    wait_js(
        &c,
        "the symbol save",
        "return document.querySelector('#config-status').textContent.includes('Saved as version 1') && \
         document.querySelector('[data-provenance=\"top_levels\"]').textContent === 'symbol'",
        20,
    )
    .await;
    let (_, cfg) = host
        .get_json("/api/v1/strategies/orderbook_skew/config/ETHUSDT")
        .await;
    assert_eq!(cfg["data"]["parameters"]["top_levels"], 7);
    assert_eq!(cfg["data"]["provenance"]["top_levels"], "symbol");
    assert_eq!(cfg["data"]["provenance"]["buy_threshold"], "global");

    // Live market data from the replayed recording: the table lists the tracked symbols, the chart draws.
    let listed = wait_js(
        &c,
        "the market table",
        "const rows = [...document.querySelectorAll('#market-table tbody tr[data-symbol]')]; \
         return rows.length >= 2 ? rows.map(r => r.dataset.symbol) : null",
        60,
    )
    .await;
    let (_, all) = host.get_json("/api/v1/metrics/all").await;
    for sym in all["data"].as_object().unwrap().keys() {
        assert!(
            listed.as_array().unwrap().contains(&json!(sym)),
            "{sym} missing from {listed}"
        );
    }
    wait_js(
        &c,
        "the summary counts",
        "const b = document.querySelector('[data-summary=\"bullish\"]'); return b && /^\\d+$/.test(b.textContent)",
        20,
    )
    .await;
    wait_js(
        &c,
        "the pressure chart",
        "return !!document.querySelector('#chart canvas') && /points/.test(document.querySelector('#chart-summary').textContent)",
        30,
    )
    .await;
    css(&c, "input[name=timeframe][value='5m']")
        .await
        .click()
        .await
        .unwrap();
    wait_js(
        &c,
        "the 5m window",
        "return /^5m window/.test(document.querySelector('#chart-summary').textContent)",
        20,
    )
    .await;
    // The chart covers the window (downsampled, and it says so), not just the newest 100 samples (~10 s).
    let span = wait_js(
        &c,
        "a chart spanning the window",
        "const s = document.querySelector('#chart-summary'); const v = Number(s.dataset.spanS); return v > 60 && /mean of|every sample/.test(s.textContent) ? v : 0",
        30,
    )
    .await;
    assert!(span.as_f64().unwrap() <= 300.0, "{span}");

    // Live signals arrive over the SSE stream.
    let first = wait_js(
        &c,
        "a live signal",
        "const r = document.querySelector('#signal-table tr.signal'); return r ? r.textContent : ''",
        90,
    )
    .await;
    assert!(
        first.as_str().unwrap().contains("USDT"),
        "signal row: {first}"
    );
    assert_eq!(
        js(
            &c,
            "return document.querySelector('#stream-status').textContent"
        )
        .await,
        "replaying (not live)"
    );

    // The signal explorer: filter by strategy, pause and resume, a detail row, the rate and the hidden count.
    let shown_strategy = js(
        &c,
        "return document.querySelector('#signal-table tr.signal').dataset.strategy",
    )
    .await;
    let shown_strategy = shown_strategy.as_str().unwrap().to_owned();
    js(
        &c,
        &format!(
            "const s = document.querySelector('#filter-strategy'); s.value = {}; s.dispatchEvent(new Event('change')); return true",
            json!(shown_strategy)
        ),
    )
    .await;
    let visible_other = js(
        &c,
        &format!(
            "return [...document.querySelectorAll('#signal-table tr.signal')].filter(r => !r.hidden && r.dataset.strategy !== {}).length",
            json!(shown_strategy)
        ),
    )
    .await;
    assert_eq!(visible_other, json!(0));
    js(&c, "const s = document.querySelector('#filter-strategy'); s.value = ''; s.dispatchEvent(new Event('change')); return true").await;
    css(&c, "#signal-pause").await.click().await.unwrap();
    let rows_paused = js(
        &c,
        "return document.querySelectorAll('#signal-table tr.signal').length",
    )
    .await;
    let waiting = wait_js(
        &c,
        "signals held while paused",
        "const t = document.querySelector('#signal-rate').textContent; const m = t.match(/paused: (\\d+) waiting/); return m && Number(m[1]) > 0 ? Number(m[1]) : 0",
        60,
    )
    .await;
    assert_eq!(
        js(
            &c,
            "return document.querySelectorAll('#signal-table tr.signal').length"
        )
        .await,
        rows_paused,
        "no row is added while paused ({waiting} waiting)"
    );
    css(&c, "#signal-pause").await.click().await.unwrap();
    assert!(
        js(
            &c,
            "return document.querySelectorAll('#signal-table tr.signal').length"
        )
        .await
        .as_u64()
        .unwrap()
            > rows_paused.as_u64().unwrap()
    );
    css(&c, "#signal-table tr.signal")
        .await
        .click()
        .await
        .unwrap();
    let detail = js(&c, "const d = document.querySelector('#signal-table tr.detail-row'); return d ? d.textContent : ''").await;
    assert!(detail.as_str().unwrap().contains("signal id"), "{detail}");
    assert!(
        js(
            &c,
            "return Number(document.querySelector('#signal-rate').dataset.rate)"
        )
        .await
        .as_u64()
        .unwrap()
            > 0
    );
    // The selected symbol's price chart carries the signals as markers.
    wait_js(
        &c,
        "the price chart",
        "return !!document.querySelector('#price-chart canvas')",
        30,
    )
    .await;

    // The scorecard: live set and shadows side by side, the cumulative net curve, shadow create and promote.
    css(&c, "[data-strategy='orderbook_skew']")
        .await
        .click()
        .await
        .unwrap();
    wait_js(
        &c,
        "the scorecard panel",
        "return !document.querySelector('#score-panel').hidden && !!document.querySelector('#score-table tr[data-set=\"live\"]')",
        20,
    )
    .await;
    type_into(&c, "#shadow-name", "fast").await;
    type_into(&c, "#shadow-params", "{\"min_signal_interval_seconds\": 0}").await;
    css(&c, "#shadow-create").await.click().await.unwrap();
    wait_js(
        &c,
        "the new shadow's row",
        "return !!document.querySelector('#score-table tr[data-set=\"fast\"]') && \
         document.querySelector('#shadow-status').textContent.includes('runs from now on')",
        20,
    )
    .await;
    // Its signals show on the live table tagged as shadow, and are scored (the panel refreshes every 10 s).
    wait_js(
        &c,
        "a shadow signal on the live table",
        "const r = document.querySelector('#signal-table tr.shadow[data-shadow=\"fast\"]'); return !!r && r.textContent.includes('not published')",
        60,
    )
    .await;
    wait_js(
        &c,
        "scored shadow signals",
        "const r = document.querySelector('#score-table tr[data-set=\"fast\"] td'); return !!r && Number(r.textContent) > 0",
        90,
    )
    .await;
    assert_eq!(
        js(&c, "return !!document.querySelector('#score-chart canvas') && document.querySelectorAll('#horizon-table tbody tr').length").await,
        json!(4)
    );
    assert!(
        js(
            &c,
            "return document.querySelectorAll('#calibration-table tbody tr').length"
        )
        .await
        .as_u64()
        .unwrap()
            >= 1
    );
    assert!(js(
        &c,
        "return document.querySelector('#replica-status').textContent"
    )
    .await
    .as_str()
    .unwrap()
    .contains("One replica"));
    css(&c, "#score-table [data-promote='fast']")
        .await
        .click()
        .await
        .unwrap();
    let confirm = wait_js(
        &c,
        "the promote confirmation",
        "const d = document.querySelector('#confirm-dialog'); return d.open ? document.querySelector('#confirm-text').textContent : ''",
        10,
    )
    .await;
    assert!(
        confirm.as_str().unwrap().contains("promote shadow fast"),
        "{confirm}"
    );
    css(&c, "#confirm-ok").await.click().await.unwrap();
    wait_js(
        &c,
        "the promotion",
        "return /Promoted fast as version \\d+; 1 replica acknowledged/.test(document.querySelector('#shadow-status').textContent)",
        20,
    )
    .await;
    let (_, audit) = host
        .get_json("/api/v1/strategies/orderbook_skew/audit?limit=1")
        .await;
    assert!(
        audit["data"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("promote shadow fast"),
        "{audit}"
    );
    let (_, guards) = host.get_json("/api/v1/safeguards").await;
    assert_eq!(
        guards["data"][0]["safeguard"]["max_signals_per_hour"],
        120.0
    );

    let violations = axe_violations(&c).await;
    assert!(
        violations.is_empty(),
        "axe-core on the full console: {violations:#?}"
    );

    // The layout holds on a phone and on a laptop.
    no_horizontal_overflow(&c, 390).await;
    no_horizontal_overflow(&c, 1280).await;

    // The README's screenshot, taken here.
    c.set_window_size(1280, 1500).await.unwrap();
    js(&c, "window.scrollTo(0, 0); return true").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let png = c.screenshot().await.unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console.png");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, png).unwrap();

    // Nothing went to the browser's console as an error.
    let errors = console_errors(&c, &driver).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // The host restarts on the same address; the console reconnects and shows fresh data, not what it had.
    let port: u16 = host.base.rsplit(':').next().unwrap().parse().unwrap();
    c.set_window_size(1280, 900).await.unwrap();
    css(&c, "[data-strategy='spread_liquidity']")
        .await
        .click()
        .await
        .unwrap();
    wait_js(
        &c,
        "the spread_liquidity form",
        "return !!document.querySelector('#param-form[data-strategy=\"spread_liquidity\"] [data-field=\"lookback_ticks\"] input')",
        20,
    )
    .await;
    host.shutdown().await;
    wait_js(
        &c,
        "the console to notice the host is gone",
        "return document.querySelector('#stream-status').className.includes('down')",
        30,
    )
    .await;
    let host = TestHost::start_at(first_settings(), env_of(&[]), port).await;
    host.wait_ready(30).await;
    let (s, b) = host
        .post_json(
            "/api/v1/strategies/spread_liquidity/config",
            json!({"parameters": {"lookback_ticks": 33}, "changed_by": "ops", "reason": "while the console was away"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    wait_js(
        &c,
        "fresh configuration after the restart",
        "const e = document.querySelector('[data-effective=\"lookback_ticks\"]'); return !!e && e.textContent === '33'",
        60,
    )
    .await;

    // With API_TOKEN set, the console asks for the token once (on the API's 401), keeps it out of URLs, and saves.
    let secured = TestHost::start(
        settings(&[
            "--replay-speed",
            "20",
            "--signals-to-stdout",
            "false",
            "--api-token",
            "s3cret-token",
        ]),
        env_of(&[("SPREAD_LIQUIDITY_BASE_CONFIDENCE", "0.8")]),
    )
    .await;
    secured.wait_ready(30).await;
    c.goto(&secured.url("/ui/#spread_liquidity")).await.unwrap();
    wait_js(
        &c,
        "the spread_liquidity form",
        "return !!document.querySelector('#param-form[data-strategy=\"spread_liquidity\"] [data-field=\"lookback_ticks\"] input')",
        20,
    )
    .await;
    assert_eq!(
        js(
            &c,
            "return [document.querySelector('[data-provenance=\"base_confidence\"]').textContent, \
             document.querySelector('[data-effective=\"base_confidence\"]').textContent]"
        )
        .await,
        json!(["env", "0.8"])
    );
    type_into(&c, "#author-input", "console-test").await;
    type_into(&c, "[data-field='lookback_ticks'] input", "30").await;
    wait_js(
        &c,
        "the token prompt",
        "return document.querySelector('#token-dialog').open",
        20,
    )
    .await;
    type_into(&c, "#token-input", "s3cret-token").await;
    css(&c, "#token-dialog button[value=save]")
        .await
        .click()
        .await
        .unwrap();
    wait_js(
        &c,
        "the edit to be checked with the token",
        "return !document.querySelector('#token-dialog').open && !document.querySelector('#param-form .api-error') && \
         !document.querySelector('#save-btn').disabled",
        45,
    )
    .await;
    type_into(&c, "#reason-input", "longer lookback").await;
    confirm_save(&c, "ALL symbols", "lookback_ticks").await;
    wait_js(
        &c,
        "the authorised save",
        "return document.querySelector('#config-status').textContent.includes('Saved as version 1')",
        20,
    )
    .await;
    let (_, cfg) = secured
        .get_json("/api/v1/strategies/spread_liquidity/config")
        .await;
    assert_eq!(cfg["data"]["parameters"]["lookback_ticks"], 30);
    assert_eq!(cfg["data"]["provenance"]["lookback_ticks"], "global");
    assert!(!c.current_url().await.unwrap().as_str().contains("s3cret"));
    assert_eq!(
        js(&c, "return sessionStorage.getItem('rs-console-token')").await,
        "s3cret-token"
    );

    // The network goes down: the console says so in plain words instead of going blank or failing silently.
    let sid = c.session_id().await.unwrap().expect("session id");
    let offline = reqwest::Client::new()
        .post(format!(
            "{}/session/{sid}/chromium/network_conditions",
            driver.url
        ))
        .json(&json!({ "network_conditions": {
            "offline": true, "latency": 0, "download_throughput": 0, "upload_throughput": 0 } }))
        .send()
        .await
        .unwrap();
    assert!(offline.status().is_success(), "{:?}", offline.text().await);
    wait_js(
        &c,
        "the host-unreachable message",
        "const b = document.querySelector('#banner'); return !b.hidden && b.textContent.includes('cannot be reached')",
        30,
    )
    .await;

    c.close().await.unwrap();
    secured.shutdown().await;
    host.shutdown().await;
}

/// `GET /` negotiates (browsers → `/ui/`, API clients → the JSON map); the page and every asset it references are
/// embedded and served with their content type and cache headers. No browser needed.
#[tokio::test]
async fn console_is_served_from_embedded_assets() {
    let host = TestHost::start(settings(&["--signals-to-stdout", "false"]), env_of(&[])).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(host.url("/"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/ui/");
    assert_eq!(r.headers()["vary"], "Accept");
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = http.get(host.url("/"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["endpoints"]["console"], "/ui/", "{accept:?}");
    }
    let r = http.get(host.url("/ui")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/ui/");

    let r = http.get(host.url("/ui/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"));
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let refs: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert_eq!(refs.len(), 7, "{refs:?}");
    for href in refs {
        assert!(href.contains("?v="), "{href} is not versioned");
        let r = http.get(host.url(href)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{href}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        let want = if href.contains(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(ct.starts_with(want), "{href}: {ct}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=86400",
            "{href}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{href}");
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    host.shutdown().await;
}
