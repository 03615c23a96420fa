//! The imported panel's core template (3x-ui's setting `xrayTemplateConfig`: routing,
//! outbounds, DNS, policy…). It becomes the target server's own named template, or the fleet
//! template when the import goes into a fresh fleet ([`fresh`]). Nothing is lost: a template
//! the server's core refuses is kept as a named template no server uses, with the core's words
//! in the report; only text that is no template at all (not JSON, not an object, not one a
//! configuration renders around) is skipped, saying why. A template the server already runs,
//! or one already kept, is left as it is, so a second import changes nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AnyConnection;

use super::{ImportError, ImportReport};
use crate::fleet::desired::CORE_TEMPLATE;
use crate::model::core_templates::{self, TemplateChange, MAX_NAME};
use crate::model::ModelError;
use crate::store::ServerRow;
use crate::Controller;

/// The report's line for the template.
const ITEM: &str = "core template (xrayTemplateConfig)";

/// What became of the template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOutcome {
    /// `fleet` (it is the fleet template now), `server` (the server's own template), `kept`
    /// (stored as a named template no server uses; `message` says why), `unchanged` (the
    /// server runs it already, or it was kept before) or `skipped` (no template; why).
    pub action: String,
    /// The named template it is stored as; none for the fleet template or when skipped.
    #[serde(default)]
    pub template: Option<Named>,
    /// Servers whose core configuration follows it now.
    #[serde(default)]
    pub servers: Vec<Named>,
    /// Servers whose core tested it before it was saved.
    #[serde(default)]
    pub checked_on: Vec<Named>,
    /// What happened, in a sentence.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

impl From<core_templates::ServerRef> for Named {
    fn from(s: core_templates::ServerRef) -> Self {
        Self {
            id: s.id,
            name: s.name,
        }
    }
}

impl From<&ServerRow> for Named {
    fn from(s: &ServerRow) -> Self {
        Self {
            id: s.id,
            name: s.name.clone(),
        }
    }
}

/// A template that still has to be stored, and where it goes.
#[derive(Debug)]
pub(super) struct Plan {
    config: Value,
    /// The fleet is fresh ([`fresh`]): it becomes the fleet template. Otherwise the
    /// server's own.
    fleet: bool,
    /// A named template holding the same content already (it is reused, not copied).
    stored: Option<Named>,
}

pub(super) enum Step {
    Apply(Plan),
    Done(TemplateOutcome),
}

fn outcome(action: &str, message: String) -> TemplateOutcome {
    TemplateOutcome {
        action: action.into(),
        message,
        ..Default::default()
    }
}

/// Reads the imported template and decides what to do with it.
pub(super) async fn plan(
    c: &mut AnyConnection,
    server: &ServerRow,
    text: &str,
) -> Result<Step, ImportError> {
    let given = match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            let why = "it is not a JSON object, so no core can run it; skipped";
            return Ok(Step::Done(outcome("skipped", why.into())));
        }
        Err(e) => {
            let why = format!("it is not JSON ({e}), so no core can run it; skipped");
            return Ok(Step::Done(outcome("skipped", why)));
        }
    };
    let config = match core_templates::parse(CORE_TEMPLATE, &given) {
        Ok(config) => config,
        Err(e) => {
            let why = format!("no core configuration renders around it ({e}); skipped");
            return Ok(Step::Done(outcome("skipped", why)));
        }
    };
    let (own,): (Option<i64>,) =
        sqlx::query_as("SELECT core_template_id FROM servers WHERE id = $1")
            .bind(server.id)
            .fetch_one(&mut *c)
            .await?;
    let templates: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, config FROM core_templates ORDER BY id")
            .fetch_all(&mut *c)
            .await?;
    let same = |stored: &str| serde_json::from_str::<Value>(stored).ok().as_ref() == Some(&config);
    let fleet_text = fleet_setting(c).await?;
    let runs = match own {
        Some(id) => templates
            .iter()
            .find(|(t, _, _)| *t == id)
            .filter(|(_, _, text)| same(text))
            .map(|(id, name, _)| {
                let mut o = outcome(
                    "unchanged",
                    format!(
                        "server `{}` runs it already, as core template `{name}`",
                        server.name
                    ),
                );
                o.template = Some(Named {
                    id: *id,
                    name: name.clone(),
                });
                o
            }),
        None => {
            let fleet = match fleet_text.as_str() {
                "" => core_templates::builtin_default(),
                text => serde_json::from_str(text).unwrap_or_default(),
            };
            (fleet == config).then(|| {
                outcome(
                    "unchanged",
                    format!(
                        "server `{}` runs it already, as the fleet template",
                        server.name
                    ),
                )
            })
        }
    };
    if let Some(mut done) = runs {
        done.servers = vec![server.into()];
        return Ok(Step::Done(done));
    }
    let stored = templates
        .iter()
        .find(|(_, _, text)| same(text))
        .map(|(id, name, _)| Named {
            id: *id,
            name: name.clone(),
        });
    Ok(Step::Apply(Plan {
        fleet: fresh(c, server, own, &fleet_text).await?,
        config,
        stored,
    }))
}

/// The stored fleet template, empty for the built-in default.
async fn fleet_setting(c: &mut AnyConnection) -> Result<String, ImportError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
        .bind(CORE_TEMPLATE)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.map(|(v,)| v.trim().to_owned()).unwrap_or_default())
}

/// A fresh fleet, whose template the import may set: the target is the only server, it runs
/// the fleet template, and the fleet template is still the built-in default (the setting
/// `xrayTemplateConfig` is empty). Then no other server's configuration changes.
async fn fresh(
    c: &mut AnyConnection,
    server: &ServerRow,
    own: Option<i64>,
    fleet_text: &str,
) -> Result<bool, ImportError> {
    let (others,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM servers WHERE id <> $1")
        .bind(server.id)
        .fetch_one(&mut *c)
        .await?;
    Ok(others == 0 && own.is_none() && fleet_text.is_empty())
}

/// A free template name after the server's: `<server> (3x-ui)`, numbered when taken.
async fn new_name(c: &mut AnyConnection, server: &ServerRow) -> Result<String, ImportError> {
    let base: String = server.name.chars().take(MAX_NAME - 14).collect();
    let base = format!("{base} (3x-ui)");
    let mut name = base.clone();
    for n in 2.. {
        let taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM core_templates WHERE name = $1")
            .bind(&name)
            .fetch_optional(&mut *c)
            .await?;
        if taken.is_none() {
            break;
        }
        name = format!("{base} #{n}");
    }
    Ok(name)
}

/// Puts the outcome in the report: a line people read, and the outcome itself.
pub(super) fn record(report: &mut ImportReport, outcome: TemplateOutcome) {
    match outcome.action.as_str() {
        "fleet" | "server" => {
            report.imported.templates += 1;
            report.items.push(format!("{ITEM}: {}", outcome.message));
        }
        "kept" => {
            report.imported.templates += 1;
            report.notes.push(format!("{ITEM}: {}", outcome.message));
        }
        "unchanged" => {
            report.unchanged.templates += 1;
            report.notes.push(format!("{ITEM}: {}", outcome.message));
        }
        _ => report.skip(ITEM, outcome.message.clone()),
    }
    report.template = Some(outcome);
}

/// With the controller stopped, inside the import's transaction: no core can test the
/// template now, so it is stored and assigned as planned, and the server's agent tests it
/// before applying it (a core that refuses it keeps its last good configuration and the
/// server says why).
pub(super) async fn store_unchecked(
    c: &mut AnyConnection,
    server: &ServerRow,
    plan: Plan,
    now: i64,
) -> Result<TemplateOutcome, ImportError> {
    let untested = "no core tested it, as the controller is not running: the server's agent \
                    tests it before applying it, and if its core refuses it the server keeps \
                    its last good configuration and shows the core's words";
    let text = plan.config.to_string();
    match plan.stored {
        _ if plan.fleet => {
            super::panel::set_setting(c, CORE_TEMPLATE, &text, now).await?;
            let mut o = outcome(
                "fleet",
                format!("it is the fleet template now (the fleet was fresh: `{}` is its only server); {untested}", server.name),
            );
            o.servers = vec![server.into()];
            Ok(o)
        }
        stored => {
            let template = match stored {
                Some(t) => t,
                None => {
                    let name = new_name(c, server).await?;
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO core_templates (name, config, notes, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $4) RETURNING id",
                    )
                    .bind(&name)
                    .bind(&text)
                    .bind(notes(server))
                    .bind(now)
                    .fetch_one(&mut *c)
                    .await?;
                    Named { id, name }
                }
            };
            sqlx::query("UPDATE servers SET core_template_id = $1, updated_at = $2 WHERE id = $3")
                .bind(template.id)
                .bind(now)
                .bind(server.id)
                .execute(&mut *c)
                .await?;
            let mut o = outcome(
                "server",
                format!(
                    "server `{}` runs it now, as core template `{}`; {untested}",
                    server.name, template.name
                ),
            );
            o.template = Some(template);
            o.servers = vec![server.into()];
            Ok(o)
        }
    }
}

fn notes(server: &ServerRow) -> String {
    format!("imported from the x-ui.db of server `{}`", server.name)
}

/// On the running controller: stored through the model, so the cores of the servers it
/// reaches test it first and they get it as a new revision. A refusal keeps it as a named
/// template no server uses, with the core's words.
pub(super) async fn apply_checked(
    ctl: &Controller,
    server: &ServerRow,
    plan: Plan,
    actor: &str,
) -> Result<TemplateOutcome, ImportError> {
    let server = ctl.store.server(server.id).await?;
    let refusal = match plan.stored {
        _ if plan.fleet => match core_templates::set_fleet(ctl, Some(&plan.config), actor).await {
            Ok(saved) => {
                let mut o = outcome(
                    "fleet",
                    format!(
                        "it is the fleet template now (the fleet was fresh: `{}` is its only \
                         server, and its template was the built-in default)",
                        server.name
                    ),
                );
                o.servers = saved.servers.into_iter().map(Into::into).collect();
                o.checked_on = saved.checked_on.into_iter().map(Into::into).collect();
                return Ok(o);
            }
            Err(e) => (plan.stored, e),
        },
        Some(stored) => {
            let key = stored.id.to_string();
            match core_templates::assign(ctl, &server, Some(&key), actor).await {
                Ok(_) => {
                    let users = match core_templates::get(ctl, &key).await {
                        Ok(shown) => shown.servers,
                        Err(ModelError::Store(e)) => return Err(e.into()),
                        Err(_) => Vec::new(),
                    };
                    let mut o = outcome(
                        "server",
                        format!(
                            "server `{}` runs it now, as core template `{}`, which held the \
                             same template already",
                            server.name, stored.name
                        ),
                    );
                    o.servers = users.into_iter().map(Into::into).collect();
                    o.template = Some(stored);
                    return Ok(o);
                }
                Err(e) => (Some(stored), e),
            }
        }
        None => {
            let mut c = ctl.store.pool().acquire().await?;
            let change = TemplateChange {
                name: Some(new_name(&mut c, &server).await?),
                config: Some(plan.config.clone()),
                notes: Some(notes(&server)),
                servers: Some(vec![server.id.to_string()]),
                tags: Vec::new(),
            };
            drop(c);
            match core_templates::create(ctl, change, actor).await {
                Ok((shown, saved)) => {
                    let mut o = outcome(
                        "server",
                        format!(
                            "server `{}` runs it now, as core template `{}`",
                            server.name, shown.name
                        ),
                    );
                    o.template = Some(Named {
                        id: shown.id,
                        name: shown.name,
                    });
                    o.servers = saved.servers.into_iter().map(Into::into).collect();
                    o.checked_on = saved.checked_on.into_iter().map(Into::into).collect();
                    return Ok(o);
                }
                Err(e) => (None, e),
            }
        }
    };
    keep(ctl, &server, plan.config, refusal, actor).await
}

/// After a refusal: the template stays as a named template no server uses (the one that
/// holds it already, or a new one), and the report carries the words.
async fn keep(
    ctl: &Controller,
    server: &ServerRow,
    config: Value,
    (stored, refusal): (Option<Named>, ModelError),
    actor: &str,
) -> Result<TemplateOutcome, ImportError> {
    if let ModelError::Store(e) = refusal {
        return Err(e.into());
    }
    let words = refusal.to_string();
    let assign = "assign it to a server once its core takes it";
    if let Some(stored) = stored {
        let mut o = outcome(
            "unchanged",
            format!(
                "kept already as core template `{}`; server `{}` does not run it: {words}; \
                 {assign}",
                stored.name, server.name
            ),
        );
        o.template = Some(stored);
        return Ok(o);
    }
    let mut c = ctl.store.pool().acquire().await?;
    let change = TemplateChange {
        name: Some(new_name(&mut c, server).await?),
        config: Some(config),
        notes: Some(format!("{}; refused: {words}", notes(server))),
        servers: None,
        tags: Vec::new(),
    };
    drop(c);
    let shown = match core_templates::create(ctl, change, actor).await {
        Ok((shown, _)) => shown,
        Err(ModelError::Store(e)) => return Err(e.into()),
        Err(e) => {
            let why = format!("it was refused ({words}) and could not be kept either: {e}");
            return Ok(outcome("skipped", why));
        }
    };
    let mut o = outcome(
        "kept",
        format!(
            "kept as core template `{}`, which no server uses, because it was refused: {words}; \
             {assign}",
            shown.name
        ),
    );
    o.template = Some(Named {
        id: shown.id,
        name: shown.name,
    });
    Ok(o)
}
