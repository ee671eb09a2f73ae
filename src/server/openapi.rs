//! The OpenAPI 3.1 document of the REST API (`GET /api/openapi.json`),
//! generated at start-up from the router's own route list, so that no
//! route can be missing from it: each [`ApiRoute`] gives its method, path
//! (path parameters are read from its `{name}` segments), summary, and the
//! model types it accepts and answers, whose schemas utoipa derives from
//! the types themselves. Server only.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref,
    Required, ResponseBuilder, Tag,
};
use utoipa::{PartialSchema, ToSchema};

use crate::model::error::ApiError;
use crate::model::status::{ApiReference, RouteInfo};
use crate::server::route::ApiRoute;

/// The document as served, built once by the router.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<str>);

/// `GET /api/openapi.json`, public (it describes the API, nothing in it is
/// secret).
pub fn route() -> ApiRoute {
    ApiRoute::new(Method::GET, "/api/openapi.json", get(openapi_json))
        .summary("This document: the REST API as OpenAPI 3.1")
}

async fn openapi_json(Extension(document): Extension<OpenApiJson>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        document.0.to_string(),
    )
        .into_response()
}

/// The document for `routes`.
pub fn document(routes: &[ApiRoute]) -> OpenApi {
    let mut paths = PathsBuilder::new();
    let mut components = ComponentsBuilder::new()
        .schema(ApiError::name(), ApiError::schema())
        .security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (hrld_…) for a host app's backend, or a connection token (a JWT) on the routes a browser client uses",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("herald_session"))),
        );
    let mut tags = BTreeMap::new();
    for route in routes {
        let Some(method) = http_method(&route.method) else {
            continue;
        };
        let tag = tag_of(route.path);
        tags.entry(tag.clone()).or_insert(());
        let mut operation = OperationBuilder::new()
            .tag(tag)
            .operation_id(Some(operation_id(&route.method, route.path)))
            .summary(Some(route.doc.summary.map_or_else(
                || format!("{} {}", route.method, route.path),
                str::to_owned,
            )));
        for name in path_parameters(route.path) {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        if let Some(request) = &route.doc.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name(&request.name))),
                    )
                    .required(Some(Required::True))
                    .build(),
            ));
            for (name, schema) in &request.schemas {
                components = components.schema(name.clone(), schema.clone());
            }
        }
        let (status, answer) = match &route.doc.response {
            Some((status, answer)) => (*status, Some(answer)),
            None => (route.doc.status, None),
        };
        let description = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Answer");
        let mut response = ResponseBuilder::new().description(description);
        if let Some(answer) = answer {
            response = response.content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(&answer.name))),
            );
            for (name, schema) in &answer.schemas {
                components = components.schema(name.clone(), schema.clone());
            }
        }
        operation = operation
            .response(status.to_string(), response.build())
            .response(
                "default",
                ResponseBuilder::new()
                    .description("An error: `{\"error\": ApiError}` (docs/API.md)")
                    .content(
                        "application/json",
                        Content::new(Some(
                            ObjectBuilder::new()
                                .property("error", Ref::from_schema_name("ApiError"))
                                .required("error"),
                        )),
                    )
                    .build(),
            );
        paths = paths.path(route.path, PathItem::new(method, operation.build()));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Herald")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Real-time notifications and chat over Server-Sent Events. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`; the event stream's frames are described in docs/API.md.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .tags(Some(tags.into_keys().map(Tag::new).collect::<Vec<_>>()))
        .build()
}

/// The admin page's view of `routes` and `document`: routes by group,
/// and each schema as pretty JSON.
pub fn reference(routes: &[ApiRoute], document: &OpenApi) -> ApiReference {
    let mut infos: Vec<RouteInfo> = routes
        .iter()
        .map(|route| RouteInfo {
            method: route.method.to_string(),
            path: route.path.to_owned(),
            tag: tag_of(route.path),
            summary: route.doc.summary.unwrap_or_default().to_owned(),
            request: route.doc.request.as_ref().map(|r| r.name.clone()),
            status: route
                .doc
                .response
                .as_ref()
                .map_or(route.doc.status, |(s, _)| *s),
            response: route.doc.response.as_ref().map(|(_, r)| r.name.clone()),
        })
        .collect();
    infos.sort_by(|a, b| (&a.tag, &a.path, &a.method).cmp(&(&b.tag, &b.path, &b.method)));
    let schemas = document
        .components
        .as_ref()
        .map(|components| {
            components
                .schemas
                .iter()
                .map(|(name, schema)| {
                    let json = serde_json::to_string_pretty(schema).unwrap_or_default();
                    (name.clone(), json)
                })
                .collect()
        })
        .unwrap_or_default();
    ApiReference {
        routes: infos,
        schemas,
    }
}

fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => return None,
    })
}

/// The group of a route: its first segment after `/api` (`notifications`).
fn tag_of(path: &str) -> String {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some("api"), Some(group)) => group.to_owned(),
        (Some(first), _) if !first.is_empty() => first.to_owned(),
        _ => "root".to_owned(),
    }
}

fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// `get_api_channels_name_members`.
fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(
            segment
                .chars()
                .filter(|c| !matches!(c, '{' | '}'))
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_tags_and_parameters_come_from_the_path() {
        assert_eq!(
            operation_id(&Method::DELETE, "/api/channels/{name}/members/{username}"),
            "delete_api_channels_name_members_username"
        );
        assert_eq!(tag_of("/api/notifications/read-all"), "notifications");
        assert_eq!(tag_of("/healthz"), "healthz");
        assert_eq!(
            path_parameters("/api/channels/{name}/members/{username}"),
            vec!["name", "username"]
        );
    }
}
