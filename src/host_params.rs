//! Host-level parameters: reserved parameters every strategy has, implemented once here rather than in each crate.
//!
//! * `enabled` — whether the strategy publishes for the scope (global or one symbol). `STRATEGY_ENABLED_<ID>` is
//!   its environment layer, the configuration API's global and symbol overrides sit above it. `false` stops that
//!   scope's signals at once; a strategy with no enabled scope is not run at all.
//! * `stop_loss_pct` / `take_profit_pct` — when set (a fraction of the price, e.g. `0.02`), they replace the
//!   stop-loss / take-profit levels of the strategy's signals (the parameters the decision service tunes).
//! * `risk_floor_pct` — no signal leaves with a stop loss or take profit closer to its price than this fraction
//!   (default 0.005 = 0.5 %); closer levels, the strategy's own or set by the two parameters above, are moved
//!   out to it.
//!
//! The registry adds [`HOST_PARAMS`] to every strategy's JSON Schema and defaults, the configuration layers
//! resolve them like any other parameter, [`HostParams::from_doc`] reads the effective values, [`HostTable`] holds
//! them for the processing task, and [`apply`] applies them to each signal where signals leave the pipeline.
//! Adding a host-level parameter = one [`HOST_PARAMS`] entry, one [`HostParams`] field and its rule in [`apply`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use strategy_sdk::registry::StrategyDescriptor;
use strategy_sdk::signal::DEFAULT_RISK_FLOOR;
use strategy_sdk::strategy::FeedTask;
use strategy_sdk::{
    Action, DataStatus, EventContext, MarketEvent, ParamsUpdate, Prefetch, Signal, SignalSink,
    StrategyRunner, SymbolId,
};
use tokio::sync::watch;

/// One host-level parameter: its name, JSON Schema and default for a strategy.
pub struct HostParam {
    /// Parameter name (reserved in every strategy).
    pub name: &'static str,
    /// Its JSON Schema property.
    pub schema: fn(&StrategyDescriptor) -> Value,
    /// Its default for a strategy.
    pub default: fn(&StrategyDescriptor) -> Value,
}

fn pct_schema(what: &str) -> Value {
    json!({
        "type": ["number", "null"],
        "exclusiveMinimum": 0.0,
        "maximum": 1.0,
        "default": null,
        "description": format!(
            "Host-level: {what} distance as a fraction of the signal price (0.02 = 2 %). Set, it replaces the \
             {what} level of this strategy's signals; null keeps the strategy's own level."
        ),
    })
}

/// Every host-level parameter, in schema order.
pub const HOST_PARAMS: &[HostParam] = &[
    HostParam {
        name: "enabled",
        schema: |d| {
            json!({
                "type": "boolean",
                "default": d.enabled_by_default,
                "description": "Host-level: whether the strategy publishes signals for this scope (global or one \
                                symbol). Environment layer: STRATEGY_ENABLED_<ID>. Applied live.",
            })
        },
        default: |d| Value::Bool(d.enabled_by_default),
    },
    HostParam {
        name: "stop_loss_pct",
        schema: |_| pct_schema("stop-loss"),
        default: |_| Value::Null,
    },
    HostParam {
        name: "take_profit_pct",
        schema: |_| pct_schema("take-profit"),
        default: |_| Value::Null,
    },
    HostParam {
        name: "risk_floor_pct",
        schema: |_| {
            json!({
                "type": "number",
                "minimum": 0.0,
                "maximum": 0.1,
                "default": DEFAULT_RISK_FLOOR,
                "description": "Host-level: smallest distance of a signal's stop loss and take profit from its \
                                price, as a fraction (0.005 = 0.5 %). Closer levels are moved out to it.",
            })
        },
        default: |_| json!(DEFAULT_RISK_FLOOR),
    },
];

/// Whether `field` is a host-level parameter.
pub fn is_host_param(field: &str) -> bool {
    HOST_PARAMS.iter().any(|p| p.name == field)
}

/// Adds the host-level parameters to a strategy's JSON Schema (`properties`) and defaults.
pub fn extend(descriptor: &StrategyDescriptor, schema: &mut Value, defaults: &mut Value) {
    // A strategy without parameters may have no `properties` at all: the host-level ones still need a place.
    if let Some(obj) = schema.as_object_mut() {
        let props = obj
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(props) = props.as_object_mut() {
            for p in HOST_PARAMS {
                props.insert(p.name.to_owned(), (p.schema)(descriptor));
            }
        }
    }
    if let Some(obj) = defaults.as_object_mut() {
        for p in HOST_PARAMS {
            obj.insert(p.name.to_owned(), (p.default)(descriptor));
        }
    }
}

/// A parameter document without the host-level parameters (what the strategy crate itself accepts).
pub fn strategy_part(doc: &Value) -> Value {
    match doc {
        Value::Object(obj) => Value::Object(
            obj.iter()
                .filter(|(k, _)| !is_host_param(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The environment layer of the host-level parameters: `enabled` from `STRATEGY_ENABLED_<ID>` when it is set.
pub fn env_layer(
    descriptor: &StrategyDescriptor,
    env: &dyn Fn(&str) -> Option<String>,
) -> Map<String, Value> {
    let mut layer = Map::new();
    if let Some(v) = env(&descriptor.enabled_var()) {
        let on = matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        );
        layer.insert("enabled".into(), Value::Bool(on));
    }
    layer
}

/// The effective host-level parameters of one scope.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct HostParams {
    /// Publish signals for this scope.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Stop-loss distance override (fraction of price).
    #[serde(default)]
    pub stop_loss_pct: Option<f64>,
    /// Take-profit distance override (fraction of price).
    #[serde(default)]
    pub take_profit_pct: Option<f64>,
    /// Smallest stop-loss / take-profit distance (fraction of price).
    #[serde(default = "default_floor")]
    pub risk_floor_pct: f64,
}

fn default_floor() -> f64 {
    DEFAULT_RISK_FLOOR
}

fn yes() -> bool {
    true
}

impl Default for HostParams {
    fn default() -> Self {
        Self {
            enabled: true,
            stop_loss_pct: None,
            take_profit_pct: None,
            risk_floor_pct: DEFAULT_RISK_FLOOR,
        }
    }
}

impl HostParams {
    /// Reads them from an effective (merged, validated) parameter document.
    pub fn from_doc(doc: &Value) -> Self {
        serde_json::from_value(doc.clone()).unwrap_or_default()
    }
}

#[derive(Debug)]
struct Scopes {
    global: HostParams,
    symbols: HashMap<String, HostParams>,
    active: Arc<AtomicBool>,
}

impl Scopes {
    fn new() -> Self {
        Self {
            global: HostParams::default(),
            symbols: HashMap::new(),
            active: Arc::new(AtomicBool::new(true)),
        }
    }

    fn refresh_active(&self) {
        let any = self.global.enabled || self.symbols.values().any(|p| p.enabled);
        self.active.store(any, Ordering::Relaxed);
    }
}

/// The effective host-level parameters of every strategy and symbol, written by the configuration service and read
/// by the processing task once per signal.
#[derive(Debug, Default)]
pub struct HostTable {
    scopes: RwLock<HashMap<String, Scopes>>,
}

impl HostTable {
    /// An empty table (every scope enabled, no overrides).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a strategy's global (`symbol: None`) or one symbol's parameters; `None` drops a symbol's entry.
    pub fn set(&self, strategy: &str, symbol: Option<&str>, params: Option<HostParams>) {
        let mut map = self.scopes.write();
        let entry = map.entry(strategy.to_owned()).or_insert_with(Scopes::new);
        match (symbol, params) {
            (None, Some(p)) => entry.global = p,
            (None, None) => entry.global = HostParams::default(),
            (Some(s), Some(p)) => {
                entry.symbols.insert(s.to_owned(), p);
            }
            (Some(s), None) => {
                entry.symbols.remove(s);
            }
        }
        entry.refresh_active();
    }

    /// The parameters in force for a strategy and symbol.
    pub fn get(&self, strategy: &str, symbol: &str) -> HostParams {
        let map = self.scopes.read();
        match map.get(strategy) {
            Some(s) => s.symbols.get(symbol).copied().unwrap_or(s.global),
            None => HostParams::default(),
        }
    }

    /// Whether a strategy is enabled globally.
    pub fn enabled(&self, strategy: &str) -> bool {
        self.scopes
            .read()
            .get(strategy)
            .is_none_or(|s| s.global.enabled)
    }

    /// Whether any scope of the strategy is enabled (the strategy runs at all).
    pub fn active(&self, strategy: &str) -> bool {
        self.active_flag(strategy).load(Ordering::Relaxed)
    }

    /// The strategy's "any scope enabled" flag, shared with its [`GatedRunner`].
    pub fn active_flag(&self, strategy: &str) -> Arc<AtomicBool> {
        self.scopes
            .write()
            .entry(strategy.to_owned())
            .or_insert_with(Scopes::new)
            .active
            .clone()
    }
}

/// Applies the host-level parameters to a signal leaving the pipeline: `false` when its scope is disabled (drop
/// it); otherwise the stop-loss / take-profit overrides are written into it.
pub fn apply(table: &HostTable, signal: &mut Signal) -> bool {
    apply_params(&table.get(signal.strategy_id, &signal.symbol), signal)
}

/// [`apply`] with the parameters already looked up (evaluate applies each parameter set's own).
pub fn apply_params(p: &HostParams, signal: &mut Signal) -> bool {
    if !p.enabled {
        return false;
    }
    let side = match signal.action {
        Action::Buy => 1.0,
        Action::Sell => -1.0,
    };
    if let Some(pct) = p.stop_loss_pct {
        signal.stop_loss = Some(signal.price * (1.0 - side * pct));
    }
    if let Some(pct) = p.take_profit_pct {
        signal.take_profit = Some(signal.price * (1.0 + side * pct));
    }
    signal.apply_risk_floor(p.risk_floor_pct);
    true
}

/// A strategy runner that skips every event while none of the strategy's scopes is enabled, so a disabled
/// strategy costs nothing, and whose data feed starts only once the strategy is enabled somewhere.
pub struct GatedRunner {
    inner: Box<dyn StrategyRunner>,
    active: Arc<AtomicBool>,
}

impl GatedRunner {
    /// Wraps `inner`, gated by `active` (from [`HostTable::active_flag`]).
    pub fn new(inner: Box<dyn StrategyRunner>, active: Arc<AtomicBool>) -> Self {
        Self { inner, active }
    }
}

impl StrategyRunner for GatedRunner {
    fn descriptor(&self) -> &'static StrategyDescriptor {
        self.inner.descriptor()
    }

    fn on_event(&mut self, ctx: &EventContext<'_>, event: &MarketEvent<'_>, sink: &mut SignalSink) {
        if self.active.load(Ordering::Relaxed) {
            self.inner.on_event(ctx, event, sink);
        }
    }

    fn prefetch(&self, symbol: SymbolId, what: Prefetch) {
        if self.active.load(Ordering::Relaxed) {
            self.inner.prefetch(symbol, what);
        }
    }

    fn apply(&mut self, update: ParamsUpdate) -> bool {
        self.inner.apply(update)
    }

    fn status(&self) -> DataStatus {
        if self.active.load(Ordering::Relaxed) {
            self.inner.status()
        } else {
            DataStatus::NoData("disabled (enabled=false in every scope)".into())
        }
    }

    fn take_feed(&mut self, shutdown: watch::Receiver<bool>) -> Option<FeedTask> {
        let feed = self.inner.take_feed(shutdown.clone())?;
        let active = self.active.clone();
        let mut shutdown = shutdown;
        Some(Box::pin(async move {
            // Wait (cheaply) until the strategy is enabled somewhere; external calls start only then.
            while !active.load(Ordering::Relaxed) {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                    _ = shutdown.changed() => return,
                }
                if *shutdown.borrow() {
                    return;
                }
            }
            feed.await;
        }))
    }

    fn tracked_symbols(&self) -> usize {
        self.inner.tracked_symbols()
    }

    fn forget(&mut self, symbol: strategy_sdk::SymbolId) {
        self.inner.forget(symbol);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::event::SymbolId;

    fn signal(action: Action) -> Signal {
        let ctx = EventContext {
            symbol: "BTCUSDT",
            symbol_id: SymbolId(0),
            event_time_ms: 0,
        };
        Signal::new("s", "S", &ctx, action, 0.9, 100.0)
    }

    #[test]
    fn disabled_scopes_drop_and_risk_overrides_apply() {
        let t = HostTable::new();
        let mut s = signal(Action::Buy);
        assert!(apply(&t, &mut s));
        assert_eq!(s.stop_loss, None);
        t.set(
            "s",
            None,
            Some(HostParams {
                enabled: true,
                stop_loss_pct: Some(0.01),
                take_profit_pct: Some(0.03),
                risk_floor_pct: 0.005,
            }),
        );
        assert!(apply(&t, &mut s));
        assert!((s.stop_loss.unwrap() - 99.0).abs() < 1e-9);
        assert!((s.take_profit.unwrap() - 103.0).abs() < 1e-9);
        let mut sell = signal(Action::Sell);
        assert!(apply(&t, &mut sell));
        assert!((sell.stop_loss.unwrap() - 101.0).abs() < 1e-9);
        assert!((sell.take_profit.unwrap() - 97.0).abs() < 1e-9);
        t.set(
            "s",
            Some("BTCUSDT"),
            Some(HostParams {
                enabled: false,
                ..HostParams::default()
            }),
        );
        assert!(!apply(&t, &mut signal(Action::Buy)));
        assert!(t.active("s"), "still enabled globally");
        t.set(
            "s",
            None,
            Some(HostParams {
                enabled: false,
                ..HostParams::default()
            }),
        );
        assert!(!t.active("s"));
        t.set("s", Some("BTCUSDT"), None);
        assert!(!t.active("s"));
    }

    #[test]
    fn no_level_leaves_closer_than_the_floor() {
        let mut s = signal(Action::Buy).risk(99.9999, 100.0001);
        let p = HostParams {
            stop_loss_pct: None,
            ..HostParams::default()
        };
        assert!(apply_params(&p, &mut s));
        assert!((s.stop_loss.unwrap() - 99.5).abs() < 1e-9);
        assert!((s.take_profit.unwrap() - 100.5).abs() < 1e-9);
        let tuned = HostParams {
            stop_loss_pct: Some(0.001),
            ..HostParams::default()
        };
        let mut sell = signal(Action::Sell);
        assert!(apply_params(&tuned, &mut sell));
        assert!(
            (sell.stop_loss.unwrap() - 100.5).abs() < 1e-9,
            "a tuned 0.1 % stop is floored too"
        );
    }

    proptest::proptest! {
        /// Whatever the strategy set and whatever the decision service tuned, no published level is closer to the
        /// price than the floor, and each stays on its side (stop below a buy, target above; mirrored for a sell).
        #[test]
        fn published_levels_respect_the_floor(
            price in 0.0001f64..1e6,
            buy in proptest::bool::ANY,
            own_stop in proptest::option::of(0.0f64..2.0),
            own_take in proptest::option::of(0.0f64..2.0),
            stop_pct in proptest::option::of(1e-6f64..1.0),
            take_pct in proptest::option::of(1e-6f64..1.0),
            floor in 0.0f64..0.1,
            confidence in 0.0f64..1.0,
        ) {
            let ctx = EventContext { symbol: "BTCUSDT", symbol_id: SymbolId(0), event_time_ms: 0 };
            let action = if buy { Action::Buy } else { Action::Sell };
            let mut s = Signal::new("s", "S", &ctx, action, confidence, price);
            // Levels given as multiples of the price, on either side.
            s.stop_loss = own_stop.map(|m| price * m);
            s.take_profit = own_take.map(|m| price * m);
            let p = HostParams { enabled: true, stop_loss_pct: stop_pct, take_profit_pct: take_pct, risk_floor_pct: floor };
            proptest::prop_assert!(apply_params(&p, &mut s));
            let (stop, take) = s.risk_levels();
            let tol = price * 1e-9;
            let (stop_d, take_d) = if buy { (price - stop, take - price) } else { (stop - price, price - take) };
            proptest::prop_assert!(stop_d >= price * floor - tol, "stop {stop} for {price} floor {floor}");
            proptest::prop_assert!(take_d >= price * floor - tol, "take {take} for {price} floor {floor}");
        }
    }
}
