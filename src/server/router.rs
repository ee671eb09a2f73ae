//! The axum router: REST API, server functions, the Leptos app and static
//! files, with the layers every request passes through. Server only.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::{App, shell};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;

/// Every REST route of the API.
pub fn api_routes() -> Vec<ApiRoute> {
    let mut routes = vec![
        ApiRoute::new(Method::GET, "/healthz", get(healthz))
            .summary("Liveness: 200 when the server answers"),
    ];
    routes.extend(crate::auth::routes::routes());
    routes.extend(crate::realtime::sse::routes());
    routes.extend(crate::notifications::routes::routes());
    routes.extend(crate::notifications::channels::routes());
    routes.extend(crate::chat::routes::routes());
    routes.extend(crate::push::routes::routes());
    routes.extend(crate::integrations::routes::routes());
    routes.extend(crate::integrations::embed::routes());
    routes.extend(crate::topics::routes::routes());
    routes.push(crate::server::openapi::route());
    routes.extend(crate::system::routes::routes());
    routes
}

/// Builds the whole HTTP surface for `state`.
pub fn build(state: AppState) -> Router {
    // The app's catch-all route (`/*any`, the 404 page) is for the client's
    // router only: registered here it would answer for the static files
    // that the fallback handler serves.
    let routes: Vec<_> = generate_route_list(App)
        .into_iter()
        .filter(|listing| !listing.path().contains('*'))
        .collect();
    let leptos_options = state.leptos_options.clone();
    let fallback_state = state.clone();

    // Uploads get their own body limit (the attachment size plus room for
    // the multipart framing); everything else the small default one.
    let upload_limit = state.config.max_attachment_bytes.get() + 64 * 1024;
    let mut uploads = Router::new();
    let mut router = Router::new();
    let api = api_routes();
    let document = crate::server::openapi::document(&api);
    let reference = std::sync::Arc::new(crate::server::openapi::reference(&api, &document));
    let document = document.to_json().unwrap_or_else(|error| {
        tracing::error!(%error, "the OpenAPI document could not be written");
        "{}".into()
    });
    for route in api {
        if route.path == crate::chat::routes::UPLOAD_PATH {
            uploads = uploads.route(route.path, route.handler);
        } else {
            router = router.route(route.path, route.handler);
        }
    }
    let uploads = uploads
        .layer(RequestBodyLimitLayer::new(upload_limit))
        .layer(DefaultBodyLimit::max(upload_limit));
    let pkg = crate::server::assets::pkg_routes(
        &state.leptos_options.site_root,
        &state.leptos_options.site_pkg_dir,
        state.leptos_options.hash_files,
    );
    router
        .leptos_routes_with_context(&state, routes, || {}, move || shell(leptos_options.clone()))
        .merge(pkg)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || provide_context(fallback_state.clone()), shell
        ))
        // Answers 413 before the handler runs when Content-Length is too
        // large, and cuts off streamed bodies at the limit.
        .layer(RequestBodyLimitLayer::new(
            state.config.max_body_bytes.get(),
        ))
        .merge(uploads)
        .layer(axum::Extension(crate::server::openapi::OpenApiJson(
            document.into(),
        )))
        .layer(axum::Extension(reference))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(axum::middleware::from_fn(crate::server::security::no_store))
        .layer(axum::middleware::from_fn(
            crate::server::functions::malformed_arguments_are_400,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::server::security::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::csrf::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_rate_limited,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.config.clone(),
            crate::server::client_ip::record,
        ))
        // A panic is a logged 500, not a reset connection.
        .layer(CatchPanicLayer::custom(
            crate::server::security::panic_response,
        ))
        // Compresses pages, JSON, CSS and the WASM (866 KB -> 345 KB). The
        // default predicate leaves text/event-stream alone: a compressor
        // buffers, and events must leave at once.
        .layer(CompressionLayer::new())
        .layer(crate::integrations::cors::layer(&state))
        // Paths only: a query may hold a connection token (EventSource
        // cannot send it in a header), and tokens are never logged.
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = request.uri().path(),
                )
            }),
        )
        .with_state(state)
}

/// Counts 429 answers for the status page, whichever limit gave them.
async fn count_rate_limited(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        state.metrics.rate_limited();
    }
    response
}

/// Liveness that includes the database: 200 `ok`, or 503 when it does not
/// answer or cannot take writes (a full disk).
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(fault) = state.store.writer_health().fault() {
        tracing::warn!(fault = fault.code(), "health check: writes are failing");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}: {}", fault.code(), fault.explanation()),
        );
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable".to_owned(),
            )
        }
    }
}
