//! The native API's routes as one table: the router and the OpenAPI document
//! (`GET /api/v1/openapi.json`) are both built from it, so they cannot drift apart.

use std::sync::Arc;

use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{auth, fleet, generate, history, import, links, servers, settings, tasks};
use crate::Controller;

pub struct Route {
    pub method: &'static str,
    /// Below `/api/v1`, with `{param}` segments.
    pub path: &'static str,
    pub summary: &'static str,
    pub handler: MethodRouter<Arc<Controller>>,
}

fn route(
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
    }
}

pub fn table() -> Vec<Route> {
    vec![
        route("GET", "/health", "Liveness, version and connected agents", get(super::health)),
        route("GET", "/openapi.json", "This document", get(openapi)),
        route("POST", "/auth/login", "Log in; sets the session cookie", post(auth::login)),
        route("POST", "/auth/logout", "End the session", post(auth::logout)),
        route("GET", "/auth/me", "Who the caller is", get(auth::me)),
        route("POST", "/auth/password", "Change the password; ends the user's other sessions", post(auth::change_password)),
        route("POST", "/auth/totp/setup", "Start two-factor setup: a new secret and otpauth URI", post(auth::totp_setup)),
        route("POST", "/auth/totp/enable", "Turn two-factor login on with a code from the new secret", post(auth::totp_enable)),
        route("POST", "/auth/totp/disable", "Turn two-factor login off (needs a current code)", post(auth::totp_disable)),
        route("GET", "/sessions", "Live sessions", get(auth::list_sessions)),
        route("DELETE", "/sessions/{id}", "Revoke a session", delete(auth::revoke_session)),
        route("GET", "/api-tokens", "List API tokens", get(auth::list_tokens)),
        route("POST", "/api-tokens", "Create an API token (the secret is shown once)", post(auth::create_token)),
        route("DELETE", "/api-tokens/{id}", "Delete an API token", delete(auth::delete_token)),
        route("GET", "/servers", "List servers with status", get(servers::list)),
        route("POST", "/servers", "Add a server", post(servers::create)),
        route("GET", "/servers/{server}", "One server (id or name)", get(servers::get_one)),
        route("PATCH", "/servers/{server}", "Change a server's name, region, tags, notes, enabled, public_address", patch(servers::update)),
        route("DELETE", "/servers/{server}", "Remove a server", delete(servers::remove)),
        route("POST", "/servers/{server}/revoke", "Revoke the agent's certificate and cut it off", post(servers::revoke)),
        route("POST", "/servers/{server}/enrollment-tokens", "Create a one-time enrollment token", post(servers::create_token)),
        route("POST", "/servers/{server}/call", "Call an agent method now", post(servers::call)),
        route("GET", "/servers/{server}/history", "Hourly traffic of a server (`?hours=N`)", get(history::server)),
        route("GET", "/clients/{email}/history", "Hourly traffic of a client per server (`?hours=N`)", get(history::client)),
        route("POST", "/servers/{server}/import/3xui", "Import a 3x-ui database (the x-ui.db file as the body) into a server", post(import::import_3xui).layer(axum::extract::DefaultBodyLimit::max(crate::import::MAX_DB_BYTES))),
        route("GET", "/servers/{server}/traffic", "Traffic recorded for a server", get(servers::traffic)),
        route("POST", "/fleet/call", "Call an agent method on many servers", post(servers::fleet_call)),
        route("GET", "/servers/{server}/tasks", "A server's task history", get(tasks::list)),
        route("POST", "/servers/{server}/tasks", "Queue a durable task for a server", post(tasks::create)),
        route("GET", "/tasks/{id}", "One task and its result", get(tasks::get_one)),
        route("GET", "/audit", "The audit log, newest first", get(tasks::audit)),
        route("GET", "/servers/{server}/inbounds", "A server's inbounds with usage", get(fleet::list_inbounds)),
        route("POST", "/servers/{server}/inbounds", "Create an inbound (clients in settings.clients are created)", post(fleet::create_inbound)),
        route("GET", "/inbounds/{id}", "One inbound", get(fleet::get_inbound)),
        route("PUT", "/inbounds/{id}", "Replace an inbound", put(fleet::update_inbound)),
        route("DELETE", "/inbounds/{id}", "Delete an inbound (`?deleteClients=true` also deletes clients it alone had)", delete(fleet::delete_inbound)),
        route("POST", "/inbounds/{id}/enable", "Turn an inbound on or off", post(fleet::set_inbound_enable)),
        route("POST", "/inbounds/{id}/reset-traffic", "Zero an inbound's usage", post(fleet::reset_inbound_traffic)),
        route("GET", "/clients", "Clients fleet-wide (`search`, `filter`=online|depleted|expiring|disabled|enabled, `inbound`)", get(fleet::list_clients)),
        route("POST", "/clients", "Create a client attached to inbounds on any servers", post(fleet::create_client)),
        route("POST", "/clients/bulk", "One action on many clients, all or none: `{emails, action: enable|disable|reset-traffic|delete|extend, days, keepTraffic}`", post(fleet::bulk_clients)),
        route("POST", "/clients/delete-depleted", "Delete clients over quota or expired (without auto-renew)", post(fleet::delete_depleted)),
        route("GET", "/clients/{email}", "One client with fleet-wide usage", get(fleet::get_client)),
        route("PUT", "/clients/{email}", "Change a client (absent fields are kept)", put(fleet::update_client)),
        route("DELETE", "/clients/{email}", "Delete a client everywhere (`?keepTraffic=true`)", delete(fleet::delete_client)),
        route("POST", "/clients/{email}/attach", "Attach a client to more inbounds", post(fleet::attach_client)),
        route("POST", "/clients/{email}/detach", "Detach a client from inbounds", post(fleet::detach_client)),
        route("POST", "/clients/{email}/reset-traffic", "Zero a client's usage and re-enable it", post(fleet::reset_client_traffic)),
        route("GET", "/clients/{email}/links", "A client's share links on every server and its subscription URLs", get(links::client_links)),
        route("GET", "/clients/{email}/ips", "Source addresses seen for a client", get(fleet::client_ips)),
        route("DELETE", "/clients/{email}/ips", "Forget a client's source addresses", delete(fleet::clear_client_ips)),
        route("GET", "/events", "Live fleet snapshots as server-sent events (`snapshot`)", get(crate::panel::events::stream)),
        route("GET", "/settings", "Panel settings (3x-ui key names)", get(settings::list)),
        route("PATCH", "/settings", "Change panel settings", patch(settings::update)),
        route("POST", "/panel/restart", "Restart the controller in place so saved panel settings (address, port, base path, TLS) apply; agents reconnect", post(settings::restart)),
        route("GET", "/qr", "A QR code of `?text=` as SVG (image/svg+xml, at most 2048 bytes)", get(links::qr_code)),
        route("GET", "/generate/{kind}", "Generate uuid, x25519, short-ids, password or ss2022 keys", get(generate::generate)),
    ]
}

/// Routes anyone may call; the rest need a session cookie or a Bearer token.
const PUBLIC: &[&str] = &["/health", "/openapi.json", "/auth/login"];

/// The OpenAPI 3.1 document for [`table`].
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in table() {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
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
        if PUBLIC.contains(&r.path) {
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
                "session": {"type": "apiKey", "in": "cookie", "name": auth::SESSION_COOKIE},
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

async fn openapi() -> Json<Value> {
    Json(document())
}
