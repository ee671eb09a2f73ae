//! The OpenAPI document against the real server: it lists every REST route
//! the router serves (taken from the router's own list), each with its
//! path parameters, and every schema it refers to is in it.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref"
                    && let Some(target) = inner.as_str()
                {
                    out.push(target.to_owned());
                }
                refs(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_covers_every_route_and_resolves_every_schema() {
    let server = TestServer::start();
    let answer = server.client().get("/api/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    let document: Value = answer.json();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );

    let routes = herald::server::router::api_routes();
    assert!(routes.len() > 50);
    for route in &routes {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &document["paths"][route.path][&method];
        assert!(
            operation.is_object(),
            "{} {} is missing from the document",
            route.method,
            route.path
        );
        assert!(
            route.doc.summary.is_some(),
            "{} {} has no summary",
            route.method,
            route.path
        );
        let parameters: Vec<&str> = operation["parameters"]
            .as_array()
            .map(|list| list.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(parameters.contains(&name), "{}: {name}", route.path);
            }
        }
    }

    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {target}"));
        assert!(
            document["components"]["schemas"][name].is_object(),
            "{target} does not resolve"
        );
    }
    // Schemas are derived from the model types, fields and all.
    let publish = &document["components"]["schemas"]["PublishRequest"]["properties"];
    for field in [
        "to", "category", "priority", "title", "body", "url", "key", "data",
    ] {
        assert!(publish[field].is_object(), "PublishRequest.{field}");
    }
    let notification = &document["components"]["schemas"]["Notification"]["properties"];
    assert!(notification["created_at"].is_object());
}
