//! The prices the pipeline's last message showed (a book's touch or a trade's price) as the scorer's quote: the
//! live scorecard and `evaluate` both follow signals through here, so the scorer needs to know nothing of the
//! pipeline.

use crate::runtime::pipeline::Pipeline;
use crate::scoring::scorer::{PriceSource, Quote};

/// The symbol and quote of the last processed message, if it showed prices.
pub fn last_quote(pipeline: &Pipeline) -> Option<(&str, Quote)> {
    let touch = pipeline.last_touch()?;
    let symbol = pipeline.symbol_name(touch.symbol_id)?;
    let source = match touch.kind {
        strategy_sdk::StreamKind::Depth => PriceSource::Book,
        _ => PriceSource::Trade,
    };
    Some((
        symbol,
        Quote {
            event_time_ms: touch.event_time_ms,
            bid: touch.bid,
            ask: touch.ask,
            source,
        },
    ))
}
