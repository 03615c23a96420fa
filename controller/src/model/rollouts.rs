//! Agent rollouts as operators start and steer them: which version, which servers, in what
//! waves; resume after a pause; cancel. The engine that carries them out is
//! [`crate::fleet::rollout`].

use serde::Serialize;

use super::{ModelError, Problems, Result};
use crate::dist::agents::compare_versions;
use crate::model::Refusal;
use crate::store::{RolloutRow, RolloutServerRow, ServerRow};
use crate::Controller;

pub const DEFAULT_CANARY: i64 = 1;
pub const DEFAULT_BATCH: i64 = 10;
/// The largest batch: every server of a large fleet at once (transfers are still capped by
/// [`crate::dist::deliver::MAX_TRANSFERS`] and their shared rate).
pub const MAX_BATCH: i64 = 10_000;

/// What an operator asks for; `None` means the default.
#[derive(Debug, Default)]
pub struct RolloutPlan {
    /// Default: the newest version in the catalog.
    pub version: Option<String>,
    /// Servers by id or name; default: every server not on the version.
    pub servers: Vec<String>,
    /// Only servers with this tag.
    pub tag: Option<String>,
    pub canary: Option<i64>,
    pub batch: Option<i64>,
}

/// A rollout with its servers, as the API shows it.
#[derive(Debug, Serialize)]
pub struct RolloutView {
    #[serde(flatten)]
    pub rollout: RolloutRow,
    /// How many servers are in each state.
    pub counts: std::collections::BTreeMap<String, usize>,
    pub servers: Vec<RolloutServerRow>,
}

/// Starts a rollout; the engine begins at once.
pub async fn start(ctl: &Controller, plan: RolloutPlan, who: &str) -> Result<RolloutView> {
    let mut problems = Problems::default();
    let canary = plan.canary.unwrap_or(DEFAULT_CANARY);
    let batch = plan.batch.unwrap_or(DEFAULT_BATCH);
    if !(0..=MAX_BATCH).contains(&canary) {
        let max = ("max", MAX_BATCH.to_string());
        problems.say("canary", "err.between", &[("min", "0".into()), max]);
    }
    if !(1..=MAX_BATCH).contains(&batch) {
        let max = ("max", MAX_BATCH.to_string());
        problems.say("batch", "err.between", &[("min", "1".into()), max]);
    }
    let catalog = ctl.agents.list();
    let version = match plan.version.as_deref().map(str::trim) {
        Some(v) if catalog.iter().any(|b| b.version == v) => v.to_owned(),
        Some(v) => {
            let known: Vec<&str> = catalog.iter().map(|b| b.version.as_str()).collect();
            let version = ("version", v.to_owned());
            if known.is_empty() {
                problems.say("version", "err.agent_version_none", &[version]);
            } else {
                let versions = ("versions", known.join(", "));
                problems.say("version", "err.agent_version", &[version, versions]);
            }
            String::new()
        }
        None => match catalog
            .iter()
            .max_by(|a, b| compare_versions(&a.version, &b.version))
        {
            Some(b) => b.version.clone(),
            None => {
                problems.say("version", "err.no_agent_binaries", &[]);
                String::new()
            }
        },
    };
    let mut chosen: Vec<ServerRow> = Vec::new();
    if plan.servers.is_empty() {
        chosen = ctl.store.list_servers().await?;
        chosen.retain(|s| s.is_local == 0 && s.version.as_deref() != Some(version.as_str()));
    } else {
        for key in &plan.servers {
            match super::servers::resolve(ctl, key).await {
                Ok(s) if s.is_local != 0 => {
                    problems.say("servers", "err.builtin_agent", &[("server", key.clone())])
                }
                Ok(s) if chosen.iter().any(|c| c.id == s.id) => {}
                Ok(s) => chosen.push(s),
                Err(ModelError::NotFound(_)) => {
                    problems.say("servers", "err.no_server", &[("server", key.clone())])
                }
                Err(e) => return Err(e),
            }
        }
    }
    if let Some(tag) = plan.tag.as_deref() {
        chosen.retain(|s| s.tags().iter().any(|t| t == tag));
    }
    problems.finish()?;
    if chosen.is_empty() {
        return Err(ModelError::Conflict(
            Refusal::new(
                "err.rollout_nothing_to_update",
                &[("version", version.to_string())],
            )
            .into(),
        ));
    }
    let servers: Vec<(i64, Option<String>)> =
        chosen.iter().map(|s| (s.id, s.version.clone())).collect();
    let id = ctl
        .store
        .create_rollout(&version, canary, batch, who, &servers)
        .await?;
    tracing::info!(rollout = id, %version, servers = servers.len(), %who, "agent rollout started");
    ctl.rollouts.wake();
    view(ctl, id).await
}

pub async fn view(ctl: &Controller, id: i64) -> Result<RolloutView> {
    let rollout = ctl.store.rollout(id).await?;
    let servers = ctl.store.rollout_servers(id).await?;
    let mut counts = std::collections::BTreeMap::new();
    for s in &servers {
        *counts.entry(s.state.clone()).or_insert(0) += 1;
    }
    Ok(RolloutView {
        rollout,
        counts,
        servers,
    })
}

/// A paused rollout goes on with its next servers.
pub async fn resume(ctl: &Controller, id: i64) -> Result<RolloutView> {
    let rollout = ctl.store.rollout(id).await?;
    if !ctl
        .store
        .set_rollout_state(id, &["paused"], "running", None)
        .await?
    {
        return Err(ModelError::Conflict(
            Refusal::new(
                "err.rollout_not_paused",
                &[("id", id.to_string()), ("state", rollout.state.to_string())],
            )
            .into(),
        ));
    }
    ctl.rollouts.wake();
    view(ctl, id).await
}

/// Stops a rollout: no more servers are sent the update (a transfer under way finishes).
pub async fn cancel(ctl: &Controller, id: i64, who: &str) -> Result<RolloutView> {
    let rollout = ctl.store.rollout(id).await?;
    let why = format!("cancelled by {who}");
    if !ctl
        .store
        .set_rollout_state(id, &["running", "paused"], "cancelled", Some(&why))
        .await?
    {
        return Err(ModelError::Conflict(
            Refusal::new(
                "err.rollout_already",
                &[("id", id.to_string()), ("state", rollout.state.to_string())],
            )
            .into(),
        ));
    }
    view(ctl, id).await
}
