//! [`WriteAccess`]: the extractor every write takes first, so the token check runs before anything else and the
//! document lists its statuses (401, 403) and security requirement on exactly the operations that check it.

use aide::generate::GenContext;
use aide::openapi::{Operation, Response, SecurityRequirement, StatusCode};
use aide::operation::OperationInput;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use indexmap::IndexMap;

use crate::api::error::ApiError;
use crate::api::AppState;

/// Names of the security schemes of the document (either header carries the token).
pub const SECURITY_SCHEMES: [&str; 2] = ["bearer", "internal_token"];

/// Proof that the request may write (see [`crate::api::config::authorize`]).
#[derive(Debug, Clone, Copy)]
pub struct WriteAccess;

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        crate::api::config::authorize(state, &parts.headers).map(|()| WriteAccess)
    }
}

impl OperationInput for WriteAccess {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        for scheme in SECURITY_SCHEMES {
            let requirement: SecurityRequirement =
                IndexMap::from_iter([(scheme.to_owned(), Vec::new())]);
            if !operation.security.contains(&requirement) {
                operation.security.push(requirement);
            }
        }
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, Response)> {
        crate::api::error::docs_responses(ctx, &[401, 403])
    }
}
