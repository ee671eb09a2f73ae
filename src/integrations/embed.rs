//! `GET /embed/herald.js`: the embeddable JavaScript client (the file
//! `embed/herald.js`, compiled into the binary so it always matches the
//! server's API), and its TypeScript declarations (`/embed/herald.d.ts`).
//! Host pages load the client with a `<script>` tag. Server only.

use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::server::route::ApiRoute;

/// The client's source.
pub const HERALD_JS: &str = include_str!("../../embed/herald.js");

/// Its TypeScript declarations.
pub const HERALD_D_TS: &str = include_str!("../../embed/herald.d.ts");

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/embed/herald.js", get(script))
            .summary("The embeddable JavaScript client"),
        ApiRoute::new(Method::GET, "/embed/herald.d.ts", get(declarations))
            .summary("TypeScript declarations of the embeddable client"),
    ]
}

async fn script() -> Response {
    file("text/javascript; charset=utf-8", HERALD_JS)
}

async fn declarations() -> Response {
    file("text/plain; charset=utf-8", HERALD_D_TS)
}

fn file(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Short: a new release reaches host pages within minutes.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("cross-origin"),
            ),
        ],
        text,
    )
        .into_response()
}
