//! Scoring signals against what the market did next: the [`Scorer`] follows each signal through later quotes
//! (entry, exits per horizon, stop/take bracket), and [`stats`] turns scored signals into the statistics that
//! `evaluate` reports and the live scorecard serves. Both are pure and deterministic.

pub mod live;
pub mod scorer;
pub mod stats;

pub use scorer::{
    Bracket, BracketEnd, Fill, PriceSource, Quote, ScoreSettings, ScoredSignal, Scorer,
    SignalRecord,
};
pub use stats::{calibration, horizon_stats, CalibrationBucket, HorizonStats};
