//! The original's response wrapper `{success, data, error, metadata}`.

use axum::Json;
use serde::Serialize;
use serde_json::Value;

/// The standard wrapper of the configuration API.
#[derive(Debug, Serialize)]
pub struct ApiResponse<T: Serialize> {
    /// Always true for successful responses (errors go through `ApiError`).
    pub success: bool,
    /// Payload.
    pub data: T,
    /// Always null here.
    pub error: Option<Value>,
    /// Extra information.
    pub metadata: Option<Value>,
}

/// A success response with optional metadata.
pub fn ok<T: Serialize>(data: T, metadata: Option<Value>) -> Json<ApiResponse<T>> {
    Json(ApiResponse {
        success: true,
        data,
        error: None,
        metadata,
    })
}
