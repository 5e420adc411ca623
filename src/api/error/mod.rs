//! The one place where errors become HTTP responses: every handler error is an [`ApiError`], every conversion into
//! it is a `From` here, and every error answers the same JSON body
//! (`{success: false, data: null, error: {code, message, details}, metadata: null}`; the rate limit keeps the
//! original's body). Internal details are logged with an error id and never returned.

mod docs;
mod extract;

pub use docs::{
    error_responses as docs_responses, with_errors, ErrorObject, ErrorResponse, RateLimitResponse,
};
pub use extract::{ApiJson, ApiPath, ApiQuery};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use strategy_sdk::FieldError;

use crate::config::service::ConfigError;

/// Every error an API handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An unknown resource (strategy, symbol, version).
    #[error("{0}")]
    NotFound(String),
    /// Input that fails validation; every offending field is listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A malformed request (body or query).
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: &'static str,
        /// Explanation.
        message: String,
        /// Offending field, when known.
        field: Option<String>,
    },
    /// Write without a bearer token while `API_TOKEN` is set.
    #[error("missing bearer token")]
    Unauthorized,
    /// A write while no `API_TOKEN` is configured and writes were not opened with `API_AUTH=disabled`.
    #[error("writes are refused: API_TOKEN is not set (set API_TOKEN, or API_AUTH=disabled to open writes)")]
    WritesNotConfigured,
    /// Wrong bearer token.
    #[error("invalid bearer token")]
    Forbidden,
    /// A backing store is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// A plugin an endpoint reads is not running (e.g. the depth analyzer for the market API).
    #[error("the {0} plugin is not running")]
    PluginUnavailable(&'static str),
    /// A market symbol the depth analyzer does not track (or no longer does): the original's document
    /// (`error`, `message`, `suggestion`) is kept whole in `details`.
    #[error("{}", .0.error)]
    NotTracked(plugin_depth_analyzer::NotTrackedResponse),
    /// The host is not ready to serve traffic (`/ready`): `details` is the readiness document.
    #[error("{reason}")]
    NotReady {
        /// Why (first failing check).
        reason: String,
        /// The readiness document (checks, source, store).
        readiness: Value,
    },
    /// A request body over the size limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The writer is over the write rate limit (answered in the original's shape, with `Retry-After`).
    #[error("rate limit exceeded ({})", .0.reason)]
    RateLimited(crate::config::rate_limit::Denied),
    /// Too many open live streams (`LIVE_MAX_CLIENTS`).
    #[error("{0}")]
    TooManyClients(String),
    /// A conflict with the stored state (e.g. a shadow name that is taken, or over the shadow limit).
    #[error("{0}")]
    Conflict(String),
    /// Anything else: the detail is logged with an error id; the client sees only the id.
    #[error("{0}")]
    Internal(String),
}

/// The message a client sees for a 500: generic, with the id under which the detail was logged.
fn internal_message(error_id: &str) -> String {
    format!("internal error (error id {error_id}); the details are in the service log")
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR"),
            ApiError::BadRequest { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Unauthorized | ApiError::WritesNotConfigured => {
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
            }
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "STORE_UNAVAILABLE"),
            ApiError::PluginUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "PLUGIN_UNAVAILABLE")
            }
            ApiError::NotTracked(_) => (StatusCode::NOT_FOUND, "NOT_TRACKED"),
            ApiError::NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, "NOT_READY"),
            ApiError::TooManyClients(_) => (StatusCode::SERVICE_UNAVAILABLE, "TOO_MANY_CLIENTS"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }

    /// The JSON error object (`code`, `message`, `details`). A 500 says only that it happened (see
    /// [`IntoResponse`]); this is the client-facing object of every other error.
    pub fn body(&self) -> Value {
        json!(self.error_object())
    }

    /// The error object of the body as its documented type.
    fn error_object(&self) -> ErrorObject {
        let (_, code) = self.parts();
        let details = match self {
            ApiError::NotTracked(original) => json!(original),
            ApiError::NotReady { readiness, .. } => readiness.clone(),
            ApiError::Validation(errors) => json!({ "errors": errors }),
            ApiError::BadRequest { field: Some(f), .. } => {
                json!({ "errors": [{ "field": f, "rule": "format", "message": self.to_string() }] })
            }
            _ => Value::Null,
        };
        let message = match self {
            ApiError::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        ErrorObject {
            code: code.to_owned(),
            message,
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let ApiError::Internal(detail) = &self {
            let error_id = uuid::Uuid::new_v4().to_string();
            tracing::error!(error_id, error = %detail, "API request failed");
            let error = ErrorObject {
                code: code.to_owned(),
                message: internal_message(&error_id),
                details: json!({ "error_id": error_id }),
            };
            return (status, Json(ErrorResponse::of(error))).into_response();
        }
        if status.is_server_error() {
            tracing::warn!(error = %self, "API request failed");
        }
        if let ApiError::RateLimited(d) = &self {
            // The original's body, which the CIO reads `retry_after` from.
            let body = RateLimitResponse {
                success: false,
                error: "rate_limit_exceeded",
                reason: d.reason,
                retry_after: d.retry_after,
                message: format!(
                    "configuration write rate limit exceeded ({}); retry in {} s",
                    d.reason, d.retry_after
                ),
            };
            let mut response = (status, Json(body)).into_response();
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(d.retry_after),
            );
            return response;
        }
        let body = ErrorResponse::of(self.error_object());
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge(crate::api::MAX_BODY_BYTES);
        }
        ApiError::BadRequest {
            code: "INVALID_BODY",
            message: r.body_text(),
            // A body that is not JSON at all has no field of its own: the body is named.
            field: field_from_serde_message(&r.body_text()).or_else(|| Some("body".into())),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest {
            code: "INVALID_QUERY",
            message: r.body_text(),
            field: field_from_serde_message(&r.body_text()).or_else(|| Some("query".into())),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest {
            code: "INVALID_PATH",
            message: r.body_text(),
            field: Some("path".into()),
        }
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::NotFound(m) => ApiError::NotFound(m),
            ConfigError::Validation(errors) => ApiError::Validation(errors),
            ConfigError::Unavailable(m) => ApiError::Unavailable(m),
            ConfigError::RateLimited(d) => ApiError::RateLimited(d),
            ConfigError::Conflict(m) => ApiError::Conflict(m),
            ConfigError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Pulls the field name out of serde messages such as "missing field `changed_by`".
fn field_from_serde_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(format!("/{}", &message[start..end]))
}
