//! `GET /embed/herald.js`: the embeddable JavaScript client (the file
//! `embed/herald.js`, compiled into the binary so it always matches the
//! server's API). Host pages load it with a `<script>` tag from their own
//! origin. Server only.

use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::server::route::ApiRoute;

/// The client's source.
pub const HERALD_JS: &str = include_str!("../../embed/herald.js");

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/embed/herald.js", get(script))
            .summary("The embeddable JavaScript client"),
    ]
}

async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
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
        HERALD_JS,
    )
        .into_response()
}
