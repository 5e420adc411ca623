//! Static files embedded in the binary (Swagger UI, the web console): served with their content type and cache
//! headers, so the host works with no network access.

use crate::api::error::{ApiError, ApiPath};
use crate::api::params::AssetPath;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// Path below `/assets/`.
    pub path: &'static str,
    /// MIME type.
    pub content_type: &'static str,
    /// Contents.
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ct:literal) => {
        Asset {
            path: $path,
            content_type: $ct,
            bytes: include_bytes!(concat!("assets/", $path)),
        }
    };
}

/// Every embedded file.
pub static ASSETS: &[Asset] = &[
    asset!(
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/swagger-ui/swagger-ui.css",
        "text/css; charset=utf-8"
    ),
    asset!("vendor/swagger-ui/LICENSE", "text/plain; charset=utf-8"),
    asset!(
        "vendor/json-editor/jsoneditor.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/json-editor/LICENSE", "text/plain; charset=utf-8"),
    asset!(
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
    asset!("console/console.js", "text/javascript; charset=utf-8"),
    asset!("console/console.css", "text/css; charset=utf-8"),
    asset!("console/scorecard.js", "text/javascript; charset=utf-8"),
    asset!("console/explorer.js", "text/javascript; charset=utf-8"),
];

/// Every content type of [`ASSETS`] without parameters (what `/assets/{path}` can answer).
pub const CONTENT_TYPES: [&str; 3] = ["text/javascript", "text/css", "text/plain"];

/// Looks an asset up by path.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `GET /assets/{*path}` — cached for a day: the pages that use them (`/docs`, `/ui/`) reference vendored files by
/// versioned folder or `?v=<content hash>`, so a new build is picked up at once.
pub async fn serve(ApiPath(AssetPath { path }): ApiPath<AssetPath>) -> Result<Response, ApiError> {
    let a = find(&path).ok_or_else(|| ApiError::NotFound(format!("no asset at /assets/{path}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, a.content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        a.bytes,
    )
        .into_response())
}

/// `GET /docs` — Swagger UI over `/openapi.json`, entirely from embedded files.
pub async fn docs() -> Html<&'static str> {
    Html(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>realtime-strategies API</title>
<link rel="stylesheet" href="/assets/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/assets/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });
</script>
</body>
</html>"##,
    )
}
