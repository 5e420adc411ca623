//! The original's response wrapper `{success, data, error, metadata}`.

use std::borrow::Cow;

use axum::Json;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

/// The standard wrapper of the configuration API (errors answer [`crate::api::error::ErrorResponse`]): the
/// payload in `data` and what was done (versions, replicas, counts, …) in `metadata`, each with its own type.
#[derive(Debug, Serialize)]
pub struct ApiResponse<T, M = NoMetadata> {
    /// Always true for successful responses (errors go through `ApiError`).
    pub success: bool,
    /// Payload.
    pub data: T,
    /// Always null here.
    pub error: (),
    /// Extra information (what was done, versions, replicas, …); `null` ([`NoMetadata`]) when there is none.
    pub metadata: M,
}

/// `metadata` of an answer that has none: serialized as `null`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NoMetadata;

impl JsonSchema for NoMetadata {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "NoMetadata".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({ "description": "No metadata: always null.", "type": "null" })
    }
}

/// Named `ApiResponse_<data>` (`ApiResponse_<data>_<metadata>` when it has metadata), so every answer of the
/// configuration API is a named schema in the document.
impl<T: JsonSchema, M: JsonSchema> JsonSchema for ApiResponse<T, M> {
    fn schema_name() -> Cow<'static, str> {
        let (data, meta) = (T::schema_name(), M::schema_name());
        if meta == NoMetadata::schema_name() {
            format!("ApiResponse_{data}").into()
        } else {
            format!("ApiResponse_{data}_{meta}").into()
        }
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let data = g.subschema_for::<T>();
        let metadata = g.subschema_for::<M>();
        schemars::json_schema!({
            "description": "The standard wrapper of the configuration API (errors answer ErrorResponse).",
            "type": "object",
            "properties": {
                "success": {
                    "description": "Always true for successful responses (errors answer ErrorResponse).",
                    "type": "boolean",
                    "const": true
                },
                "data": data,
                "error": { "description": "Always null here.", "type": "null" },
                "metadata": metadata
            },
            "required": ["success", "data", "error", "metadata"]
        })
    }
}

/// A success response without metadata.
pub fn ok<T: Serialize>(data: T) -> Json<ApiResponse<T>> {
    with_metadata(data, NoMetadata)
}

/// A success response with metadata.
pub fn with_metadata<T: Serialize, M: Serialize>(data: T, metadata: M) -> Json<ApiResponse<T, M>> {
    Json(ApiResponse {
        success: true,
        data,
        error: (),
        metadata,
    })
}
