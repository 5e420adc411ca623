//! Trading signals and the output contract the CIO and the trade engine consume.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::event::EventContext;
use crate::time::format_timestamp_ms;

/// Direction of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Open or add to a long position.
    Buy,
    /// Open or add to a short position / reduce a long.
    Sell,
}

impl Action {
    /// `"buy"` or `"sell"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "buy",
            Action::Sell => "sell",
        }
    }
}

/// A signal as a strategy emits it. The host turns it into the published contract with [`Signal::to_contract`].
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Registered strategy id.
    pub strategy_id: &'static str,
    /// Strategy display name.
    pub strategy_name: &'static str,
    /// Upper-case symbol.
    pub symbol: String,
    /// Buy or sell.
    pub action: Action,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// Suggested execution price.
    pub price: f64,
    /// Market price when the signal was produced (mid or last trade).
    pub current_price: f64,
    /// Quantity; when `None` the contract's default sizing applies.
    pub quantity: Option<f64>,
    /// Stop-loss price; when `None` it is derived from confidence.
    pub stop_loss: Option<f64>,
    /// Take-profit price; when `None` it is derived from confidence.
    pub take_profit: Option<f64>,
    /// Timeframe label; real-time strategies use `"tick"`.
    pub timeframe: &'static str,
    /// Event time (ms since epoch) of the event that produced the signal.
    pub event_time_ms: i64,
    /// Numeric indicators behind the decision.
    pub indicators: Vec<(&'static str, Value)>,
    /// Free-form metadata.
    pub metadata: Vec<(&'static str, Value)>,
    /// W3C `traceparent` of the triggering message, when it carried one (set by the host, not by strategies).
    pub traceparent: Option<String>,
    /// Leverage the strategy recommends (integer >= 1); absent unless the strategy sets one.
    pub recommended_leverage: Option<u32>,
}

impl Signal {
    /// A signal for the event in `ctx`, with the fields every signal must have.
    pub fn new(
        strategy_id: &'static str,
        strategy_name: &'static str,
        ctx: &EventContext<'_>,
        action: Action,
        confidence: f64,
        price: f64,
    ) -> Self {
        Self {
            strategy_id,
            strategy_name,
            symbol: ctx.symbol.to_owned(),
            action,
            confidence: clamp_unit(confidence),
            price,
            current_price: price,
            quantity: None,
            stop_loss: None,
            take_profit: None,
            timeframe: "tick",
            event_time_ms: ctx.event_time_ms,
            indicators: Vec::new(),
            metadata: Vec::new(),
            traceparent: None,
            recommended_leverage: None,
        }
    }

    /// Recommends a leverage (values below 1 are raised to 1).
    pub fn leverage(mut self, leverage: u32) -> Self {
        self.recommended_leverage = Some(leverage.max(1));
        self
    }

    /// Sets the current market price.
    pub fn current_price(mut self, price: f64) -> Self {
        self.current_price = price;
        self
    }

    /// Adds an indicator.
    pub fn indicator(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.indicators.push((name, value.into()));
        self
    }

    /// Adds a metadata entry.
    pub fn meta(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.metadata.push((name, value.into()));
        self
    }

    /// Sets explicit stop-loss and take-profit prices.
    pub fn risk(mut self, stop_loss: f64, take_profit: f64) -> Self {
        self.stop_loss = Some(stop_loss);
        self.take_profit = Some(take_profit);
        self
    }

    /// Sets an explicit quantity.
    pub fn quantity(mut self, quantity: f64) -> Self {
        self.quantity = Some(quantity);
        self
    }

    /// The `strength` label for a confidence, as the original's adapter maps it.
    pub fn strength(&self) -> &'static str {
        match self.confidence {
            c if c >= 0.9 => "extreme",
            c if c >= 0.7 => "strong",
            c if c >= 0.5 => "medium",
            _ => "weak",
        }
    }

    /// The stop-loss and take-profit prices the signal is published with: the strategy's own, else derived
    /// from confidence with [`risk_percentages`].
    pub fn risk_levels(&self) -> (f64, f64) {
        let (sl_pct, tp_pct) = risk_percentages(self.confidence);
        let (stop_loss, take_profit) = match self.action {
            Action::Buy => (self.price * (1.0 - sl_pct), self.price * (1.0 + tp_pct)),
            Action::Sell => (self.price * (1.0 + sl_pct), self.price * (1.0 - tp_pct)),
        };
        (
            self.stop_loss.unwrap_or(stop_loss),
            self.take_profit.unwrap_or(take_profit),
        )
    }

    /// Moves the published stop loss or take profit (the strategy's own, else the one derived from confidence)
    /// out to `floor` (a fraction of the price) when it is closer than that or on the wrong side.
    pub fn apply_risk_floor(&mut self, floor: f64) {
        if floor.is_nan() || floor <= 0.0 || self.price.is_nan() || self.price <= 0.0 {
            return;
        }
        let (down, up) = (self.price * (1.0 - floor), self.price * (1.0 + floor));
        let (stop, take) = self.risk_levels();
        match self.action {
            Action::Buy => {
                if stop.is_nan() || stop > down {
                    self.stop_loss = Some(down);
                }
                if take.is_nan() || take < up {
                    self.take_profit = Some(up);
                }
            }
            Action::Sell => {
                if stop.is_nan() || stop < up {
                    self.stop_loss = Some(up);
                }
                if take.is_nan() || take > down {
                    self.take_profit = Some(down);
                }
            }
        }
    }

    /// The published document: every field of the trade engine's signal contract.
    pub fn to_contract(&self, signal_id: &str) -> ContractSignal<'_> {
        let (sl_pct, tp_pct) = risk_percentages(self.confidence);
        let (stop_loss, take_profit) = self.risk_levels();
        let stop_loss_pct = relative_distance(self.price, stop_loss).unwrap_or(sl_pct);
        let take_profit_pct = relative_distance(self.price, take_profit).unwrap_or(tp_pct);
        let mut metadata: Map<String, Value> = self
            .metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        metadata.insert("strategy_id".into(), self.strategy_id.into());
        metadata.insert("strategy_name".into(), self.strategy_name.into());
        ContractSignal {
            id: signal_id.to_owned(),
            signal_id: signal_id.to_owned(),
            strategy_id: self.strategy_id,
            strategy_mode: "deterministic",
            symbol: &self.symbol,
            action: self.action.as_str(),
            confidence: round_to(self.confidence, 4),
            strength: self.strength(),
            price: self.price,
            quantity: self
                .quantity
                .unwrap_or_else(|| default_quantity(&self.symbol, self.price)),
            current_price: self.current_price,
            target_price: self.price,
            source: "realtime_strategies",
            strategy: self.strategy_id,
            indicators: self
                .indicators
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            metadata,
            timeframe: self.timeframe,
            order_type: "market",
            time_in_force: "GTC",
            signal_type: self.action.as_str(),
            confidence_score: round_to(self.confidence, 4),
            stop_loss,
            stop_loss_pct,
            take_profit,
            take_profit_pct,
            timestamp: format_timestamp_ms(self.event_time_ms),
            otel_trace_context: self
                .traceparent
                .as_deref()
                .map(|traceparent| TraceContext { traceparent }),
            recommended_leverage: self.recommended_leverage,
            strategy_revision_id: None,
        }
    }
}

/// Every field a published signal always carries (the trade engine's contract plus `indicators`).
pub const CONTRACT_FIELDS: &[&str] = &[
    "id",
    "signal_id",
    "strategy_id",
    "strategy_mode",
    "symbol",
    "action",
    "confidence",
    "strength",
    "price",
    "quantity",
    "current_price",
    "target_price",
    "source",
    "strategy",
    "indicators",
    "metadata",
    "timeframe",
    "order_type",
    "time_in_force",
    "signal_type",
    "confidence_score",
    "stop_loss",
    "stop_loss_pct",
    "take_profit",
    "take_profit_pct",
    "timestamp",
];

/// The published signal document (JSON), field for field the original's trade-engine contract.
#[derive(Debug, Clone, Serialize)]
pub struct ContractSignal<'a> {
    /// Unique signal id (UUID).
    pub id: String,
    /// Same as `id` (legacy name).
    pub signal_id: String,
    /// Strategy id.
    pub strategy_id: &'static str,
    /// Always `deterministic`.
    pub strategy_mode: &'static str,
    /// Symbol.
    pub symbol: &'a str,
    /// `buy` or `sell`.
    pub action: &'static str,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// `weak|medium|strong|extreme` from confidence.
    pub strength: &'static str,
    /// Suggested execution price.
    pub price: f64,
    /// Quantity.
    pub quantity: f64,
    /// Market price at signal time.
    pub current_price: f64,
    /// Target price (= price).
    pub target_price: f64,
    /// Always `realtime_strategies`.
    pub source: &'static str,
    /// Strategy id (legacy field).
    pub strategy: &'static str,
    /// Indicators behind the decision.
    pub indicators: Map<String, Value>,
    /// Metadata, always with `strategy_id` and `strategy_name`.
    pub metadata: Map<String, Value>,
    /// Timeframe label.
    pub timeframe: &'static str,
    /// Always `market`.
    pub order_type: &'static str,
    /// Always `GTC`.
    pub time_in_force: &'static str,
    /// Same as action (legacy).
    pub signal_type: &'static str,
    /// Same as confidence (legacy).
    pub confidence_score: f64,
    /// Stop-loss price.
    pub stop_loss: f64,
    /// Stop-loss distance as a fraction of price.
    pub stop_loss_pct: f64,
    /// Take-profit price.
    pub take_profit: f64,
    /// Take-profit distance as a fraction of price.
    pub take_profit_pct: f64,
    /// ISO-8601 event time of the triggering event.
    pub timestamp: String,
    /// Trace context propagated from the triggering market data message (absent when it had none).
    #[serde(
        rename = "_otel_trace_context",
        skip_serializing_if = "Option::is_none"
    )]
    pub otel_trace_context: Option<TraceContext<'a>>,
    /// Leverage the strategy recommends (absent by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_leverage: Option<u32>,
    /// Revision of the strategy (`srev_…`) its characterization is keyed by; set by the host when
    /// `SIGNAL_REVISION_ID=true`, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy_revision_id: Option<&'a str>,
}

/// W3C trace context carried in published signals.
#[derive(Debug, Clone, Serialize)]
pub struct TraceContext<'a> {
    /// The `traceparent` header value.
    pub traceparent: &'a str,
}

/// Stop-loss and take-profit fractions by confidence (the original adapter's table):
/// ≥ 0.8 → 2 % / 5 %, ≥ 0.6 → 3 % / 4 %, else 5 % / 3 %.
pub fn risk_percentages(confidence: f64) -> (f64, f64) {
    if confidence >= 0.8 {
        (0.02, 0.05)
    } else if confidence >= 0.6 {
        (0.03, 0.04)
    } else {
        (0.05, 0.03)
    }
}

/// Default order size when a strategy sets none, in the base asset, from a notional in the **quote** asset:
///
/// | quote asset (symbol suffix) | notional |
/// |---|---|
/// | USDT, USDC, FDUSD, BUSD, TUSD, USDP, DAI, USD | 100 above a price of 10 000, 50 above 100, else 20 (the original's rule) |
/// | BTC | 0.0015 BTC |
/// | ETH | 0.03 ETH |
/// | BNB | 0.15 BNB |
/// | EUR | 90 EUR |
/// | anything else | no default: 0, the consumer must size the order |
///
/// The non-USD notionals are about 100 USD at 2024 prices; they keep an ETHBTC signal from asking for hundreds of
/// ETH. Rounded to 6 significant digits.
pub fn default_quantity(symbol: &str, price: f64) -> f64 {
    if price.is_nan() || price <= 0.0 {
        return 0.0;
    }
    let notional = match quote_asset(symbol) {
        Some("USDT" | "USDC" | "FDUSD" | "BUSD" | "TUSD" | "USDP" | "DAI" | "USD") => {
            if price > 10_000.0 {
                100.0
            } else if price > 100.0 {
                50.0
            } else {
                20.0
            }
        }
        Some("BTC") => 0.0015,
        Some("ETH") => 0.03,
        Some("BNB") => 0.15,
        Some("EUR") => 90.0,
        _ => return 0.0,
    };
    round_significant(notional / price, 6)
}

/// The quote asset of a Binance symbol, from a list of known quote suffixes (longest match first).
pub fn quote_asset(symbol: &str) -> Option<&'static str> {
    const QUOTES: &[&str] = &[
        "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "USD", "BTC", "ETH", "BNB", "EUR",
    ];
    let upper = symbol.to_ascii_uppercase();
    QUOTES
        .iter()
        .find(|q| upper.len() > q.len() && upper.ends_with(*q))
        .copied()
}

fn round_significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let magnitude = value.abs().log10().floor() as i32;
    round_to(value, digits - 1 - magnitude)
}

/// Default of the host-level `risk_floor_pct` parameter: the smallest distance of a signal's stop loss and take
/// profit from its price, as a fraction (0.5 %). Closer levels are moved out to it (a 0.0002 % stop is noise, not
/// risk management).
pub const DEFAULT_RISK_FLOOR: f64 = 0.005;

fn relative_distance(price: f64, level: f64) -> Option<f64> {
    (price > 0.0).then(|| round_to(((level - price) / price).abs(), 6))
}

/// Rounds to `digits` decimals.
pub fn round_to(value: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (value * f).round() / f
}

/// Clamps to [0, 1], mapping NaN to 0.
pub fn clamp_unit(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

/// Where strategies put their signals; the host drains it after each event.
#[derive(Debug, Default)]
pub struct SignalSink {
    signals: Vec<Signal>,
    cooling_down: bool,
}

impl SignalSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a signal for the event's own symbol would be dropped now because the strategy's minimum signal
    /// interval has not passed for that symbol (set by the runner around each `on_event` call). A strategy may then
    /// skip searching for and building a signal; it must still update its state. Outside a runner (unit tests,
    /// benches) it is false.
    pub fn cooling_down(&self) -> bool {
        self.cooling_down
    }

    /// Set by the strategy runner before it calls a strategy (see [`SignalSink::cooling_down`]).
    pub fn set_cooling_down(&mut self, cooling_down: bool) {
        self.cooling_down = cooling_down;
    }

    /// Emits a signal.
    pub fn emit(&mut self, signal: Signal) {
        self.signals.push(signal);
    }

    /// Keeps, among the signals from index `start` on, those for which `keep` returns true (it may also adjust
    /// them); earlier signals are untouched.
    pub fn retain_from(&mut self, start: usize, mut keep: impl FnMut(&mut Signal) -> bool) {
        let mut i = start;
        while i < self.signals.len() {
            if keep(&mut self.signals[i]) {
                i += 1;
            } else {
                self.signals.remove(i);
            }
        }
    }

    /// Number of pending signals.
    pub fn len(&self) -> usize {
        self.signals.len()
    }

    /// True when no signal is pending.
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty()
    }

    /// Takes the pending signals, keeping the buffer's capacity.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Signal> {
        self.signals.drain(..)
    }

    /// The pending signals.
    pub fn as_slice(&self) -> &[Signal] {
        &self.signals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SymbolId;

    fn ctx() -> EventContext<'static> {
        EventContext {
            symbol: "BTCUSDT",
            symbol_id: SymbolId(0),
            event_time_ms: 1_723_161_255_408,
        }
    }

    #[test]
    fn contract_derives_risk_levels_from_confidence() {
        let s = Signal::new("x", "X", &ctx(), Action::Buy, 0.85, 100.0);
        let c = s.to_contract("id-1");
        assert!((c.stop_loss - 98.0).abs() < 1e-9);
        assert!((c.take_profit - 105.0).abs() < 1e-9);
        assert_eq!(c.strength, "strong");
        let s = Signal::new("x", "X", &ctx(), Action::Sell, 0.65, 100.0);
        let c = s.to_contract("id-2");
        assert!((c.stop_loss - 103.0).abs() < 1e-9);
        assert!((c.take_profit - 96.0).abs() < 1e-9);
        assert_eq!(c.timestamp, "2024-08-08T23:54:15.408000Z");
        let json = serde_json::to_value(&c).unwrap();
        for field in CONTRACT_FIELDS {
            assert!(json.get(field).is_some(), "missing {field}");
        }
    }

    #[test]
    fn optional_fields_are_absent_unless_set() {
        let s = Signal::new("x", "X", &ctx(), Action::Buy, 0.85, 100.0);
        let json = serde_json::to_value(s.to_contract("id")).unwrap();
        assert!(json.get("recommended_leverage").is_none());
        assert!(json.get("strategy_revision_id").is_none());
        let s = s.leverage(0);
        let mut c = s.to_contract("id");
        c.strategy_revision_id = Some("srev_a_b");
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json["recommended_leverage"], 1);
        assert_eq!(json["strategy_revision_id"], "srev_a_b");
    }

    #[test]
    fn confidence_is_clamped() {
        assert_eq!(
            Signal::new("x", "X", &ctx(), Action::Buy, 7.0, 1.0).confidence,
            1.0
        );
        assert_eq!(
            Signal::new("x", "X", &ctx(), Action::Buy, f64::NAN, 1.0).confidence,
            0.0
        );
    }
}
