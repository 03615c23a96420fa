//! The core's own configuration around the inbounds (DESIGN §13): the fleet template (the
//! setting `xrayTemplateConfig`, empty for the built-in default) and named templates that
//! replace it for the servers pointed at them. One operator says "these 30 servers route
//! Iranian sites direct" by giving those servers one template.
//!
//! A template is saved only when it renders and, where a server it affects is online, that
//! server's core accepts it: one online server per core flavour and version tests it
//! (`state.check`) and a refusal is the core's own words. Offline servers meet it on their
//! return; a core that refuses it then keeps its last good configuration and the server row
//! says why. Every change bumps the revision of each server it affects.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use xfleet_common::channel::CallError;
use xfleet_common::protocol;
use xfleet_common::state::{method, DesiredState};
use xfleet_common::xray::{self, default_template, Flavour, RenderOptions};

use super::servers::resolve;
use super::{push_all, FieldError, ModelError, Result};
use crate::fleet::desired::{self, CORE_TEMPLATE};
use crate::model::Refusal;
use crate::store::{ServerRow, TemplateRow};
use crate::Controller;

/// A template's JSON text, at most.
pub const MAX_TEMPLATE: usize = 1024 * 1024;
/// A template's name, at most (characters).
pub const MAX_NAME: usize = 64;
/// How long a core has to test a template.
const CHECK_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServerRef {
    pub id: i64,
    pub name: String,
}

impl From<&ServerRow> for ServerRef {
    fn from(s: &ServerRow) -> Self {
        Self {
            id: s.id,
            name: s.name.clone(),
        }
    }
}

/// The fleet template as shown.
#[derive(Debug, Serialize)]
pub struct FleetTemplate {
    /// The stored template; `None`: the built-in default.
    pub config: Option<Value>,
    /// The built-in default.
    pub default: Value,
    /// Servers that run the fleet template.
    pub servers: Vec<ServerRef>,
}

/// A named template as shown.
#[derive(Debug, Serialize)]
pub struct NamedTemplate {
    pub id: i64,
    pub name: String,
    pub notes: String,
    pub config: Value,
    pub servers: Vec<ServerRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a server runs, and where it comes from.
#[derive(Debug, Serialize)]
pub struct ServerTemplate {
    /// `fleet` or `template`.
    pub source: &'static str,
    pub template: Option<TemplateRef>,
    /// The template the server's configuration is rendered around (the default when the
    /// fleet has none).
    pub config: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateRef {
    pub id: i64,
    pub name: String,
}

/// What saving changed.
#[derive(Debug, Serialize)]
pub struct Saved {
    /// Servers whose core configuration follows the change.
    pub servers: Vec<ServerRef>,
    /// Servers whose core tested the template before it was saved.
    pub checked_on: Vec<ServerRef>,
}

/// The built-in default in the form every core takes: explicit private ranges, no geo files,
/// no metrics. A server on an empty fleet template runs its own variant of it, which adds
/// `geoip:private` where `geoip.dat` is installed and Xray's metrics on Xray.
pub fn builtin_default() -> Value {
    default_template(Flavour::V2ray, false)
}

/// The catalog's refusal `key` under `field`.
fn invalid(field: &str, key: &'static str, args: &[(&'static str, String)]) -> ModelError {
    ModelError::Invalid(vec![FieldError::said(field, key, args)])
}

/// A template as the operator gave it: a JSON object (or its text) that renders. Answers it
/// compact, as stored.
pub fn parse(field: &str, given: &Value) -> Result<Value> {
    let template = match given {
        Value::String(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| invalid(field, "err.not_json", &[("error", e.to_string())]))?,
        other => other.clone(),
    };
    if !template.is_object() {
        return Err(invalid(field, "err.template_object", &[]));
    }
    if template.to_string().len() > MAX_TEMPLATE {
        return Err(invalid(field, "err.template_size", &[]));
    }
    let state = DesiredState {
        template: Some(template),
        ..DesiredState::default()
    };
    // The renderer's own words.
    xray::render(&state, &RenderOptions::new(Flavour::Xray))
        .map_err(|e| ModelError::Invalid(vec![FieldError::new(field, e.to_string())]))?;
    Ok(state.template.expect("set above"))
}

fn stored(row: &TemplateRow) -> Value {
    serde_json::from_str(&row.config).unwrap_or_else(|_| Value::from(row.config.clone()))
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "err.not_empty", &[]));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "err.name_length",
            &[("max", MAX_NAME.to_string())],
        ));
    }
    Ok(name.to_owned())
}

fn fleet_servers(servers: &[ServerRow]) -> Vec<&ServerRow> {
    servers
        .iter()
        .filter(|s| s.core_template_id.is_none())
        .collect()
}

fn users_of(servers: &[ServerRow], template: i64) -> Vec<&ServerRow> {
    servers
        .iter()
        .filter(|s| s.core_template_id == Some(template))
        .collect()
}

pub async fn fleet(ctl: &Controller) -> Result<FleetTemplate> {
    let servers = ctl.store.list_servers().await?;
    let config = desired::core_template(ctl.store.setting(CORE_TEMPLATE).await?);
    Ok(FleetTemplate {
        config,
        default: builtin_default(),
        servers: fleet_servers(&servers)
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// Sets the fleet template (`None`: the built-in default) through the settings, which check
/// it (rendered, tested by the cores) and push it to the servers that run it.
pub async fn set_fleet(ctl: &Controller, config: Option<&Value>, actor: &str) -> Result<Saved> {
    let text = match config {
        None | Some(Value::Null) => String::new(),
        Some(given) => parse("config", given)?.to_string(),
    };
    let change = [(CORE_TEMPLATE.to_owned(), Value::String(text))].into();
    let checked_on = super::settings::update(ctl, &change, actor)
        .await?
        .checked_on;
    let servers = ctl.store.list_servers().await?;
    Ok(Saved {
        servers: fleet_servers(&servers)
            .into_iter()
            .map(Into::into)
            .collect(),
        checked_on,
    })
}

fn named(row: TemplateRow, servers: &[ServerRow]) -> NamedTemplate {
    NamedTemplate {
        config: stored(&row),
        servers: users_of(servers, row.id)
            .into_iter()
            .map(Into::into)
            .collect(),
        id: row.id,
        name: row.name,
        notes: row.notes,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub async fn list(ctl: &Controller) -> Result<Vec<NamedTemplate>> {
    let servers = ctl.store.list_servers().await?;
    Ok(ctl
        .store
        .templates()
        .await?
        .into_iter()
        .map(|row| named(row, &servers))
        .collect())
}

/// A template by id or name.
pub async fn find(ctl: &Controller, key: &str) -> Result<TemplateRow> {
    Ok(match key.trim().parse::<i64>() {
        Ok(id) => ctl.store.template(id).await?,
        Err(_) => ctl.store.template_by_name(key.trim()).await?,
    })
}

pub async fn get(ctl: &Controller, key: &str) -> Result<NamedTemplate> {
    let row = find(ctl, key).await?;
    let servers = ctl.store.list_servers().await?;
    Ok(named(row, &servers))
}

/// What a named template's save asks for; absent fields are kept.
#[derive(Debug, Default)]
pub struct TemplateChange {
    pub name: Option<String>,
    pub config: Option<Value>,
    pub notes: Option<String>,
    /// When given, exactly these servers (ids or names) use the template afterwards; those
    /// it leaves go back to the fleet template.
    pub servers: Option<Vec<String>>,
    /// Servers carrying any of these tags use the template too.
    pub tags: Vec<String>,
}

/// The servers a change names, by id or name and by tag.
async fn named_servers(
    ctl: &Controller,
    keys: &[String],
    tags: &[String],
) -> Result<BTreeSet<i64>> {
    let mut ids = BTreeSet::new();
    for key in keys {
        let server = resolve(ctl, key).await.map_err(|e| match e {
            ModelError::NotFound(_) => {
                invalid("servers", "err.no_server", &[("server", key.clone())])
            }
            other => other,
        })?;
        ids.insert(server.id);
    }
    if !tags.is_empty() {
        for server in ctl.store.list_servers().await? {
            if server.tags().iter().any(|t| tags.contains(t)) {
                ids.insert(server.id);
            }
        }
    }
    Ok(ids)
}

pub async fn create(
    ctl: &Controller,
    change: TemplateChange,
    actor: &str,
) -> Result<(NamedTemplate, Saved)> {
    let name = check_name(change.name.as_deref().unwrap_or_default())?;
    let config = parse("config", change.config.as_ref().unwrap_or(&Value::Null))?;
    let members = named_servers(
        ctl,
        change.servers.as_deref().unwrap_or_default(),
        &change.tags,
    )
    .await?;
    let checked_on = check_with_cores(ctl, &config, &members).await?;
    let row = ctl
        .store
        .create_template(
            &name,
            &config.to_string(),
            change.notes.as_deref().unwrap_or(""),
        )
        .await?;
    let ids: Vec<i64> = members.iter().copied().collect();
    ctl.store.assign_template(&ids, Some(row.id)).await?;
    push_all(ctl, &members, actor).await?;
    let shown = get(ctl, &row.id.to_string()).await?;
    let saved = Saved {
        servers: shown.servers.clone(),
        checked_on,
    };
    Ok((shown, saved))
}

pub async fn update(
    ctl: &Controller,
    key: &str,
    change: TemplateChange,
    actor: &str,
) -> Result<(NamedTemplate, Saved)> {
    let row = find(ctl, key).await?;
    let servers = ctl.store.list_servers().await?;
    let before: BTreeSet<i64> = users_of(&servers, row.id).iter().map(|s| s.id).collect();
    let name = match &change.name {
        Some(name) => check_name(name)?,
        None => row.name.clone(),
    };
    let config = match &change.config {
        Some(given) => parse("config", given)?,
        None => stored(&row),
    };
    let mut after = match &change.servers {
        Some(keys) => named_servers(ctl, keys, &[]).await?,
        None => before.clone(),
    };
    after.extend(named_servers(ctl, &[], &change.tags).await?);
    let text = config.to_string();
    let config_changed = text != row.config;
    let joining: BTreeSet<i64> = after.difference(&before).copied().collect();
    let checked_on = if config_changed {
        check_with_cores(ctl, &config, &after).await?
    } else {
        check_with_cores(ctl, &config, &joining).await?
    };
    let notes = change.notes.clone().unwrap_or(row.notes.clone());
    let row = ctl
        .store
        .update_template(row.id, &name, &text, &notes)
        .await?;
    let leaving: Vec<i64> = before.difference(&after).copied().collect();
    ctl.store.assign_template(&leaving, None).await?;
    ctl.store
        .assign_template(&joining.iter().copied().collect::<Vec<_>>(), Some(row.id))
        .await?;
    let mut affected: BTreeSet<i64> = leaving.into_iter().collect();
    affected.extend(&joining);
    if config_changed {
        affected.extend(&after);
    }
    push_all(ctl, &affected, actor).await?;
    let shown = get(ctl, &row.id.to_string()).await?;
    let servers = ctl.store.list_servers().await?;
    let saved = Saved {
        servers: servers
            .iter()
            .filter(|s| affected.contains(&s.id))
            .map(Into::into)
            .collect(),
        checked_on,
    };
    Ok((shown, saved))
}

pub async fn delete(ctl: &Controller, key: &str) -> Result<()> {
    let row = find(ctl, key).await?;
    let servers = ctl.store.list_servers().await?;
    let users = users_of(&servers, row.id);
    if !users.is_empty() {
        let names: Vec<&str> = users.iter().map(|s| s.name.as_str()).collect();
        return Err(ModelError::Conflict(
            Refusal::new(
                "err.template_in_use",
                &[("name", row.name.clone()), ("servers", names.join(", "))],
            )
            .into(),
        ));
    }
    ctl.store.delete_template(row.id).await?;
    Ok(())
}

/// Points a server at a named template (`None`: the fleet template), tested by its core
/// first when it is online.
pub async fn assign(
    ctl: &Controller,
    server: &ServerRow,
    template: Option<&str>,
    actor: &str,
) -> Result<ServerTemplate> {
    let row = match template.map(str::trim).filter(|k| !k.is_empty()) {
        Some(key) => Some(find(ctl, key).await.map_err(|e| match e {
            ModelError::NotFound(_) => invalid(
                "template",
                "err.no_template",
                &[("template", key.to_owned())],
            ),
            other => other,
        })?),
        None => None,
    };
    if server.core_template_id != row.as_ref().map(|r| r.id) {
        // An empty fleet template is each server's own default: nothing to test.
        let config = match &row {
            Some(r) => Some(stored(r)),
            None => fleet(ctl).await?.config,
        };
        if let Some(config) = config {
            check_with_cores(ctl, &config, &[server.id].into()).await?;
        }
        ctl.store
            .assign_template(&[server.id], row.as_ref().map(|r| r.id))
            .await?;
        desired::push(ctl, server.id, actor).await?;
    }
    of_server(ctl, &ctl.store.server(server.id).await?).await
}

/// The fleet template in force: the stored one, else the built-in default.
async fn fleet_config(ctl: &Controller) -> Result<Value> {
    Ok(fleet(ctl).await?.config.unwrap_or_else(builtin_default))
}

pub async fn of_server(ctl: &Controller, server: &ServerRow) -> Result<ServerTemplate> {
    match server.core_template_id {
        Some(id) => {
            let row = ctl.store.template(id).await?;
            Ok(ServerTemplate {
                source: "template",
                config: stored(&row),
                template: Some(TemplateRef {
                    id: row.id,
                    name: row.name,
                }),
            })
        }
        None => Ok(ServerTemplate {
            source: "fleet",
            template: None,
            config: fleet_config(ctl).await?,
        }),
    }
}

/// Sets the template one server runs, as 3x-ui's page does for its one server: the server's
/// own named template is changed (every server sharing it follows), and a server on the
/// fleet template gets a template of its own, named after it.
pub async fn set_for_server(
    ctl: &Controller,
    server: &ServerRow,
    config: &Value,
    actor: &str,
) -> Result<Saved> {
    if let Some(id) = server.core_template_id {
        let change = TemplateChange {
            config: Some(config.clone()),
            ..Default::default()
        };
        return Ok(update(ctl, &id.to_string(), change, actor).await?.1);
    }
    let mut name = server.name.clone();
    if ctl.store.template_by_name(&name).await.is_ok() {
        name = format!("{} #{}", server.name, server.id);
    }
    let change = TemplateChange {
        name: Some(name),
        config: Some(config.clone()),
        notes: Some(format!("made for server `{}`", server.name)),
        servers: Some(vec![server.id.to_string()]),
        tags: Vec::new(),
    };
    Ok(create(ctl, change, actor).await?.1)
}

/// Has the cores of `servers` test `template` before it is saved: one online server per core
/// flavour and version, with its own inbounds around the template. A core's refusal refuses
/// the template with its words; an agent that cannot test (offline, too old, too slow) is
/// passed over, and its server meets the template when it applies it.
pub async fn check_with_cores(
    ctl: &Controller,
    template: &Value,
    servers: &BTreeSet<i64>,
) -> Result<Vec<ServerRef>> {
    if servers.is_empty() {
        return Ok(Vec::new());
    }
    let mut tried = BTreeSet::new();
    let mut checked = Vec::new();
    for server in ctl.store.list_servers().await? {
        if !servers.contains(&server.id) || !crate::fleet::reachable(ctl, server.id).await {
            continue;
        }
        let core = (server.core_flavour.clone(), server.core_version.clone());
        if tried.contains(&core) {
            continue;
        }
        let mut state = desired::build(ctl, server.id, server.revision).await?;
        state.template = Some(template.clone());
        let body = json!({ "full": state });
        match crate::fleet::call_json(ctl, server.id, method::CHECK, &body, CHECK_DEADLINE).await {
            Ok(_) => {
                tried.insert(core);
                checked.push(ServerRef::from(&server));
            }
            Err(CallError::Remote { code, message, .. })
                if code == protocol::code::INVALID_CONFIG
                    || code == protocol::code::CORE_FAILED =>
            {
                // The core's words go in whole.
                let (name, error) = (("server", server.name.clone()), ("error", message));
                return Err(match (&server.core_flavour, &server.core_version) {
                    (Some(f), Some(v)) => invalid(
                        "config",
                        "err.template_refused_by_core",
                        &[name, ("core", format!("{f} {v}")), error],
                    ),
                    _ => invalid("config", "err.template_refused", &[name, error]),
                });
            }
            Err(e) => {
                tracing::warn!(server = %server.name, error = %e, "a core could not test the template");
            }
        }
    }
    Ok(checked)
}
