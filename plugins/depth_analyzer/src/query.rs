//! Query parsing of the metrics endpoints: [`Timeframe`] and [`AllMetricsQuery`], failing with [`QueryError`]
//! (field, rule, message) for the host's 422.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::Trend;

/// Default and maximum page size of `/all` (the original's).
pub const DEFAULT_LIMIT: usize = 50;
/// Maximum page size of `/all`.
pub const MAX_LIMIT: usize = 200;

/// A rejected query parameter: which one, which rule, and a sentence. The host answers 422 with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryError {
    /// Query parameter name, e.g. `limit`.
    pub field: &'static str,
    /// The rule that failed: `one_of`, `integer`, `number`, `minimum`, `maximum` or `cross_field`.
    pub rule: &'static str,
    /// Readable explanation, naming the parameter and the allowed values.
    pub message: String,
}

impl QueryError {
    fn new(field: &'static str, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for QueryError {}

/// Timeframe of the pressure endpoint, measured on event time back from the symbol's newest update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Timeframe {
    /// `1m`: the last 60 seconds.
    OneMinute,
    /// `5m`: the last 5 minutes (the endpoint's default).
    #[default]
    FiveMinutes,
    /// `15m`: the last 15 minutes (the whole retained history).
    FifteenMinutes,
}

impl Timeframe {
    /// Every timeframe, in order.
    pub const ALL: [Timeframe; 3] = [
        Timeframe::OneMinute,
        Timeframe::FiveMinutes,
        Timeframe::FifteenMinutes,
    ];

    /// The query value: `1m`, `5m` or `15m`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Timeframe::OneMinute => "1m",
            Timeframe::FiveMinutes => "5m",
            Timeframe::FifteenMinutes => "15m",
        }
    }

    /// Window length in milliseconds.
    pub const fn window_ms(self) -> i64 {
        match self {
            Timeframe::OneMinute => 60_000,
            Timeframe::FiveMinutes => 300_000,
            Timeframe::FifteenMinutes => 900_000,
        }
    }

    /// Parses the optional `timeframe` query parameter; absent means `5m`.
    pub fn parse_opt(value: Option<&str>) -> Result<Self, QueryError> {
        value.map_or(Ok(Timeframe::default()), str::parse)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = QueryError;

    /// Exactly `1m`, `5m` or `15m` (as the original).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                QueryError::new(
                    "timeframe",
                    "one_of",
                    format!("timeframe must be one of 1m, 5m, 15m; got {s:?}"),
                )
            })
    }
}

impl schemars::JsonSchema for Timeframe {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timeframe".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": ["1m", "5m", "15m"] })
    }
}

impl Serialize for Timeframe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Sort key of `/all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// By symbol name (default).
    #[default]
    Symbol,
    /// By net pressure.
    Pressure,
    /// By imbalance percent.
    Imbalance,
    /// By total liquidity.
    Liquidity,
}

impl SortBy {
    const ALL: [SortBy; 4] = [
        SortBy::Symbol,
        SortBy::Pressure,
        SortBy::Imbalance,
        SortBy::Liquidity,
    ];

    /// The query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SortBy::Symbol => "symbol",
            SortBy::Pressure => "pressure",
            SortBy::Imbalance => "imbalance",
            SortBy::Liquidity => "liquidity",
        }
    }
}

/// Sort direction of `/all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Ascending (default).
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl SortOrder {
    /// The query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// The query parameters of `GET /api/v1/metrics/all` as the API documents them: [`AllMetricsQuery::from_pairs`]
/// accepts exactly these (and ignores others), reporting every invalid one.
#[derive(Debug, Clone, schemars::JsonSchema)]
pub struct AllMetricsParams {
    /// Comma-separated symbols to keep (case-insensitive).
    pub symbols: Option<String>,
    /// Keep symbols whose net pressure is at least this.
    pub min_pressure: Option<f64>,
    /// Keep symbols whose net pressure is at most this.
    pub max_pressure: Option<f64>,
    /// Keep symbols with this trend: `bullish`, `bearish` or `neutral` (any case; empty: no filter).
    #[serde(default)]
    #[schemars(schema_with = "trend_schema")]
    pub trend: Option<String>,
    /// Page size.
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: Option<u32>,
    /// Sort key: `symbol` (default), `pressure`, `imbalance` or `liquidity` (any case).
    #[serde(default)]
    #[schemars(schema_with = "sort_by_schema")]
    pub sort_by: Option<String>,
    /// Sort direction: `asc` (default) or `desc` (any case).
    #[serde(default)]
    #[schemars(schema_with = "sort_order_schema")]
    pub sort_order: Option<String>,
}

/// A regular expression matching exactly `names` in any ASCII case (what [`one_of`] accepts), or also the empty
/// string.
fn any_case_pattern(names: &[&str], or_empty: bool) -> String {
    let alternatives: Vec<String> = names
        .iter()
        .map(|n| {
            n.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!(
        "^({}){}$",
        alternatives.join("|"),
        if or_empty { "?" } else { "" }
    )
}

fn pattern_schema(pattern: String) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "pattern": pattern })
}

fn trend_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    pattern_schema(any_case_pattern(&["bullish", "bearish", "neutral"], true))
}

fn sort_by_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = SortBy::ALL.iter().map(|s| s.as_str()).collect();
    pattern_schema(any_case_pattern(&names, false))
}

fn sort_order_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    pattern_schema(any_case_pattern(&["asc", "desc"], false))
}

/// The validated query of `GET /api/v1/metrics/all`.
#[derive(Debug, Clone, PartialEq)]
pub struct AllMetricsQuery {
    /// Comma-separated symbols to keep (case-insensitive), as given; `None` keeps every symbol.
    pub symbols: Option<String>,
    /// Keep symbols whose (displayed, 2-decimal) net pressure is at least this.
    pub min_pressure: Option<f64>,
    /// Keep symbols whose (displayed, 2-decimal) net pressure is at most this.
    pub max_pressure: Option<f64>,
    /// Keep symbols with this classification.
    pub trend: Option<Trend>,
    /// Page size, 1..=200 (default 50).
    pub limit: usize,
    /// Rows to skip (default 0).
    pub offset: usize,
    /// Sort key (default `symbol`).
    pub sort_by: SortBy,
    /// Sort direction (default `asc`).
    pub sort_order: SortOrder,
}

impl Default for AllMetricsQuery {
    fn default() -> Self {
        Self {
            symbols: None,
            min_pressure: None,
            max_pressure: None,
            trend: None,
            limit: DEFAULT_LIMIT,
            offset: 0,
            sort_by: SortBy::Symbol,
            sort_order: SortOrder::Asc,
        }
    }
}

fn parse_number(field: &'static str, v: &str) -> Result<f64, QueryError> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(QueryError::new(
            field,
            "number",
            format!("{field} must be a finite number; got {v:?}"),
        )),
    }
}

fn parse_integer(field: &'static str, v: &str) -> Result<i64, QueryError> {
    v.trim().parse::<i64>().map_err(|_| {
        QueryError::new(
            field,
            "integer",
            format!("{field} must be an integer; got {v:?}"),
        )
    })
}

fn one_of<T: Copy>(
    field: &'static str,
    v: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, QueryError> {
    let lower = v.to_ascii_lowercase();
    all.iter()
        .copied()
        .find(|t| name(*t) == lower)
        .ok_or_else(|| {
            let allowed: Vec<&str> = all.iter().map(|t| name(*t)).collect();
            QueryError::new(
                field,
                "one_of",
                format!("{field} must be one of {}; got {v:?}", allowed.join(", ")),
            )
        })
}

impl AllMetricsQuery {
    /// Parses and validates raw query pairs (e.g. axum's `Query<Vec<(String, String)>>` or a `HashMap`).
    /// Unknown parameters are ignored; a repeated parameter keeps its last value. Every problem is reported,
    /// not just the first.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, Vec<QueryError>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut q = AllMetricsQuery::default();
        let mut errors = Vec::new();
        let mut limit: i64 = DEFAULT_LIMIT as i64;
        let mut offset: i64 = 0;
        for (k, v) in pairs {
            let v = v.as_ref();
            let r: Result<(), QueryError> = match k.as_ref() {
                "symbols" => {
                    q.symbols = (!v.trim().is_empty()).then(|| v.to_owned());
                    Ok(())
                }
                "min_pressure" => parse_number("min_pressure", v).map(|x| q.min_pressure = Some(x)),
                "max_pressure" => parse_number("max_pressure", v).map(|x| q.max_pressure = Some(x)),
                "trend" if v.is_empty() => {
                    q.trend = None;
                    Ok(())
                }
                "trend" => one_of(
                    "trend",
                    v,
                    &[Trend::Bullish, Trend::Bearish, Trend::Neutral],
                    Trend::as_str,
                )
                .map(|t| q.trend = Some(t)),
                "limit" => parse_integer("limit", v).map(|x| limit = x),
                "offset" => parse_integer("offset", v).map(|x| offset = x),
                "sort_by" => {
                    one_of("sort_by", v, &SortBy::ALL, SortBy::as_str).map(|s| q.sort_by = s)
                }
                "sort_order" => one_of(
                    "sort_order",
                    v,
                    &[SortOrder::Asc, SortOrder::Desc],
                    SortOrder::as_str,
                )
                .map(|s| q.sort_order = s),
                _ => Ok(()),
            };
            if let Err(e) = r {
                errors.retain(|x: &QueryError| x.field != e.field);
                errors.push(e);
            }
        }
        if errors.iter().all(|e| e.field != "limit") {
            if limit < 1 {
                errors.push(QueryError::new(
                    "limit",
                    "minimum",
                    format!("limit must be >= 1; got {limit}"),
                ));
            } else if limit > MAX_LIMIT as i64 {
                errors.push(QueryError::new(
                    "limit",
                    "maximum",
                    format!("limit must be <= {MAX_LIMIT}; got {limit}"),
                ));
            } else {
                q.limit = limit as usize;
            }
        }
        if errors.iter().all(|e| e.field != "offset") {
            if offset < 0 {
                errors.push(QueryError::new(
                    "offset",
                    "minimum",
                    format!("offset must be >= 0; got {offset}"),
                ));
            } else {
                q.offset = usize::try_from(offset).unwrap_or(usize::MAX);
            }
        }
        if let Err(mut e) = q.validate() {
            for x in e.drain(..) {
                if !errors.contains(&x) {
                    errors.push(x);
                }
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }

    /// Checks a query built in code: limit in 1..=200, finite pressures, `min_pressure <= max_pressure`.
    pub fn validate(&self) -> Result<(), Vec<QueryError>> {
        let mut errors = Vec::new();
        if self.limit < 1 {
            errors.push(QueryError::new(
                "limit",
                "minimum",
                format!("limit must be >= 1; got {}", self.limit),
            ));
        } else if self.limit > MAX_LIMIT {
            errors.push(QueryError::new(
                "limit",
                "maximum",
                format!("limit must be <= {MAX_LIMIT}; got {}", self.limit),
            ));
        }
        for (field, v) in [
            ("min_pressure", self.min_pressure),
            ("max_pressure", self.max_pressure),
        ] {
            if v.is_some_and(|x| !x.is_finite()) {
                errors.push(QueryError::new(
                    field,
                    "number",
                    format!("{field} must be a finite number"),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_pressure, self.max_pressure) {
            if lo > hi {
                errors.push(QueryError::new(
                    "min_pressure",
                    "cross_field",
                    format!("min_pressure ({lo}) must be <= max_pressure ({hi})"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
