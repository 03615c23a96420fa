//! `state.apply` on the agent: a new state reaches the core through its API where it can and
//! through a tested restart where it must, one inbound at a time where it matters. An inbound
//! the core cannot take (its port is held by another program, a setting the core refuses) is
//! left out with the core's own words and the rest of the state applies (see `refusals`).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};
use xfleet_common::protocol::{code, ErrorBody};
use xfleet_common::state::{Applied, ApplyState, DesiredState};
use xfleet_common::time::now_ms;
use xfleet_common::xray::{render, RenderError, RenderOptions};

use super::{internal, CoreRuntime, Enforcement, USER_CALLS_IN_FLIGHT};
use crate::core::CoreError;
use crate::state::enforce;
use crate::state::plan::{plan, Plan};
use crate::state::refusals::{self, Refusals, Refused};
use crate::state::store::next_state;
use crate::xray_api::{outbound_config, ApiError, Namespace};

/// What the core runs of a desired state: the state without the clients cut locally and the
/// refused inbounds, and its configuration.
pub(super) struct Runnable {
    pub effective: DesiredState,
    pub config: Value,
}

/// Inbounds the core refused, each with its words: (tag, words).
type RefusedInbounds = Vec<(String, String)>;

impl CoreRuntime {
    pub(super) async fn apply_inner(&self, apply: ApplyState) -> Result<Applied, ErrorBody> {
        let mut inner = self.inner.lock().await;
        let next = next_state(&inner.desired, apply).map_err(|e| ErrorBody {
            retryable: false,
            ..ErrorBody::invalid(e.to_string())
        })?;
        if next == inner.desired {
            return Ok(Applied {
                revision: next.revision,
                failed: inner.refusals.failures(),
                ..Default::default()
            });
        }
        // New limits replace the old ones: count usage from here and cut again only what
        // the new limits say.
        let mut enforcement = Enforcement {
            revision: next.revision,
            ..Default::default()
        };
        for cut in enforce::cuts(&next, &enforcement.used, now_ms()) {
            enforcement.cut.insert(cut.email.clone(), cut);
        }
        let cut: BTreeSet<String> = enforcement.cut.keys().cloned().collect();
        let mut refusals = inner.refusals.clone();
        refusals.keep_unchanged(&next);
        let options = self.options();
        let mut run = self.runnable(&next, &cut, &mut refusals, &options).await?;
        let changes = plan(&inner.effective, &run.effective, self.flavour)
            .map_err(|e| ErrorBody::new(code::INVALID_CONFIG, e.to_string()))?;
        let previous = inner.desired.clone();
        self.files.save(&next).map_err(internal)?;
        self.set_core_ports(&[&inner.effective, &run.effective]);

        let live = changes.live_changes() as u32;
        let went_live = match self.change_live(&changes, &run.config).await {
            Ok(refused) => {
                if !refused.is_empty() {
                    for (tag, message) in refused {
                        refuse(&mut refusals, &next, &tag, Refused::Listener, message);
                    }
                    run = self.render_runnable(&next, &cut, &mut refusals, &options)?;
                }
                // The core now runs `config`; record it so a restart or an adoption uses it.
                self.supervisor
                    .record_config(run.config.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Err(reason) => Err(reason),
        };
        let restarted = match went_live {
            Ok(()) => false,
            Err(reason) => {
                tracing::info!(%reason, "restarting the core to apply the new state");
                // Read the counters first: a restart zeroes them.
                if let Some(batch) = self.journal_round().await {
                    self.account(&mut inner, &batch);
                }
                let restart = self
                    .restart_into(&next, &cut, &mut refusals, &options, &mut run)
                    .await;
                if let Err(e) = restart {
                    self.files.restore(&previous).map_err(internal)?;
                    self.set_core_ports(&[&inner.effective]);
                    // The supervisor is back on the previous config (a failed start falls
                    // back to it), which also undoes any live change made before this point.
                    return Err(e);
                }
                self.cut_schedule
                    .lock()
                    .unwrap()
                    .core_restarted(Instant::now());
                true
            }
        };
        if !restarted && next.restart_on_client_disable {
            self.cut_sessions_of(&inner.effective, &run.effective);
        }
        inner.desired = next;
        inner.effective = run.effective;
        inner.enforcement = enforcement;
        inner.refusals = refusals;
        self.set_core_ports(&[&inner.effective]);
        self.revision
            .store(inner.desired.revision, std::sync::atomic::Ordering::Relaxed);
        self.save_enforcement(&inner.enforcement);
        inner.refusals.save(&self.refusals_file);
        Ok(Applied {
            revision: inner.desired.revision,
            restarted,
            live_changes: if restarted { 0 } else { live },
            failed: inner.refusals.failures(),
        })
    }

    /// What the core can run of `desired`: what the renderer or the core's own config test
    /// refuses of one inbound leaves that inbound out (with their words); a refusal of
    /// anything else (the template, the core's own settings) refuses the whole state.
    pub(super) async fn runnable(
        &self,
        desired: &DesiredState,
        cut: &BTreeSet<String>,
        refusals: &mut Refusals,
        options: &RenderOptions,
    ) -> Result<Runnable, ErrorBody> {
        loop {
            let run = self.render_runnable(desired, cut, refusals, options)?;
            let Err(whole) = self.supervisor.test_config(&run.config).await else {
                return Ok(run);
            };
            for (tag, message) in self.refused_by_test(&run, &whole).await? {
                refuse(refusals, desired, &tag, Refused::Config, message);
            }
        }
    }

    /// [`CoreRuntime::runnable`] without the core's config test: for a state that left out
    /// more of one already tested.
    pub(super) fn render_runnable(
        &self,
        desired: &DesiredState,
        cut: &BTreeSet<String>,
        refusals: &mut Refusals,
        options: &RenderOptions,
    ) -> Result<Runnable, ErrorBody> {
        loop {
            let effective = refusals.leave_out(&enforce::without(desired, cut));
            let e = match render(&effective, options) {
                Ok(config) => return Ok(Runnable { effective, config }),
                Err(e) => e,
            };
            let tag = match &e {
                RenderError::Invalid { tag, .. } | RenderError::Unsupported { tag, .. } => tag,
                RenderError::Template { .. } => {
                    return Err(ErrorBody::new(code::INVALID_CONFIG, e.to_string()))
                }
            };
            if refusals.contains(tag) || !desired.inbounds.iter().any(|i| &i.tag == tag) {
                return Err(ErrorBody::new(code::INVALID_CONFIG, e.to_string()));
            }
            refuse(
                refusals,
                desired,
                &tag.clone(),
                Refused::Config,
                e.to_string(),
            );
        }
    }

    /// The inbounds behind a configuration the core's test refused, each with the core's
    /// words about it alone: every inbound the running core does not run as it is now,
    /// tested one at a time on the core's own settings. When those settings alone fail, or
    /// no inbound fails alone, the whole state is refused with the core's words about it.
    async fn refused_by_test(
        &self,
        run: &Runnable,
        whole: &str,
    ) -> Result<RefusedInbounds, ErrorBody> {
        let refused_whole = || {
            ErrorBody::new(
                code::INVALID_CONFIG,
                format!("the core refused the configuration: {whole}"),
            )
        };
        let tags: BTreeSet<String> = run
            .effective
            .inbounds
            .iter()
            .filter(|i| i.enable)
            .map(|i| i.tag.clone())
            .collect();
        let bare = refusals::only_inbound(&run.config, &tags, None);
        if self.supervisor.test_config(&bare).await.is_err() {
            return Err(refused_whole());
        }
        let running = self.supervisor.config();
        let mut refused = Vec::new();
        for tag in refusals::new_or_changed(&run.config, running.as_deref(), &tags) {
            let alone = refusals::only_inbound(&run.config, &tags, Some(&tag));
            if let Err(message) = self.supervisor.test_config(&alone).await {
                refused.push((tag, message));
            }
        }
        if refused.is_empty() {
            return Err(refused_whole());
        }
        Ok(refused)
    }

    /// Restarts the core on `run`. When it fails to start because it cannot open the port of
    /// some inbounds, those are left out and the rest started; any other failure refuses the
    /// state (the previous configuration runs again), and the same configuration is not
    /// started again: the core already said no to it.
    async fn restart_into(
        &self,
        desired: &DesiredState,
        cut: &BTreeSet<String>,
        refusals: &mut Refusals,
        options: &RenderOptions,
        run: &mut Runnable,
    ) -> Result<(), ErrorBody> {
        loop {
            let digest = digest(&run.config);
            if let Some((_, message)) = self
                .refused_start
                .lock()
                .unwrap()
                .as_ref()
                .filter(|(d, _)| *d == digest)
            {
                return Err(ErrorBody::new(code::CORE_FAILED, message.clone()));
            }
            let e = match self.supervisor.replace_config(run.config.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let words = start_failure(&e);
            let culprits = refusals::named_listeners(&words, &run.effective);
            if culprits.is_empty() {
                *self.refused_start.lock().unwrap() = Some((digest, e.to_string()));
                return Err(ErrorBody::new(code::CORE_FAILED, e.to_string()));
            }
            for tag in culprits {
                refuse(refusals, desired, &tag, Refused::Listener, words.clone());
            }
            *run = self.render_runnable(desired, cut, refusals, options)?;
        }
    }

    /// Makes the running core match `plan` through its API. The inbounds it could not open
    /// a port for are taken out again and returned; `Err` says why a restart is needed
    /// instead. Records nothing: the caller records the configuration the core ends up on.
    pub(super) async fn change_live(
        &self,
        plan: &Plan,
        config: &Value,
    ) -> Result<RefusedInbounds, String> {
        if let Some(reason) = &plan.restart {
            return Err(reason.clone());
        }
        // Logging, routing (IP-limit refusals too), DNS and policies have no live API in
        // v2ray 4; outbounds do, for the shapes `outbound_config` converts.
        let around = |c: &Value| {
            let mut c = c.clone();
            if let Some(c) = c.as_object_mut() {
                c.remove("inbounds");
            }
            c
        };
        let outbounds = match self.supervisor.config() {
            Some(running) if around(&running) != around(config) => {
                outbound_changes(&running, config, self.api.namespace())
                    .ok_or("the core's settings around the inbounds changed")?
            }
            _ => OutboundChanges::default(),
        };
        if !matches!(
            self.supervisor.state(),
            xfleet_common::methods::CoreState::Running { .. }
        ) {
            return Err("the core is not running".into());
        }
        let fail = |what: &str, e: ApiError| format!("{what}: {e}");
        for tag in &outbounds.remove {
            self.api
                .remove_outbound(tag)
                .await
                .map_err(|e| fail("remove outbound", e))?;
        }
        for outbound in &outbounds.add {
            self.api
                .add_outbound(outbound)
                .await
                .map_err(|e| fail("add outbound", e))?;
        }
        for tag in &plan.remove_inbounds {
            self.api
                .remove_inbound(tag)
                .await
                .map_err(|e| fail("remove inbound", e))?;
        }
        let mut refused = Vec::new();
        for inbound in &plan.add_inbounds {
            match self.api.add_inbound(inbound).await {
                Ok(()) => {}
                Err(ApiError::Rejected(words)) if cannot_listen(&words) => {
                    let tag = inbound["tag"].as_str().unwrap_or_default().to_owned();
                    // The core keeps an inbound it could not start under its tag.
                    if let Err(e) = self.api.remove_inbound(&tag).await {
                        tracing::debug!(%tag, error = %e, "no refused inbound to take out");
                    }
                    refused.push((tag, words));
                }
                Err(e) => return Err(fail("add inbound", e)),
            }
        }
        // User changes are independent of each other: many in flight on the one HTTP/2
        // connection instead of one round trip each.
        use futures_util::{StreamExt, TryStreamExt};
        let api = &self.api;
        futures_util::stream::iter(plan.remove_users.iter().cloned())
            .map(|(tag, email)| async move {
                api.remove_user(&tag, &email)
                    .await
                    .map_err(|e| format!("remove user: {e}"))
            })
            .buffer_unordered(USER_CALLS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        futures_util::stream::iter(plan.add_users.iter().cloned())
            .map(|(tag, user)| async move {
                api.add_user(&tag, &user)
                    .await
                    .map_err(|e| format!("add user: {e}"))
            })
            .buffer_unordered(USER_CALLS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(refused)
    }
}

/// Outbounds to replace through the core's API.
#[derive(Debug, Default, PartialEq)]
struct OutboundChanges {
    /// Tags of outbounds removed or changed.
    remove: Vec<String>,
    /// Outbounds added or changed, whole.
    add: Vec<Value>,
}

/// How `running` becomes `next` through the core's outbound API, when that is all that
/// differs around the inbounds: everything else equal, the first outbound (the default
/// route) unchanged, every outbound tagged once, and every new or changed one in a shape the
/// API takes. `None`: only a restart applies it.
fn outbound_changes(running: &Value, next: &Value, ns: Namespace) -> Option<OutboundChanges> {
    let rest = |c: &Value| {
        let mut c = c.clone();
        if let Some(c) = c.as_object_mut() {
            c.remove("inbounds");
            c.remove("outbounds");
        }
        c
    };
    if rest(running) != rest(next) {
        return None;
    }
    let list = |c: &Value| -> Option<Vec<(String, Value)>> {
        let outbounds = c.get("outbounds")?.as_array()?;
        let mut seen = BTreeSet::new();
        outbounds
            .iter()
            .map(|o| {
                let tag = o.get("tag")?.as_str().filter(|t| !t.is_empty())?;
                seen.insert(tag).then(|| (tag.to_owned(), o.clone()))
            })
            .collect()
    };
    let (before, after) = (list(running)?, list(next)?);
    if before.first() != after.first() {
        return None;
    }
    let mut changes = OutboundChanges::default();
    for (tag, outbound) in &before {
        if after.iter().all(|(t, o)| t != tag || o != outbound) {
            changes.remove.push(tag.clone());
        }
    }
    for (tag, outbound) in &after {
        if before.iter().all(|(t, o)| t != tag || o != outbound) {
            outbound_config(ns, outbound).ok()?;
            changes.add.push(outbound.clone());
        }
    }
    Some(changes)
}

/// Records the refusal of `desired`'s inbound `tag`.
fn refuse(
    refusals: &mut Refusals,
    desired: &DesiredState,
    tag: &str,
    kind: Refused,
    words: String,
) {
    if let Some(spec) = desired.inbounds.iter().find(|i| i.tag == tag) {
        refusals.refuse(spec, kind, words);
    }
}

/// Whether the core's answer to adding an inbound is about opening its port.
fn cannot_listen(words: &str) -> bool {
    words.contains("failed to listen") || words.contains("address already in use")
}

/// The core's words about a failed start.
pub(super) fn start_failure(e: &CoreError) -> String {
    match e {
        CoreError::StartFailed(words) | CoreError::InvalidConfig(words) => words.clone(),
        other => other.to_string(),
    }
}

fn digest(config: &Value) -> String {
    let bytes = serde_json::to_vec(config).expect("configurations serialize");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::{outbound_changes, OutboundChanges};
    use crate::xray_api::Namespace;

    fn config(outbounds: Value, rules: Value) -> Value {
        json!({"inbounds": [], "outbounds": outbounds, "routing": {"rules": rules}})
    }

    fn socks(tag: &str, port: u16) -> Value {
        json!({"tag": tag, "protocol": "socks",
            "settings": {"servers": [{"address": "10.0.0.1", "port": port}]}})
    }

    /// Outbounds alone change live; the default route, routing and shapes the API cannot
    /// take need a restart.
    #[test]
    fn only_outbound_changes_the_api_takes_go_live() {
        let direct = json!({"tag": "direct", "protocol": "freedom", "settings": {}});
        let rules = json!([{"type": "field", "port": "25", "outboundTag": "chain"}]);
        let running = config(json!([direct, socks("chain", 1080)]), rules.clone());
        let moved = config(json!([direct, socks("chain", 1081)]), rules.clone());
        assert_eq!(
            outbound_changes(&running, &moved, Namespace::V2ray),
            Some(OutboundChanges {
                remove: vec!["chain".into()],
                add: vec![socks("chain", 1081)],
            })
        );
        let added = config(
            json!([direct, socks("chain", 1080), socks("b", 9)]),
            rules.clone(),
        );
        assert_eq!(
            outbound_changes(&running, &added, Namespace::Xray),
            Some(OutboundChanges {
                remove: vec![],
                add: vec![socks("b", 9)],
            })
        );
        let rerouted = config(json!([direct, socks("chain", 1080)]), json!([]));
        assert_eq!(
            outbound_changes(&running, &rerouted, Namespace::V2ray),
            None
        );
        let new_default = config(json!([socks("chain", 1080), direct]), rules.clone());
        assert_eq!(
            outbound_changes(&running, &new_default, Namespace::V2ray),
            None
        );
        let vmess = json!({"tag": "chain", "protocol": "vmess", "settings": {}});
        let other_kind = config(json!([direct, vmess]), rules);
        assert_eq!(
            outbound_changes(&running, &other_kind, Namespace::V2ray),
            None
        );
    }
}
