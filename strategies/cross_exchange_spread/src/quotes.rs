//! The latest external quotes, shared between the feed task (writer) and the strategy (reader).

use std::sync::Arc;

use parking_lot::RwLock;
use strategy_sdk::DataStatus;

use crate::params::Exchange;

/// Largest age of an external quote, relative to the event time, that still counts (the original's 60 s).
pub const MAX_QUOTE_AGE_MS: i64 = 60_000;

const N_EXTERNAL: usize = Exchange::EXTERNAL.len();

/// One external price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// Last traded price on that exchange.
    pub price: f64,
    /// Wall-clock time (ms since the epoch) at which the feed received it.
    pub fetched_at_ms: i64,
    /// Increases with every quote stored (any exchange, any symbol); tells refreshes apart.
    pub generation: u64,
}

impl Quote {
    /// Whether the quote is usable at `now_ms` (either side of it: a replay of old events never matches live quotes).
    pub fn is_fresh(&self, now_ms: i64) -> bool {
        now_ms.abs_diff(self.fetched_at_ms) <= MAX_QUOTE_AGE_MS.unsigned_abs()
    }
}

#[derive(Debug, Default, Clone)]
struct SourceState {
    quote: Option<Quote>,
    last_error: Option<String>,
    breaker_open: bool,
}

#[derive(Debug)]
struct SymbolQuotes {
    symbol: String,
    sources: [SourceState; N_EXTERNAL],
}

#[derive(Debug)]
struct QuoteBook {
    symbols: Vec<SymbolQuotes>,
    generation: u64,
    wanted: [bool; N_EXTERNAL],
    feed_error: Option<String>,
}

/// What the external quotes and the Binance price say about one symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreadReading {
    /// (highest − lowest) / lowest × 100 over Binance and every fresh external quote.
    pub spread_percent: f64,
    /// The cheapest venue and its price.
    pub low: (Exchange, f64),
    /// The dearest venue and its price.
    pub high: (Exchange, f64),
    /// Newest generation among the external quotes used.
    pub generation: u64,
    /// Number of fresh external quotes used.
    pub external_quotes: u32,
    /// Age (event time − fetch time) of the oldest external quote used, in ms.
    pub oldest_quote_age_ms: i64,
    /// Mean US-dollar price of the symbol's quote asset (e.g. USDT) over the exchanges used, when their USD prices
    /// were converted; `None` for a USD-quoted symbol.
    pub quote_usd_rate: Option<f64>,
}

/// Cloneable handle on the shared quote book.
#[derive(Debug, Clone)]
pub struct SharedQuotes(Arc<RwLock<QuoteBook>>);

impl Default for SharedQuotes {
    fn default() -> Self {
        let mut wanted = [false; N_EXTERNAL];
        wanted[0] = true; // coinbase, as in the default parameters
        Self(Arc::new(RwLock::new(QuoteBook {
            symbols: Vec::new(),
            generation: 0,
            wanted,
            feed_error: None,
        })))
    }
}

impl SharedQuotes {
    fn entry<'a>(book: &'a mut QuoteBook, symbol: &str) -> &'a mut SymbolQuotes {
        let i = match book.symbols.iter().position(|s| s.symbol == symbol) {
            Some(i) => i,
            None => {
                book.symbols.push(SymbolQuotes {
                    symbol: symbol.to_owned(),
                    sources: Default::default(),
                });
                book.symbols.len() - 1
            }
        };
        &mut book.symbols[i]
    }

    /// Stores a fresh quote of `exchange` for the Binance `symbol` (e.g. `BTCUSDT`). Binance itself is ignored.
    pub fn set(&self, exchange: Exchange, symbol: &str, price: f64, fetched_at_ms: i64) {
        let Some(x) = exchange.external_index() else {
            return;
        };
        if !(price.is_finite() && price > 0.0) {
            return;
        }
        let mut book = self.0.write();
        book.generation += 1;
        let generation = book.generation;
        let src = &mut Self::entry(&mut book, symbol).sources[x];
        src.quote = Some(Quote {
            price,
            fetched_at_ms,
            generation,
        });
        src.last_error = None;
        src.breaker_open = false;
    }

    /// Records a failed fetch (the previous quote is kept and ages out on its own).
    pub fn record_failure(
        &self,
        exchange: Exchange,
        symbol: &str,
        error: &str,
        breaker_open: bool,
    ) {
        let Some(x) = exchange.external_index() else {
            return;
        };
        let mut book = self.0.write();
        let src = &mut Self::entry(&mut book, symbol).sources[x];
        src.last_error = Some(error.to_owned());
        src.breaker_open = breaker_open;
    }

    /// Records that the feed cannot run at all (e.g. the HTTP client could not be built).
    pub fn record_feed_error(&self, error: &str) {
        self.0.write().feed_error = Some(error.to_owned());
    }

    /// Tells the status which exchanges the parameters currently use.
    pub fn set_wanted(&self, exchanges: &[Exchange]) {
        let mut wanted = [false; N_EXTERNAL];
        for e in exchanges {
            if let Some(x) = e.external_index() {
                wanted[x] = true;
            }
        }
        self.0.write().wanted = wanted;
    }

    /// The latest quote of `exchange` for `symbol`, fresh or not.
    pub fn get(&self, exchange: Exchange, symbol: &str) -> Option<Quote> {
        let x = exchange.external_index()?;
        let book = self.0.read();
        book.symbols
            .iter()
            .find(|s| s.symbol == symbol)
            .and_then(|s| s.sources[x].quote)
    }

    /// The last error of `exchange` for `symbol` and whether its circuit breaker is open.
    pub fn last_error(&self, exchange: Exchange, symbol: &str) -> Option<(String, bool)> {
        let x = exchange.external_index()?;
        let book = self.0.read();
        let src = &book.symbols.iter().find(|s| s.symbol == symbol)?.sources[x];
        src.last_error.clone().map(|e| (e, src.breaker_open))
    }

    /// Compares `binance_price` with the fresh quotes (at `now_ms`) of the `exchanges` in use. `None` when no
    /// external quote is fresh. External prices are in US dollars: for a symbol quoted in a stablecoin (BTCUSDT)
    /// each is divided by the same exchange's fresh stablecoin/USD rate (kept under [`crate::feed::rate_key`]), and
    /// a quote without a fresh rate is not used, so the spread never contains the stablecoin's own basis.
    /// Allocation-free; holds the read lock for a few comparisons.
    pub fn read_spread(
        &self,
        symbol: &str,
        binance_price: f64,
        now_ms: i64,
        exchanges: &[Exchange],
    ) -> Option<SpreadReading> {
        if !(binance_price.is_finite() && binance_price > 0.0) {
            return None;
        }
        let book = self.0.read();
        let entry = book.symbols.iter().find(|s| s.symbol == symbol)?;
        let quote = crate::feed::quote_asset(symbol).filter(|q| *q != "USD");
        let rates = quote.map(|q| {
            book.symbols.iter().find(|s| {
                s.symbol.len() == q.len() + 3
                    && s.symbol.starts_with(q)
                    && s.symbol.ends_with("USD")
            })
        });
        let (mut rate_sum, mut rate_n) = (0.0, 0u32);
        let mut low = (Exchange::Binance, binance_price);
        let mut high = (Exchange::Binance, binance_price);
        let mut generation = 0;
        let mut external_quotes = 0;
        let mut oldest = 0i64;
        for &exchange in exchanges {
            let Some(x) = exchange.external_index() else {
                continue;
            };
            let Some(mut q) = entry.sources[x].quote.filter(|q| q.is_fresh(now_ms)) else {
                continue;
            };
            if let Some(rate_entry) = rates {
                let Some(rate) = rate_entry
                    .and_then(|r| r.sources[x].quote)
                    .filter(|r| r.is_fresh(now_ms))
                else {
                    continue; // no like-for-like price without this exchange's stablecoin rate
                };
                q.price /= rate.price;
                q.fetched_at_ms = q.fetched_at_ms.min(rate.fetched_at_ms);
                rate_sum += rate.price;
                rate_n += 1;
            }
            external_quotes += 1;
            generation = generation.max(q.generation);
            oldest = oldest.max(now_ms.saturating_sub(q.fetched_at_ms));
            if q.price < low.1 {
                low = (exchange, q.price);
            }
            if q.price > high.1 {
                high = (exchange, q.price);
            }
        }
        if external_quotes == 0 {
            return None;
        }
        Some(SpreadReading {
            spread_percent: (high.1 - low.1) / low.1 * 100.0,
            low,
            high,
            generation,
            external_quotes,
            oldest_quote_age_ms: oldest,
            quote_usd_rate: (rate_n > 0).then(|| rate_sum / f64::from(rate_n)),
        })
    }

    /// `Ready` when at least one symbol has a fresh quote (at wall-clock `now_ms`) from an exchange in use,
    /// otherwise `NoData` with the reason per exchange and symbol.
    pub fn status_at(&self, now_ms: i64) -> DataStatus {
        let book = self.0.read();
        if let Some(e) = &book.feed_error {
            return DataStatus::NoData(format!("external price feed not running: {e}"));
        }
        let mut reasons = Vec::new();
        for entry in &book.symbols {
            for (x, src) in entry.sources.iter().enumerate() {
                if !book.wanted[x] {
                    continue;
                }
                let name = Exchange::EXTERNAL[x].as_str();
                match (&src.quote, &src.last_error) {
                    (Some(q), _) if q.is_fresh(now_ms) => return DataStatus::Ready,
                    (_, Some(e)) if src.breaker_open => reasons.push(format!(
                        "{name} {}: circuit open after repeated failures (last error: {e})",
                        entry.symbol
                    )),
                    (_, Some(e)) => reasons.push(format!("{name} {}: {e}", entry.symbol)),
                    (Some(q), None) => reasons.push(format!(
                        "{name} {}: quote is {} s old",
                        entry.symbol,
                        now_ms.saturating_sub(q.fetched_at_ms) / 1000
                    )),
                    (None, None) => {}
                }
            }
        }
        if reasons.is_empty() {
            DataStatus::NoData("no external exchange quote fetched yet".into())
        } else {
            DataStatus::NoData(format!(
                "no fresh external quote (max age {} s): {}",
                MAX_QUOTE_AGE_MS / 1000,
                reasons.join("; ")
            ))
        }
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn usd_prices_are_converted_with_each_exchanges_stablecoin_rate() {
        let q = SharedQuotes::default();
        let all = [Exchange::Binance, Exchange::Coinbase, Exchange::Kraken];
        // a stablecoin wobble: USDT at 0.99 $ on Coinbase, 1.00 $ on Kraken; BTC at 99 $ on both.
        q.set(Exchange::Coinbase, "BTCUSDT", 99.0, 1_000);
        q.set(Exchange::Kraken, "BTCUSDT", 99.0, 1_000);
        // no rate yet: the USD prices are not comparable with a USDT price, so nothing is read
        assert!(q.read_spread("BTCUSDT", 100.0, 2_000, &all).is_none());
        q.set(Exchange::Coinbase, "USDTUSD", 0.99, 1_000);
        let r = q.read_spread("BTCUSDT", 100.0, 2_000, &all).unwrap();
        assert_eq!(r.external_quotes, 1, "kraken has no rate: not used");
        // 99 $ / 0.99 $ per USDT = 100 USDT: no spread at all, although the raw prices differ by 1 %
        assert!(r.spread_percent.abs() < 1e-9, "{}", r.spread_percent);
        assert_eq!(r.quote_usd_rate, Some(0.99));
        q.set(Exchange::Kraken, "USDTUSD", 1.0, 1_000);
        let r = q.read_spread("BTCUSDT", 100.0, 2_000, &all).unwrap();
        assert_eq!(r.external_quotes, 2);
        assert_eq!(r.low, (Exchange::Kraken, 99.0));
        assert!((r.quote_usd_rate.unwrap() - 0.995).abs() < 1e-12);
        // a stale rate counts as none
        assert_eq!(
            q.read_spread("BTCUSDT", 100.0, 61_001, &all)
                .map(|r| r.external_quotes),
            None
        );
        // a USD-quoted symbol needs no rate
        q.set(Exchange::Coinbase, "BTCUSD", 101.0, 1_000);
        let r = q.read_spread("BTCUSD", 100.0, 2_000, &all).unwrap();
        assert_eq!(r.high, (Exchange::Coinbase, 101.0));
        assert_eq!(r.quote_usd_rate, None);
    }

    #[test]
    fn spread_uses_only_fresh_quotes_of_used_exchanges() {
        let q = SharedQuotes::default();
        q.set(Exchange::Coinbase, "USDTUSD", 1.0, 1_000);
        q.set(Exchange::Kraken, "USDTUSD", 1.0, 1_000);
        assert!(q
            .read_spread("BTCUSDT", 100.0, 0, &[Exchange::Binance])
            .is_none());
        q.set(Exchange::Coinbase, "BTCUSDT", 101.0, 1_000);
        q.set(Exchange::Kraken, "BTCUSDT", 99.0, 1_000);
        let all = [Exchange::Binance, Exchange::Coinbase, Exchange::Kraken];
        let r = q
            .read_spread("BTCUSDT", 100.0, 2_000, &all)
            .unwrap_or_else(|| panic!("reading"));
        assert_eq!(r.low, (Exchange::Kraken, 99.0));
        assert_eq!(r.high, (Exchange::Coinbase, 101.0));
        assert_eq!(r.external_quotes, 2);
        assert_eq!(r.generation, 4, "the two rates were stored first");
        assert!((r.spread_percent - 2.0 / 99.0 * 100.0).abs() < 1e-9);
        let only_cb = [Exchange::Binance, Exchange::Coinbase];
        let r = q
            .read_spread("BTCUSDT", 100.0, 2_000, &only_cb)
            .unwrap_or_else(|| panic!("reading"));
        assert_eq!(r.low, (Exchange::Binance, 100.0));
        // exactly at the age bound: fresh; one ms later: stale.
        assert!(q.read_spread("BTCUSDT", 100.0, 61_000, &all).is_some());
        assert!(q.read_spread("BTCUSDT", 100.0, 61_001, &all).is_none());
        // quotes from far in the future of the event (a replay) are not used either.
        assert!(q.read_spread("BTCUSDT", 100.0, -60_000, &all).is_none());
        assert!(q.read_spread("ETHUSDT", 100.0, 2_000, &all).is_none());
    }

    #[test]
    fn bad_prices_are_ignored() {
        let q = SharedQuotes::default();
        q.set(Exchange::Coinbase, "USDTUSD", 1.0, 0);
        q.set(Exchange::Coinbase, "BTCUSDT", f64::NAN, 0);
        q.set(Exchange::Coinbase, "BTCUSDT", 0.0, 0);
        q.set(Exchange::Binance, "BTCUSDT", 5.0, 0);
        assert!(q.get(Exchange::Coinbase, "BTCUSDT").is_none());
        q.set(Exchange::Coinbase, "BTCUSDT", 5.0, 0);
        let all = [Exchange::Binance, Exchange::Coinbase];
        assert!(q.read_spread("BTCUSDT", 0.0, 0, &all).is_none());
        assert!(q.read_spread("BTCUSDT", f64::INFINITY, 0, &all).is_none());
    }

    #[test]
    fn status_explains_missing_and_stale_data() {
        let q = SharedQuotes::default();
        assert_eq!(
            q.status_at(0),
            DataStatus::NoData("no external exchange quote fetched yet".into())
        );
        q.record_failure(Exchange::Coinbase, "BTCUSDT", "HTTP status 503", true);
        let DataStatus::NoData(reason) = q.status_at(0) else {
            panic!("expected NoData");
        };
        assert!(
            reason.contains("coinbase BTCUSDT: circuit open"),
            "{reason}"
        );
        q.set(Exchange::Coinbase, "BTCUSDT", 100.0, 0);
        assert_eq!(q.status_at(30_000), DataStatus::Ready);
        let DataStatus::NoData(reason) = q.status_at(120_000) else {
            panic!("expected NoData");
        };
        assert!(reason.contains("quote is 120 s old"), "{reason}");
        // kraken quotes do not count while the parameters use only coinbase.
        q.set(Exchange::Kraken, "ETHUSDT", 100.0, 120_000);
        assert!(matches!(q.status_at(120_000), DataStatus::NoData(_)));
        q.set_wanted(&[Exchange::Binance, Exchange::Kraken]);
        assert_eq!(q.status_at(120_000), DataStatus::Ready);
        q.record_feed_error("no TLS");
        assert!(matches!(q.status_at(120_000), DataStatus::NoData(r) if r.contains("no TLS")));
    }
}
