//! How errors appear in the generated OpenAPI document: the error bodies as types (the same types
//! [`ApiError`](super::ApiError) serializes), the responses each extractor can answer early, and the helper that adds
//! an operation's own error statuses.

use aide::generate::GenContext;
use aide::openapi::{
    Header, Operation, ParameterSchemaOrContent, ReferenceOr, Response, SchemaObject, StatusCode,
};
use aide::operation::{OperationInput, OperationOutput};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use strategy_sdk::FieldError;

use super::{ApiError, ApiJson, ApiPath, ApiQuery};

/// The body of every error answer except the rate limit's.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorResponse {
    /// Always `false`.
    #[schemars(extend("const" = false))]
    pub success: bool,
    /// Always `null`.
    pub data: (),
    /// What went wrong.
    pub error: ErrorObject,
    /// Always `null`.
    pub metadata: (),
}

impl ErrorResponse {
    /// The body around `error`.
    pub fn of(error: ErrorObject) -> Self {
        Self {
            success: false,
            data: (),
            error,
            metadata: (),
        }
    }
}

/// `error` of an [`ErrorResponse`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorObject {
    /// Machine-readable code: `NOT_FOUND`, `VALIDATION_ERROR`, `INVALID_BODY`, `INVALID_QUERY`, `INVALID_PATH`,
    /// `INVALID_SYMBOL`, `UNAUTHORIZED`, `FORBIDDEN`, `STORE_UNAVAILABLE`, `PLUGIN_UNAVAILABLE`, `NOT_TRACKED`,
    /// `NOT_READY`, `TOO_MANY_CLIENTS`, `PAYLOAD_TOO_LARGE`, `CONFLICT`, `INTERNAL_ERROR`, …
    pub code: String,
    /// A sentence for a person (for a validation error: every `field: message`).
    pub message: String,
    /// `{errors: [FieldError]}` for input errors, the original's document for `NOT_TRACKED`, the readiness
    /// document for `NOT_READY`, `{error_id}` for `INTERNAL_ERROR`; otherwise `null`.
    #[schemars(schema_with = "details_schema")]
    pub details: Value,
}

fn details_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let field = generator.subschema_for::<FieldError>();
    schemars::json_schema!({
        "type": ["object", "null"],
        "properties": { "errors": { "type": "array", "items": field } }
    })
}

/// The body of a 429: the original service's shape, which the CIO reads `retry_after` from.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RateLimitResponse {
    /// Always `false`.
    #[schemars(extend("const" = false))]
    pub success: bool,
    /// Always `rate_limit_exceeded`.
    #[schemars(extend("const" = "rate_limit_exceeded"))]
    pub error: &'static str,
    /// Which limit.
    #[schemars(extend("enum" = ["cooldown_period", "agent_hourly_limit", "global_hourly_limit"]))]
    pub reason: &'static str,
    /// Seconds until a change would be accepted (also in `Retry-After`).
    #[schemars(range(min = 1))]
    pub retry_after: u64,
    /// A sentence for a person.
    pub message: String,
}

/// What each error status means, as documented on every operation that can answer it.
fn description(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHORIZED: no token (Authorization: Bearer or X-Petrosa-Internal-Token) while API_TOKEN is set, or writes are refused because API_TOKEN is not set",
        403 => "FORBIDDEN: wrong token",
        404 => "NOT_FOUND: unknown strategy, symbol, shadow, version or audit id, or nothing to delete or roll back; NOT_TRACKED: the market symbol is not tracked (the original's document in error.details)",
        409 => "CONFLICT: the name is taken or the limit is reached",
        413 => "PAYLOAD_TOO_LARGE: request body over 64 KiB",
        422 => "Invalid input: error.details.errors names every field (JSON pointer) and rule",
        429 => "Write rate limit exceeded (the original's body, and a Retry-After header); nothing was changed",
        500 => "INTERNAL_ERROR: the detail is in the service log under error.details.error_id",
        503 => "STORE_UNAVAILABLE: the configuration store is unavailable, nothing was written; PLUGIN_UNAVAILABLE: the plugin the endpoint reads is not running; NOT_READY (the readiness document in error.details); TOO_MANY_CLIENTS",
        _ => "Error",
    }
}

/// The documented response of one error status.
fn error_response(ctx: &mut GenContext, status: u16) -> Response {
    let schema = if status == 429 {
        ctx.schema.subschema_for::<RateLimitResponse>()
    } else {
        ctx.schema.subschema_for::<ErrorResponse>()
    };
    let mut headers = IndexMap::new();
    let header = |description: &str, schema: schemars::Schema| {
        ReferenceOr::Item(Header {
            description: Some(description.into()),
            style: Default::default(),
            required: true,
            deprecated: None,
            format: ParameterSchemaOrContent::Schema(SchemaObject {
                json_schema: schema,
                example: None,
                external_docs: None,
            }),
            example: None,
            examples: IndexMap::new(),
            extensions: IndexMap::new(),
        })
    };
    if status == 429 {
        headers.insert(
            "Retry-After".to_owned(),
            header(
                "Seconds until a change would be accepted",
                schemars::json_schema!({ "type": "integer", "minimum": 0 }),
            ),
        );
    }
    Response {
        description: description(status).into(),
        headers,
        content: crate::api::openapi::body(&["application/json"], &schema),
        ..Default::default()
    }
}

/// `(status, response)` pairs of error statuses, for inferred responses.
pub fn error_responses(
    ctx: &mut GenContext,
    statuses: &[u16],
) -> Vec<(Option<StatusCode>, Response)> {
    statuses
        .iter()
        .map(|s| (Some(StatusCode::Code(*s)), error_response(ctx, *s)))
        .collect()
}

/// Adds error statuses an operation answers besides those its extractors document (e.g. 404 for an unknown
/// strategy, 503 for a store outage).
pub fn with_errors<'a>(
    mut op: aide::transform::TransformOperation<'a>,
    statuses: &[u16],
) -> aide::transform::TransformOperation<'a> {
    aide::generate::in_context(|ctx| {
        let operation = op.inner_mut();
        let responses = operation.responses.get_or_insert_with(Default::default);
        for s in statuses {
            responses
                .responses
                .entry(StatusCode::Code(*s))
                .or_insert_with(|| ReferenceOr::Item(error_response(ctx, *s)));
        }
    });
    op
}

impl OperationOutput for ApiError {
    type Inner = ErrorResponse;

    /// Any handler that can fail can fail internally.
    fn inferred_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, Response)> {
        error_responses(ctx, &[500])
    }
}

impl<T: JsonSchema> OperationInput for ApiJson<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::Json::<T>::operation_input(ctx, operation);
    }

    /// A body that is not JSON, not of the documented shape (422) or too large (413).
    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, Response)> {
        error_responses(ctx, &[413, 422])
    }
}

impl<T: JsonSchema> OperationInput for ApiQuery<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Query::<T>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, Response)> {
        error_responses(ctx, &[422])
    }
}

impl<T: JsonSchema> OperationInput for ApiPath<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Path::<T>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, Response)> {
        error_responses(ctx, &[422])
    }
}
