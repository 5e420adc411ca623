//! Registry guard: every strategy folder is linked and registered; ids unique; defaults valid; schemas compile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use realtime_strategies::registry::Registry;

fn strategy_folders() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/strategies");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "sdk")
        .collect()
}

#[test]
fn every_strategy_folder_is_registered() {
    let registry = Registry::load().expect("registry loads");
    let registered: BTreeSet<String> = registry.ids().into_iter().map(String::from).collect();
    let folders = strategy_folders();
    let missing: Vec<_> = folders.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "strategy folders {missing:?} exist but register nothing. Link each crate: add it to [dependencies] in the \
         root Cargo.toml AND add `use strategy_<name> as _;` to src/linked.rs (inventory drops crates that nothing \
         references). Folder names must equal strategy ids."
    );
    let extra: Vec<_> = registered.difference(&folders).collect();
    assert!(
        extra.is_empty(),
        "registered ids without a folder of the same name: {extra:?}"
    );
}

#[test]
fn the_depth_analyzer_plugin_is_registered() {
    let registry = Registry::load().unwrap();
    assert!(registry.plugins().iter().any(|p| p.id == "depth_analyzer"));
}

#[test]
fn defaults_validate_and_round_trip() {
    let registry = Registry::load().unwrap();
    assert!(!registry.strategies().is_empty());
    for s in registry.strategies() {
        assert!(
            s.check_schema(&s.defaults).is_empty(),
            "{} defaults fail schema",
            s.id()
        );
        assert!(
            s.check_complete(&s.defaults).is_ok(),
            "{} defaults fail rules",
            s.id()
        );
        // serde round trip: defaults → typed → JSON is stable
        // The crate's own check sees its own parameters (the host-level ones are the host's).
        let own = realtime_strategies::host_params::strategy_part(&s.defaults);
        let params = (s.descriptor.check)(&own).unwrap();
        drop(params);
        assert_eq!(
            s.all_fields().count(),
            s.defaults.as_object().unwrap().len(),
            "{}: every schema property has a default",
            s.id()
        );
        assert_eq!(
            s.schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema",
            "{}",
            s.id()
        );
        assert_eq!(
            s.schema["additionalProperties"],
            false,
            "{} must deny unknown fields",
            s.id()
        );
    }
}

#[test]
fn ids_are_unique_and_sorted() {
    let registry = Registry::load().unwrap();
    let ids = registry.ids();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted);
}

#[test]
fn duplicate_ids_are_rejected() {
    let one = strategy_sdk::registry::strategies()
        .find(|d| d.id == "orderbook_skew")
        .unwrap();
    let err = Registry::from_descriptors([one, one], []).unwrap_err();
    assert!(err.to_string().contains("orderbook_skew"), "{err}");
}

#[test]
fn schema_errors_name_fields() {
    let registry = Registry::load().unwrap();
    let s = registry.get("orderbook_skew").unwrap();
    let errs =
        s.check_schema(&serde_json::json!({"buy_threshold": 9.0, "bogus": 1, "top_levels": "x"}));
    let fields: BTreeSet<_> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str()))
        .collect();
    assert!(fields.contains(&("/buy_threshold", "maximum")), "{errs:?}");
    assert!(
        fields.contains(&("/bogus", "additionalProperties")),
        "{errs:?}"
    );
    assert!(fields.contains(&("/top_levels", "type")), "{errs:?}");
}

mod bad_defaults {
    //! A strategy whose own defaults break its schema: the registry must refuse it, naming strategy and field.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use strategy_sdk::{
        EventContext, MarketEvent, SignalSink, Strategy, StrategyDescriptor, StreamKind,
    };

    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    pub struct BadParams {
        /// Must be at most 10, but defaults to 50.
        #[schemars(range(min = 0, max = 10))]
        pub window: u32,
    }

    impl Default for BadParams {
        fn default() -> Self {
            Self { window: 50 }
        }
    }

    impl strategy_sdk::StrategyParams for BadParams {}

    pub struct Bad;

    impl Strategy for Bad {
        type Params = BadParams;
        type SymbolState = ();
        const ID: &'static str = "bad_defaults";
        const NAME: &'static str = "Bad";
        const DESCRIPTION: &'static str = "test only";
        const CATEGORY: &'static str = "test";
        const CONSUMES: &'static [StreamKind] = &[StreamKind::Trade];

        fn create() -> Self {
            Bad
        }

        fn min_signal_interval_ms(_: &BadParams) -> i64 {
            0
        }

        fn on_event(
            &mut self,
            _: &EventContext<'_>,
            _: &BadParams,
            _: &mut (),
            _: &MarketEvent<'_>,
            _: &mut SignalSink,
        ) {
        }
    }

    /// Not submitted to inventory: only this test sees it.
    pub static DESCRIPTOR: StrategyDescriptor = StrategyDescriptor::of::<Bad>();
}

#[test]
fn invalid_defaults_refuse_to_start_naming_strategy_and_field() {
    let err = Registry::from_descriptors([&bad_defaults::DESCRIPTOR], []).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad_defaults"), "{text}");
    assert!(text.contains("/window"), "{text}");
    assert!(text.contains("maximum"), "{text}");
}
