//! The original's response wrapper `{success, data, error, metadata}`.

use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

/// The standard wrapper of the configuration API (errors answer [`crate::api::error::ErrorResponse`]).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ApiResponse_{T}")]
pub struct ApiResponse<T: Serialize> {
    /// Always true for successful responses (errors go through `ApiError`).
    #[schemars(extend("const" = true))]
    pub success: bool,
    /// Payload.
    pub data: T,
    /// Always null here.
    pub error: (),
    /// Extra information (what was done, versions, replicas, …).
    #[schemars(with = "Option<Map<String, Value>>")]
    pub metadata: Option<Value>,
}

/// A success response with optional metadata.
pub fn ok<T: Serialize>(data: T, metadata: Option<Value>) -> Json<ApiResponse<T>> {
    Json(ApiResponse {
        success: true,
        data,
        error: (),
        metadata,
    })
}
