//! `/api/v1/core/…`: the core's own configuration around the inbounds, the fleet template and
//! named templates, and which template each server runs (`model::core_templates`).

use axum::extract::Path;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::front::{ok, ApiResult, Audit, Call, JsonBody};
use crate::model::core_templates::{
    self, FleetTemplate, NamedTemplate, Saved, ServerTemplate, TemplateChange,
};
use crate::model::servers::resolve;

pub(super) async fn fleet(call: Call) -> ApiResult<FleetTemplate> {
    ok(core_templates::fleet(&call.ctl).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FleetBody {
    /// The template (object or its JSON text); `null` for the built-in default.
    config: Value,
}

/// Sets the fleet template; the servers that run it get it as a new revision.
pub(super) async fn set_fleet(call: Call, JsonBody(body): JsonBody<FleetBody>) -> ApiResult<Saved> {
    let audit =
        Audit::new("core.template.update", "fleet").with(json!({"default": body.config.is_null()}));
    let ctl = &call.ctl;
    let saved = call
        .audited(audit, async {
            Ok(core_templates::set_fleet(ctl, Some(&body.config), call.who()).await?)
        })
        .await?;
    ok(saved)
}

/// The built-in default template.
pub(super) async fn default_template(_: Call) -> ApiResult<Value> {
    ok(core_templates::builtin_default())
}

pub(super) async fn list(call: Call) -> ApiResult<Vec<NamedTemplate>> {
    ok(core_templates::list(&call.ctl).await?)
}

pub(super) async fn get_one(call: Call, Path(key): Path<String>) -> ApiResult<NamedTemplate> {
    ok(core_templates::get(&call.ctl, &key).await?)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TemplateBody {
    name: Option<String>,
    config: Option<Value>,
    notes: Option<String>,
    /// Ids or names of exactly the servers that use the template afterwards.
    servers: Option<Vec<Value>>,
    /// Servers carrying any of these tags use it too.
    #[serde(default)]
    tags: Vec<String>,
}

impl TemplateBody {
    fn change(self) -> TemplateChange {
        TemplateChange {
            name: self.name,
            config: self.config,
            notes: self.notes,
            servers: self.servers.map(|keys| {
                keys.iter()
                    .map(|k| match k {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            }),
            tags: self.tags,
        }
    }
}

/// A named template as saved, with the servers it reached.
#[derive(Debug, Serialize)]
pub(super) struct SavedTemplate {
    #[serde(flatten)]
    template: NamedTemplate,
    saved: Saved,
}

pub(super) async fn create(
    call: Call,
    JsonBody(body): JsonBody<TemplateBody>,
) -> ApiResult<SavedTemplate> {
    let audit = Audit::new(
        "core.template.create",
        format!("core-template:{}", body.name.as_deref().unwrap_or_default()),
    )
    .with(json!({"servers": body.servers, "tags": body.tags}));
    let ctl = &call.ctl;
    let (template, saved) = call
        .audited(audit, async {
            Ok(core_templates::create(ctl, body.change(), call.who()).await?)
        })
        .await?;
    ok(SavedTemplate { template, saved })
}

pub(super) async fn update(
    call: Call,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<TemplateBody>,
) -> ApiResult<SavedTemplate> {
    let audit = Audit::new("core.template.update", format!("core-template:{key}")).with(json!({
        "name": body.name, "config": body.config.is_some(), "servers": body.servers,
        "tags": body.tags,
    }));
    let ctl = &call.ctl;
    let (template, saved) = call
        .audited(audit, async {
            Ok(core_templates::update(ctl, &key, body.change(), call.who()).await?)
        })
        .await?;
    ok(SavedTemplate { template, saved })
}

pub(super) async fn delete(call: Call, Path(key): Path<String>) -> ApiResult<Value> {
    let audit = Audit::new("core.template.delete", format!("core-template:{key}"));
    let ctl = &call.ctl;
    call.audited(audit, async {
        Ok(core_templates::delete(ctl, &key).await?)
    })
    .await?;
    ok(json!({}))
}

pub(super) async fn of_server(call: Call, Path(key): Path<String>) -> ApiResult<ServerTemplate> {
    let server = resolve(&call.ctl, &key).await?;
    ok(core_templates::of_server(&call.ctl, &server).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignBody {
    /// A template's id or name; `null` for the fleet template.
    template: Value,
}

/// Points a server at a named template or back at the fleet's.
pub(super) async fn assign(
    call: Call,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<AssignBody>,
) -> ApiResult<ServerTemplate> {
    let audit = Audit::new("core.template.assign", format!("server:{key}"))
        .with(json!({"template": body.template}));
    let ctl = &call.ctl;
    let template = match &body.template {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let shown = call
        .audited(audit, async {
            let server = resolve(ctl, &key).await?;
            Ok(core_templates::assign(ctl, &server, template.as_deref(), call.who()).await?)
        })
        .await?;
    ok(shown)
}
