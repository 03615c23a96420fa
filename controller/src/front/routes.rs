//! The native API's routes as one table (`/api/v1/…`), filled by the front ends that serve
//! there (the native API, the panel's live events, the importer) and composed in one place:
//! the router and the OpenAPI document (`GET /api/v1/openapi.json`) are both built from it,
//! so they cannot drift apart.

use std::sync::Arc;

use axum::routing::MethodRouter;
use serde_json::{json, Map, Value};

use super::auth::SESSION_COOKIE;
use crate::Controller;

pub struct Route {
    pub method: &'static str,
    /// Below `/api/v1`, with `{param}` segments.
    pub path: &'static str,
    pub summary: &'static str,
    pub handler: MethodRouter<Arc<Controller>>,
    /// Anyone may call it; the rest need a session cookie or a Bearer token.
    pub public: bool,
    /// The query string it takes.
    pub query: &'static [QueryParam],
}

/// One query-string parameter of a route, for the OpenAPI document.
pub struct QueryParam {
    pub name: &'static str,
    /// `integer` or `string`.
    pub kind: &'static str,
    pub description: &'static str,
}

pub fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    handler: MethodRouter<Arc<Controller>>,
) -> Route {
    Route {
        method,
        path,
        summary,
        handler,
        public: false,
        query: &[],
    }
}

impl Route {
    /// Callable without credentials.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Takes these query-string parameters.
    pub fn query(mut self, params: &'static [QueryParam]) -> Self {
        self.query = params;
        self
    }
}

/// The OpenAPI 3.1 document of the native API's routes.
pub fn document(routes: &[Route]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in routes {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .chain(r.query.iter().map(|q| {
                json!({"name": q.name, "in": "query", "required": false,
                    "schema": {"type": q.kind}, "description": q.description})
            }))
            .collect();
        let tag = r.path.split('/').nth(1).unwrap_or("");
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}{}", r.method.to_lowercase(), r.path.replace(['/', '{', '}', '-', '.'], "_")),
            "tags": [tag],
            "parameters": params,
            "responses": {
                "200": {"description": "Success", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
                "4XX": {"description": "Refused; `error.code` says why, `error.details.fields` lists bad fields", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if matches!(r.method, "POST" | "PUT" | "PATCH") {
            op["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": {"type": "object"}}},
            });
        }
        if r.public {
            op["security"] = json!([]);
        }
        paths
            .entry(r.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(r.method.to_lowercase(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "xfleet native API",
            "version": xfleet_common::VERSION,
            "description": "Everything the panel does. 3x-ui compatible routes live under the base path (`/panel/api/...`) and follow 3x-ui's own contract.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"session": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Envelope": {
                    "type": "object",
                    "required": ["success", "data", "trace_id"],
                    "properties": {
                        "success": {"type": "boolean"},
                        "data": {},
                        "error": {"type": "null"},
                        "trace_id": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["success", "error", "trace_id"],
                    "properties": {
                        "success": {"const": false},
                        "data": {"type": "null"},
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {},
                            },
                        },
                        "trace_id": {"type": "string"},
                    },
                },
            },
        },
    })
}
