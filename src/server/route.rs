//! The type of one REST route, in a module of its own: every domain's
//! `routes.rs` builds a list of them and the router collects the lists, so
//! neither imports the other. Server only.

use axum::http::{Method, StatusCode};
use axum::routing::MethodRouter;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use crate::server::state::AppState;

/// One REST route: method, path and handler. Every API route is declared
/// through this list so that tests can walk all of them (for example to
/// check that each state-changing route refuses cross-site requests).
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
    /// What the OpenAPI document says of it.
    pub doc: RouteDoc,
}

/// A route's entry in the OpenAPI document (`server/openapi.rs`).
pub struct RouteDoc {
    pub summary: Option<&'static str>,
    /// The success status when the answer has no typed body.
    pub status: u16,
    pub request: Option<SchemaRef>,
    pub response: Option<(u16, SchemaRef)>,
}

/// A model type's schema name and the schemas it needs.
pub struct SchemaRef {
    pub name: String,
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

impl SchemaRef {
    fn of<T: ToSchema>() -> Self {
        let mut schemas = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut schemas);
        Self {
            name: T::name().into_owned(),
            schemas,
        }
    }
}

impl ApiRoute {
    /// A route entry.
    pub fn new(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method,
            path,
            handler,
            doc: RouteDoc {
                summary: None,
                status: 200,
                request: None,
                response: None,
            },
        }
    }

    /// One line on what the route does.
    pub fn summary(mut self, summary: &'static str) -> Self {
        self.doc.summary = Some(summary);
        self
    }

    /// The success status of an answer without a typed body (201, 202, 204).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.doc.status = status.as_u16();
        self
    }

    /// The JSON body it reads.
    pub fn accepts<T: ToSchema>(mut self) -> Self {
        self.doc.request = Some(SchemaRef::of::<T>());
        self
    }

    /// The JSON body it answers with `status`.
    pub fn answers<T: ToSchema>(mut self, status: StatusCode) -> Self {
        self.doc.response = Some((status.as_u16(), SchemaRef::of::<T>()));
        self
    }
}
