//! Servers as the front ends show them: found by id or name, with their live state.

use std::collections::HashMap;

use serde::Serialize;
use xfleet_common::methods::ListeningSocket;
use xfleet_common::time::now_ms;

use super::core_templates::TemplateRef;
use super::{ModelError, Refusal, Result};
use crate::fleet::LiveInfo;
use crate::store::{InboundFailureRow, LinkHostSource, ServerRow};
use crate::Controller;

/// Why `name` cannot name a new or renamed server, field by field. A server is found by id or
/// by name wherever one is given (`--server 2`, `/servers/2`, `?server_id=2`), and digits are
/// always read as an id, so an all-digit name would act on another server; `.` and `..` would
/// be read as path steps. Names stored before these rules keep working (by id); they are
/// refused only when given anew.
pub fn check_name(name: &str) -> Result<()> {
    let why = if name.is_empty() || name.len() > 64 {
        Some(Refusal::new("err.length_64", &[]))
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        let char = c.escape_default().to_string();
        Some(Refusal::new("err.server_name_char", &[("char", char)]))
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        let name = name.to_owned();
        Some(Refusal::new("err.server_name_digits", &[("name", name)]))
    } else if name.bytes().all(|b| b == b'.') {
        let name = name.to_owned();
        Some(Refusal::new("err.server_name_dots", &[("name", name)]))
    } else {
        None
    };
    match why {
        Some(why) => Err(ModelError::Invalid(vec![why.at("name")])),
        None => Ok(()),
    }
}

/// A server by numeric id or by name.
pub async fn resolve(ctl: &Controller, key: &str) -> Result<ServerRow> {
    Ok(match key.parse::<i64>() {
        Ok(id) => ctl.store.server(id).await?,
        Err(_) => ctl.store.server_by_name(key).await?,
    })
}

/// The server a call that names none acts on (a 3x-ui script written for one server): the
/// one the `defaultServer` setting names, else the local server, else the first added.
pub async fn default_server(ctl: &Controller) -> Result<ServerRow> {
    let named = ctl
        .store
        .setting(super::settings::DEFAULT_SERVER)
        .await?
        .filter(|v| !v.trim().is_empty());
    if let Some(key) = named {
        // A default that was removed since falls back to the rule below.
        if let Ok(server) = resolve(ctl, key.trim()).await {
            return Ok(server);
        }
    }
    if let Some(local) = ctl.store.local_server().await? {
        return Ok(local);
    }
    ctl.store
        .list_servers()
        .await?
        .into_iter()
        .min_by_key(|s| s.id)
        .ok_or_else(|| ModelError::Conflict("there is no server yet; add one first".into()))
}

#[derive(Debug, Serialize)]
pub struct ServerView {
    pub id: i64,
    pub name: String,
    pub region: String,
    pub tags: Vec<String>,
    /// `pending` (never connected), `online` or `offline`.
    pub status: String,
    /// Connected to this controller, or (several controllers) to another one that is running.
    pub connected: bool,
    /// The id of the controller holding the agent's session while it is connected (see
    /// `GET /api/v1/controllers`).
    pub controller: Option<String>,
    pub last_seen: Option<i64>,
    pub last_error: Option<String>,
    pub version: Option<String>,
    pub core_version: Option<String>,
    pub os_info: Option<serde_json::Value>,
    pub hostname: Option<String>,
    pub enabled: bool,
    pub notes: String,
    pub revision: i64,
    pub applied_revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The server this controller runs itself (single-server mode).
    pub local: bool,
    /// Host name or IP share links point at, as the operator set it (empty: see
    /// `link_host`).
    pub public_address: String,
    /// Addresses the agent reported reachable from the internet, IPv4 first.
    pub reported_addresses: Vec<String>,
    /// Where share links point: `public_address`, else the first reported address, else the
    /// agent's host name; empty when none is known (links use the host of each request).
    pub link_host: String,
    /// How `link_host` was learnt: `public_address`, `agent`, `hostname`, or `none`.
    pub link_host_source: &'static str,
    /// Set while no public address is known, saying what links use instead.
    pub link_warning: Option<String>,
    /// Why enrolling, revoking or removing does not apply to this server, if it does not.
    pub refusals: Refusals,
    pub live: Option<LiveInfo>,
    /// `xray` or `v2ray`, as the agent last said.
    pub core_flavour: Option<String>,
    /// Inbounds the core runs without, each with the core's own words.
    pub failed_inbounds: Vec<InboundFailureRow>,
    /// Why the agent refused the last state sent to it; `None` once one applied.
    pub apply_error: Option<String>,
    /// The named core template the server runs; `None`: the fleet template.
    pub core_template: Option<TemplateRef>,
    /// Sockets other programs listen on at the host (from the last heartbeat, else as last
    /// stored), which new inbounds keep off; shown for one server at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening: Option<Vec<ListeningSocket>>,
    /// The server's row in the latest agent rollout that included it (state, and why it
    /// failed or rolled back); shown for one server at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_update: Option<crate::store::RolloutServerRow>,
}

/// Why an access action does not apply to a server: the API refuses with these words, and a
/// page shows them instead of offering the action.
#[derive(Debug, Default, Serialize)]
pub struct Refusals {
    /// A new enrollment token.
    pub enroll: Option<String>,
    pub revoke: Option<String>,
    pub remove: Option<String>,
}

/// The local server runs inside the controller: it was never enrolled and holds no
/// certificate, and it is removable only once single-server mode is off.
pub fn refusals(ctl: &Controller, row: &ServerRow) -> Refusals {
    if row.is_local == 0 {
        return Refusals::default();
    }
    Refusals {
        enroll: Some("the local server runs inside the controller: it needs no enrollment".into()),
        revoke: Some(
            "the local server runs inside the controller: it has no certificate to revoke".into(),
        ),
        remove: ctl.config.local_server.then(|| {
            "the local server cannot be removed while single-server mode is on; turn that off \
             first (`local_server = false` or `xfleet run --no-local-server`)"
                .into()
        }),
    }
}

/// What share links of a server use while no public address is known, as a warning; `None`
/// once the operator set one or the agent reported one.
pub fn link_warning(row: &ServerRow) -> Option<String> {
    let fix = "set the server's public address";
    match row.link_host() {
        Some((_, LinkHostSource::PublicAddress | LinkHostSource::Agent)) => None,
        Some((host, LinkHostSource::Hostname)) => Some(format!(
            "No public address is known for server {}: its share links use the host name \
             `{host}`, which clients elsewhere may not resolve; {fix}",
            row.name
        )),
        None => Some(format!(
            "No public address is known for server {}: its share links use the address each \
             request reached the controller by; {fix}",
            row.name
        )),
    }
}

/// Servers as shown, with the inbounds their cores run without.
pub async fn views(ctl: &Controller, rows: Vec<ServerRow>) -> Result<Vec<ServerView>> {
    let only = match rows.as_slice() {
        [one] => Some(one.id),
        _ => None,
    };
    let mut failed: HashMap<i64, Vec<InboundFailureRow>> = HashMap::new();
    for f in ctl.store.inbound_failures(only).await? {
        failed.entry(f.server_id).or_default().push(f);
    }
    // On a shared database, who holds each agent: another controller's agents are connected
    // too, and calls to them are routed there.
    let live_controllers: HashMap<String, String> = match ctl.cluster.is_shared() {
        true => {
            let since = now_ms() - crate::cluster::LEASE.as_millis() as i64;
            (ctl.store.live_controllers(since).await?)
                .into_iter()
                .filter(|c| c.id != ctl.cluster.id)
                .map(|c| (c.id, c.hop_url))
                .collect()
        }
        false => HashMap::new(),
    };
    let held_elsewhere = |row: &ServerRow| {
        (row.status == "online")
            .then_some(row.held_by.as_ref())
            .flatten()
            .and_then(|c| live_controllers.get(c))
    };
    let mut by_holder: HashMap<String, Vec<i64>> = HashMap::new();
    for row in &rows {
        if let Some(url) = held_elsewhere(row) {
            by_holder.entry(url.clone()).or_default().push(row.id);
        }
    }
    let mut live_elsewhere = match by_holder.is_empty() {
        true => Default::default(),
        false => {
            ctl.cluster
                .live_elsewhere(by_holder.into_iter().collect())
                .await
        }
    };
    let templates: HashMap<i64, String> = if rows.iter().any(|r| r.core_template_id.is_some()) {
        ctl.store
            .templates()
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let failures = failed.remove(&row.id).unwrap_or_default();
            let template = row.core_template_id.map(|id| TemplateRef {
                id,
                name: templates.get(&id).cloned().unwrap_or_default(),
            });
            let elsewhere = held_elsewhere(&row).is_some();
            let live = (live_elsewhere.remove(&row.id.to_string()))
                .and_then(|v| serde_json::from_value::<LiveInfo>(v).ok());
            view(ctl, row, failures, template, elsewhere.then_some(live))
        })
        .collect())
}

/// One server as shown, with the sockets other programs hold on its host.
pub async fn view_one(ctl: &Controller, row: ServerRow) -> Result<ServerView> {
    let listening = ctl
        .fleet
        .listening(row.id)
        .unwrap_or_else(|| row.listening());
    let agent_update = ctl.store.rollout_rows_of_server(row.id, 1).await?.pop();
    let mut one = views(ctl, vec![row]).await?.remove(0);
    one.listening = Some(listening);
    one.agent_update = agent_update;
    Ok(one)
}

fn view(
    ctl: &Controller,
    row: ServerRow,
    failed_inbounds: Vec<InboundFailureRow>,
    core_template: Option<TemplateRef>,
    // Held by another running controller: what it knows live of the agent, if it said.
    held_elsewhere: Option<Option<LiveInfo>>,
) -> ServerView {
    let here = ctl.fleet.live_info(row.id);
    let connected_here = here.is_some();
    let live = here.or_else(|| held_elsewhere.clone().flatten());
    let held_elsewhere = !connected_here && held_elsewhere.is_some();
    let controller = match connected_here {
        true => Some(ctl.cluster.id.clone()),
        false if held_elsewhere => row.held_by.clone(),
        false => None,
    };
    let (link_host, link_host_source) = match row.link_host() {
        Some((host, LinkHostSource::PublicAddress)) => (host, "public_address"),
        Some((host, LinkHostSource::Agent)) => (host, "agent"),
        Some((host, LinkHostSource::Hostname)) => (host, "hostname"),
        None => (String::new(), "none"),
    };
    let link_warning = link_warning(&row);
    let refusals = refusals(ctl, &row);
    let reported_addresses = row.reported_addresses();
    ServerView {
        reported_addresses,
        link_host,
        link_host_source,
        link_warning,
        refusals,
        tags: row.tags(),
        id: row.id,
        name: row.name,
        region: row.region,
        status: if live.is_some() {
            "online".into()
        } else {
            row.status
        },
        connected: connected_here || held_elsewhere,
        controller,
        last_seen: row.last_seen,
        last_error: row.last_error,
        version: row.version,
        core_version: row.core_version,
        os_info: row.os_info.and_then(|s| serde_json::from_str(&s).ok()),
        hostname: row.hostname,
        enabled: row.enabled != 0,
        notes: row.notes,
        revision: row.revision,
        applied_revision: row.applied_revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
        local: row.is_local != 0,
        public_address: row.public_address,
        live,
        core_flavour: row.core_flavour,
        failed_inbounds,
        apply_error: row.apply_error,
        core_template,
        listening: None,
        agent_update: None,
    }
}
