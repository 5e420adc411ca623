//! The one place where errors become HTTP responses.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use strategy_sdk::FieldError;

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
    /// A request body over the size limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The writer is over the write rate limit (answered in the original's shape, with `Retry-After`).
    #[error("rate limit exceeded ({})", .0.reason)]
    RateLimited(crate::config::rate_limit::Denied),
    /// Too many open live streams (`LIVE_MAX_CLIENTS`).
    #[error("{0}")]
    TooManyClients(String),
    /// A conflict (e.g. nothing to restore).
    #[error("{0}")]
    Conflict(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
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
            ApiError::TooManyClients(_) => (StatusCode::SERVICE_UNAVAILABLE, "TOO_MANY_CLIENTS"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }

    /// The JSON error object (`code`, `message`, `details`).
    pub fn body(&self) -> Value {
        let (_, code) = self.parts();
        let details = match self {
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
        json!({ "code": code, "message": message, "details": details })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.parts();
        if status.is_server_error() {
            tracing::warn!(error = %self, "API request failed");
        }
        if let ApiError::RateLimited(d) = &self {
            // The original's body, which the CIO reads `retry_after` from.
            let body = json!({
                "success": false,
                "error": "rate_limit_exceeded",
                "reason": d.reason,
                "retry_after": d.retry_after,
                "message": format!("configuration write rate limit exceeded ({}); retry in {} s", d.reason, d.retry_after),
            });
            let mut response = (status, Json(body)).into_response();
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(d.retry_after),
            );
            return response;
        }
        let body =
            json!({ "success": false, "data": null, "error": self.body(), "metadata": null });
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

/// Pulls the field name out of serde messages such as "missing field `changed_by`".
fn field_from_serde_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(format!("/{}", &message[start..end]))
}
