//! The web console: a single page served at `/ui/`, generated in the browser from the host's own API (strategy list,
//! JSON Schemas, effective configuration with provenance, audit, market metrics, the two SSE streams). Every file
//! is embedded (see [`crate::api::assets`]), so it works with no network access.
//!
//! `GET /` keeps answering the JSON service map to API clients; a client whose `Accept` header prefers `text/html`
//! over `application/json` (a browser) is redirected to `/ui/` instead.

use std::sync::LazyLock;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

use crate::api::{assets, service};

/// The page, with `{{v}}` standing for the asset version.
const INDEX: &str = include_str!("assets/console/index.html");

/// Content security policy of the page: everything from the host itself, nothing from anywhere else.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
form-action 'self'";

/// A short hash of every embedded console and vendored asset: appended to asset URLs (`?v=`) so browsers may cache
/// them for a day and still pick up a new build at once.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    // FNV-1a 64: stable across builds and platforms, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for a in assets::ASSETS {
        for b in a.path.bytes().chain(a.bytes.iter().copied()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{:012x}", h >> 16)
});

static PAGE: LazyLock<String> = LazyLock::new(|| INDEX.replace("{{v}}", &VERSION));

/// Quality (`q`) the `Accept` header gives to `ty/sub`, counting `ty/*` and `*/*` (0 when not acceptable).
fn quality(accept: &str, ty: &str, sub: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let (t, s) = media.split_once('/').unwrap_or((media.as_str(), ""));
        let specificity = match (t, s) {
            _ if t == ty && s == sub => 2,
            _ if t == ty && s == "*" => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if best.is_none_or(|(spec, _)| specificity > spec) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// Whether the request prefers HTML to JSON (ties go to JSON, so `*/*` and no header get the service map).
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    quality(accept, "text", "html") > quality(accept, "application", "json")
}

/// `GET /` — browsers are sent to the console, API clients get the JSON service map.
pub async fn root(
    headers: HeaderMap,
    axum::Extension(map): axum::Extension<service::EndpointMap>,
) -> Response {
    let mut response = if prefers_html(&headers) {
        Redirect::to("/ui/").into_response()
    } else {
        service::root(&map).into_response()
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// `GET /ui` — to `/ui/`.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/ui/")
}

/// `GET /ui/` — the console page (revalidated on every load; its assets are versioned).
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn browsers_prefer_html_api_clients_do_not() {
        assert!(prefers_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
        )));
        assert!(!prefers_html(&accept("*/*")));
        assert!(!prefers_html(&accept("application/json")));
        assert!(!prefers_html(&accept("application/json, text/html;q=0.5")));
        assert!(prefers_html(&accept("text/html")));
        assert!(!prefers_html(&accept("text/html;q=0, */*")));
        assert!(!prefers_html(&HeaderMap::new()));
    }

    #[test]
    fn page_references_versioned_embedded_assets() {
        assert!(!PAGE.contains("{{v}}"));
        for part in PAGE.split("/assets/").skip(1) {
            let path = part.split('?').next().unwrap_or_default();
            assert!(assets::find(path).is_some(), "{path} is not embedded");
        }
    }
}
