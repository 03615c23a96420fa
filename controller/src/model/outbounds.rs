//! Outbounds as the front ends show and use them: the traffic each server's outbounds have
//! carried (the agents count it per tag; see `store::traffic`), per server and summed across
//! the fleet by tag, its reset, and what an outbound test is sent to the agent with.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use xfleet_common::channel::CallError;
use xfleet_common::methods::{
    core_methods, default_deadline, OutboundTestAnswer, OutboundTestRequest,
};
use xfleet_common::protocol::{from_body, to_body};

use super::{FieldError, ModelError, Result};
use crate::store::ServerRow;
use crate::Controller;

/// The setting that holds the URL outbound tests fetch (3x-ui's).
pub const TEST_URL: &str = "xrayOutboundTestUrl";

/// What one outbound carried: on one server, or summed over servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundUsage {
    pub tag: String,
    pub up: i64,
    pub down: i64,
    pub total: i64,
}

impl OutboundUsage {
    fn new(tag: String, up: i64, down: i64) -> Self {
        Self {
            tag,
            up,
            down,
            total: up.saturating_add(down),
        }
    }
}

/// One server's outbounds.
#[derive(Debug, Clone, Serialize)]
pub struct ServerOutbounds {
    pub id: i64,
    pub name: String,
    pub outbounds: Vec<OutboundUsage>,
}

/// Outbound traffic of the servers asked for, and the same summed by tag.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundTraffic {
    pub servers: Vec<ServerOutbounds>,
    pub fleet: Vec<OutboundUsage>,
}

/// The outbound traffic of `server`, or of every server when `None`; `fleet` sums the
/// servers listed by tag.
pub async fn traffic(ctl: &Controller, server: Option<&ServerRow>) -> Result<OutboundTraffic> {
    let servers = match server {
        Some(s) => vec![s.clone()],
        None => ctl.store.list_servers().await?,
    };
    let counters = ctl.store.outbound_traffic(server.map(|s| s.id)).await?;
    let mut by_server: BTreeMap<i64, Vec<OutboundUsage>> = BTreeMap::new();
    let mut fleet: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for c in counters {
        let sum = fleet.entry(c.tag.clone()).or_default();
        sum.0 = sum.0.saturating_add(c.up);
        sum.1 = sum.1.saturating_add(c.down);
        by_server
            .entry(c.server_id)
            .or_default()
            .push(OutboundUsage::new(c.tag, c.up, c.down));
    }
    Ok(OutboundTraffic {
        servers: servers
            .into_iter()
            .map(|s| ServerOutbounds {
                outbounds: by_server.remove(&s.id).unwrap_or_default(),
                id: s.id,
                name: s.name,
            })
            .collect(),
        fleet: fleet
            .into_iter()
            .map(|(tag, (up, down))| OutboundUsage::new(tag, up, down))
            .collect(),
    })
}

/// Zeroes the counters of `tag` (every tag when `None`) on `server` (every server when
/// `None`); returns how many counters were zeroed.
pub async fn reset_traffic(
    ctl: &Controller,
    server: Option<&ServerRow>,
    tag: Option<&str>,
) -> Result<u64> {
    if tag.is_some_and(str::is_empty) {
        return Err(ModelError::Invalid(vec![FieldError::said(
            "tag",
            "err.outbound_tag_empty",
            &[],
        )]));
    }
    Ok(ctl
        .store
        .reset_outbound_traffic(server.map(|s| s.id), tag)
        .await?)
}

/// The body of `core.test_outbound`: the outbound, the others it may chain through, and the
/// URL (`url`, else the `xrayOutboundTestUrl` setting, else 3x-ui's default).
pub async fn test_request(
    ctl: &Controller,
    outbound: Value,
    all_outbounds: Option<Value>,
    url: Option<&str>,
) -> Result<OutboundTestRequest> {
    let mut problems = Vec::new();
    if !outbound.is_object() || outbound["protocol"].as_str().is_none_or(str::is_empty) {
        problems.push(FieldError::said("outbound", "err.outbound_object", &[]));
    }
    let all_outbounds = match all_outbounds {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.iter().all(Value::is_object) => list,
        Some(_) => {
            problems.push(FieldError::said("allOutbounds", "err.outbound_list", &[]));
            Vec::new()
        }
    };
    let url = match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => url.to_owned(),
        None => ctl
            .store
            .setting(TEST_URL)
            .await?
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| default_test_url().to_owned()),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(FieldError::said(
            "url",
            "err.url_scheme",
            &[("url", url.clone())],
        ));
    }
    if !problems.is_empty() {
        return Err(ModelError::Invalid(problems));
    }
    Ok(OutboundTestRequest {
        outbound,
        all_outbounds,
        url,
    })
}

/// The test URL's default, as the settings list it.
fn default_test_url() -> &'static str {
    super::settings::known(TEST_URL).map_or("https://www.google.com/generate_204", |k| k.default)
}

/// Runs `core.test_outbound` on `server`'s agent. A failed test is an answer
/// (`success: false`); an error means the agent could not be asked or refused the request.
pub async fn test(
    ctl: &Controller,
    server: &ServerRow,
    request: &OutboundTestRequest,
) -> std::result::Result<OutboundTestAnswer, CallError> {
    let method = core_methods::TEST_OUTBOUND;
    let body = to_body(request).map_err(CallError::from_body)?;
    let deadline = default_deadline(method, &Value::Null);
    let bytes = crate::fleet::call(ctl, server.id, method, body, deadline).await?;
    from_body(&bytes).map_err(CallError::from_body)
}
