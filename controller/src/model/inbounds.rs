//! Inbound operations. Clients written inside `settings.clients` (3x-ui's way) become client
//! rows attached to the inbound.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;
use xfleet_common::state::InboundSpec;
use xfleet_common::xray::{self, RenderError};

use super::emails::{self, Named};
use super::host;
use super::input::client_key;
use super::{push_all, ClientInput, InboundInput, Problems, Result};
use crate::fleet::desired;
use crate::generate;
use crate::store::{fleet_write as write, ClientRow, InboundRow, NewClient, NewInbound, ServerRow};
use crate::Controller;

/// What an inbound's clients become on update: rows to change, create, detach.
struct ClientPlan {
    update: Vec<(ClientRow, NewClient)>,
    create: Vec<NewClient>,
    detach: Vec<ClientRow>,
}

pub async fn create_inbound(
    ctl: &Controller,
    actor: &str,
    server_id: i64,
    input: &InboundInput,
) -> Result<InboundRow> {
    let server = ctl.store.server(server_id).await?;
    let mut p = Problems::default();
    input.check(&mut p);
    let embedded = input.embedded_clients(&mut p);
    let mut create = Vec::new();
    let mut named = Named::default();
    for (i, c) in embedded.iter().enumerate() {
        let at = format!("settings.clients[{i}]");
        let field = format!("{at}.email");
        let mut new = c.resolve(None, &at, &mut p);
        fill_protocol_secret(input, c, &mut new);
        if named.first(&new.email, &field, "err.appears_twice_inbound", &mut p) {
            if let Some(other) = emails::holder(ctl, &new.email, None).await? {
                emails::taken(&mut p, &field, &new.email, &other, false);
            }
        }
        create.push(new);
    }
    let new = check_against_server(ctl, &server, input, None, &create, &mut p).await?;
    p.finish()?;

    let mut tx = ctl.store.pool().begin().await?;
    let row = write::insert_inbound(&mut tx, &new).await?;
    for c in &create {
        let client = write::insert_client(&mut tx, c).await?;
        write::attach(&mut tx, client.id, row.id).await?;
    }
    tx.commit().await?;
    desired::push(ctl, server.id, actor).await?;
    Ok(row)
}

/// Replaces an inbound's fields. When the body has `settings.clients`, the inbound's clients
/// become exactly that list: matched by email, then by their protocol secret (a rename),
/// created when new; clients left out are detached, and deleted if attached nowhere else.
pub async fn update_inbound(
    ctl: &Controller,
    actor: &str,
    id: i64,
    input: &InboundInput,
) -> Result<InboundRow> {
    let old = ctl.store.inbound(id).await?;
    let server = ctl.store.server(old.server_id).await?;
    let mut p = Problems::default();
    input.check(&mut p);
    let embedded = input.embedded_clients(&mut p);
    let attached = ctl.store.clients_of_inbound(id).await?;
    let plan = if input.settings.get("clients").is_some() {
        Some(plan_clients(ctl, input, &attached, &embedded, &mut p).await?)
    } else {
        None
    };
    // The clients the inbound will carry, for the render check.
    let carried: Vec<NewClient> = match &plan {
        Some(plan) => plan
            .update
            .iter()
            .map(|(_, n)| n.clone())
            .chain(plan.create.iter().cloned())
            .collect(),
        None => attached.iter().map(NewClient::from).collect(),
    };
    let new = check_against_server(ctl, &server, input, Some(&old), &carried, &mut p).await?;
    p.finish()?;

    let mut servers = BTreeSet::from([server.id]);
    let mut tx = ctl.store.pool().begin().await?;
    let row = write::update_inbound(&mut tx, &old, &new).await?;
    if let Some(plan) = plan {
        for (current, change) in &plan.update {
            if NewClient::from(current) != *change {
                servers.extend(ctl.store.servers_of_client(current.id).await?);
                write::update_client(&mut tx, current, change).await?;
            }
        }
        for c in &plan.create {
            let client = write::insert_client(&mut tx, c).await?;
            write::attach(&mut tx, client.id, row.id).await?;
        }
        for c in &plan.detach {
            write::detach(&mut tx, c.id, row.id).await?;
            if attachments(&mut tx, c.id).await? == 0 {
                write::delete_client(&mut tx, c, false).await?;
            }
        }
    }
    tx.commit().await?;
    push_all(ctl, &servers, actor).await?;
    Ok(row)
}

async fn attachments(c: &mut sqlx::AnyConnection, client_id: i64) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM client_inbounds WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(c)
        .await?;
    Ok(n)
}

async fn plan_clients(
    ctl: &Controller,
    input: &InboundInput,
    attached: &[ClientRow],
    embedded: &[ClientInput],
    p: &mut Problems,
) -> Result<ClientPlan> {
    let mut plan = ClientPlan {
        update: Vec::new(),
        create: Vec::new(),
        detach: Vec::new(),
    };
    let mut kept = HashSet::new();
    let mut named = Named::default();
    for (i, c) in embedded.iter().enumerate() {
        let at = format!("settings.clients[{i}]");
        let by_email = c
            .email
            .as_deref()
            .and_then(|e| attached.iter().find(|a| a.email == e.trim()));
        let by_key = || {
            let key = match input.protocol.as_str() {
                "vmess" | "vless" => c.id.as_deref(),
                "hysteria" | "hysteria2" => c.auth.as_deref(),
                "shadowsocks" => None,
                _ => c.password.as_deref(),
            }?;
            attached
                .iter()
                .find(|a| !kept.contains(&a.id) && client_key(&input.protocol, a) == key)
        };
        let current = by_email.or_else(by_key);
        let new = c.resolve(current, &at, p);
        let field = format!("{at}.email");
        if !named.first(&new.email, &field, "err.appears_twice_inbound", p) {
            continue;
        }
        // A new email must not belong to another client, in any letter case.
        if let Some(other) = emails::holder(ctl, &new.email, current.map(|c| c.id)).await? {
            emails::taken(p, &field, &new.email, &other, true);
            continue;
        }
        match current {
            Some(cur) => {
                kept.insert(cur.id);
                plan.update.push((cur.clone(), new));
            }
            None => {
                let mut new = new;
                fill_protocol_secret(input, c, &mut new);
                plan.create.push(new);
            }
        }
    }
    plan.detach = attached
        .iter()
        .filter(|a| !kept.contains(&a.id))
        .cloned()
        .collect();
    Ok(plan)
}

/// A Shadowsocks 2022 inbound needs user keys of its method's length, not passwords.
fn fill_protocol_secret(input: &InboundInput, given: &ClientInput, new: &mut NewClient) {
    if input.protocol != "shadowsocks" || given.password.is_some() {
        return;
    }
    let method = input
        .settings
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(key) = generate::ss2022_key(method) {
        new.password = key;
    }
}

/// Checks that need the server: tag and port clashes, and whether the inbound renders for
/// every core (and for the server's own core flavour). Returns the row to store.
async fn check_against_server(
    ctl: &Controller,
    server: &ServerRow,
    input: &InboundInput,
    old: Option<&InboundRow>,
    clients: &[NewClient],
    p: &mut Problems,
) -> Result<NewInbound> {
    let tag = input.effective_tag();
    let port = u16::try_from(input.port).unwrap_or(0);
    let listen = input.listen.trim().to_owned();
    // A tag made from the port clashes whenever the port does: the port's error says it.
    let from_port = [
        format!("inbound-{port}"),
        format!("inbound-{listen}:{port}"),
    ];
    for other in ctl.store.inbounds_of(server.id).await? {
        if old.is_some_and(|o| o.id == other.id) {
            continue;
        }
        let shared = other.listen == listen
            || other.listen.is_empty()
            || listen.is_empty()
            || other.listen == "0.0.0.0"
            || listen == "0.0.0.0";
        let port_clash = other.port == i64::from(port) && shared;
        if other.tag == tag && !(port_clash && from_port.contains(&tag)) {
            p.say("tag", "err.tag_taken", &[("tag", tag.clone())]);
        }
        if port_clash {
            p.say(
                "port",
                "err.port_taken",
                &[("port", port.to_string()), ("inbound", other.tag.clone())],
            );
        }
    }
    let settings = input.settings_without_clients();
    let new = NewInbound {
        server_id: server.id,
        remark: input.remark.clone(),
        enable: input.enable,
        listen,
        port,
        protocol: input.protocol.clone(),
        settings: Value::Object(settings.clone()),
        stream_settings: input.stream_settings.clone(),
        sniffing: input.sniffing.clone(),
        tag: tag.clone(),
        total: input.total,
        expiry_time: input.expiry_time,
        traffic_reset: input.traffic_reset.clone(),
    };
    if !p.is_empty() {
        return Ok(new);
    }
    // Render it as the agent will, clients included.
    let mut with_clients = settings;
    let rows: Vec<ClientRow> = clients.iter().map(ClientRow::preview).collect();
    if !rows.is_empty() {
        with_clients.insert(
            "clients".into(),
            Value::Array(
                rows.iter()
                    .map(|c| desired::client_json(&input.protocol, c))
                    .collect(),
            ),
        );
    }
    let spec = InboundSpec {
        id: old.map_or(0, |o| o.id),
        tag,
        enable: true,
        listen: new.listen.clone(),
        port,
        protocol: input.protocol.clone(),
        settings: Value::Object(with_clients),
        stream_settings: input.stream_settings.clone(),
        sniffing: input.sniffing.clone(),
    };
    if let Err(e) = xray::render_inbound(&spec, host::flavour(server)) {
        // The renderer's own words stay as they are; what this server's core lacks is ours.
        match &e {
            RenderError::Invalid { message, .. } => p.add(field_of(message), message.clone()),
            RenderError::Unsupported { feature, .. } => p.say(
                feature_field(feature),
                "err.unsupported",
                &[
                    ("feature", feature.to_string()),
                    ("core", host::core_label(server).to_string()),
                ],
            ),
            RenderError::Template { message } => p.add("settings", message.clone()),
        }
    }
    // A disabled inbound opens no port.
    if input.enable {
        let listener = host::Listener {
            listen: &spec.listen,
            port,
            protocol: &spec.protocol,
            settings: &spec.settings,
            stream_settings: &spec.stream_settings,
        };
        host::check_port_free(ctl, server, &listener, p);
    }
    Ok(new)
}

/// Which body field a render error is about: the path it names in backticks when there is
/// one (`realitySettings.privateKey` → `streamSettings.realitySettings.privateKey`), else the
/// section its wording points at.
fn field_of(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("fallback") {
        return "settings.fallbacks".into();
    }
    if let Some(path) = message.split('`').skip(1).step_by(2).find_map(body_path) {
        return path;
    }
    let stream_words = [
        "stream",
        "network",
        "transport",
        "tls",
        "reality",
        "grpc",
        "websocket",
        "ws ",
        "xhttp",
        "httpupgrade",
        "kcp",
        "certificate",
        "security",
        "header",
    ];
    if m.contains("sniffing") || m.contains("destoverride") {
        "sniffing"
    } else if stream_words.iter().any(|w| m.contains(w)) {
        "streamSettings"
    } else {
        "settings"
    }
    .into()
}

/// Which body field chooses a feature the server's core lacks, so a form can mark it.
fn feature_field(feature: &str) -> String {
    match feature {
        "REALITY" => "streamSettings.security".into(),
        "Hysteria" | "the WireGuard inbound" | "the mixed (SOCKS + HTTP) protocol" => {
            "protocol".into()
        }
        f if f.ends_with(" transport") => "streamSettings.network".into(),
        f if f.starts_with("Shadowsocks 2022") || f.starts_with("the Shadowsocks cipher") => {
            "settings.method".into()
        }
        f => field_of(f),
    }
}

/// A backticked name in a render message as a path into the request body, if it is one.
fn body_path(token: &str) -> Option<String> {
    let path_like = !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._[]".contains(c));
    if !path_like {
        return None;
    }
    let root = token.split(['.', '[']).next().unwrap_or("");
    match root {
        "settings" | "streamSettings" | "sniffing" => Some(token.to_owned()),
        "network" | "security" | "sockopt" | "finalmask" => Some(format!("streamSettings.{token}")),
        _ if root.ends_with("Settings") => Some(format!("streamSettings.{token}")),
        _ => None,
    }
}

/// Deletes an inbound. With `drop_orphans` (3x-ui's behaviour), clients attached nowhere
/// else go too; otherwise they stay as fleet-wide identities.
pub async fn delete_inbound(
    ctl: &Controller,
    actor: &str,
    id: i64,
    drop_orphans: bool,
) -> Result<InboundRow> {
    let row = ctl.store.inbound(id).await?;
    let clients = ctl.store.clients_of_inbound(id).await?;
    let mut tx = ctl.store.pool().begin().await?;
    write::delete_inbound(&mut tx, &row).await?;
    if drop_orphans {
        for c in &clients {
            if attachments(&mut tx, c.id).await? == 0 {
                write::delete_client(&mut tx, c, false).await?;
            }
        }
    }
    tx.commit().await?;
    desired::push(ctl, row.server_id, actor).await?;
    Ok(row)
}

pub async fn set_inbound_enable(
    ctl: &Controller,
    actor: &str,
    id: i64,
    enable: bool,
) -> Result<InboundRow> {
    let row = ctl.store.inbound(id).await?;
    write::set_inbound_enable(&mut *ctl.store.pool().acquire().await?, id, enable).await?;
    desired::push(ctl, row.server_id, actor).await?;
    Ok(ctl.store.inbound(id).await?)
}

/// Zeroes the usage of one server's inbounds (or every inbound), re-enabling any that their
/// quota had switched off.
pub async fn reset_inbounds_traffic(
    ctl: &Controller,
    actor: &str,
    server_id: Option<i64>,
    inbound_id: Option<i64>,
) -> Result<usize> {
    let rows: Vec<InboundRow> = match (inbound_id, server_id) {
        (Some(id), _) => vec![ctl.store.inbound(id).await?],
        (None, Some(server)) => ctl.store.inbounds_of(server).await?,
        (None, None) => ctl.store.all_inbounds().await?,
    };
    let mut tx = ctl.store.pool().begin().await?;
    for row in &rows {
        write::reset_inbound_traffic(&mut tx, row).await?;
    }
    tx.commit().await?;
    let servers: BTreeSet<i64> = rows.iter().map(|r| r.server_id).collect();
    push_all(ctl, &servers, actor).await?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::{feature_field, field_of};

    #[test]
    fn render_errors_name_the_most_precise_field() {
        for (message, field) in [
            (
                "REALITY needs `realitySettings.privateKey`",
                "streamSettings.realitySettings.privateKey",
            ),
            (
                "2022-blake3-aes-128-gcm needs a 16-byte base64 server key in `settings.password`",
                "settings.password",
            ),
            (
                "`streamSettings.network` must be a string",
                "streamSettings.network",
            ),
            (
                "transport masking (`finalmask`)",
                "streamSettings.finalmask",
            ),
            ("a fallback chosen by SNI (`name`)", "settings.fallbacks"),
            (
                "security `xtls` was removed from the cores",
                "streamSettings",
            ),
            ("Shadowsocks with more than one client", "settings"),
            ("`sniffing` must be an object", "sniffing"),
        ] {
            assert_eq!(field_of(message), field, "{message}");
        }
    }

    #[test]
    fn a_feature_the_core_lacks_names_the_field_that_chose_it() {
        for (feature, field) in [
            ("REALITY", "streamSettings.security"),
            ("the gRPC transport", "streamSettings.network"),
            ("the WireGuard inbound", "protocol"),
            ("Shadowsocks 2022", "settings.method"),
            (
                "transport masking (`finalmask`)",
                "streamSettings.finalmask",
            ),
        ] {
            assert_eq!(feature_field(feature), field, "{feature}");
        }
    }
}
