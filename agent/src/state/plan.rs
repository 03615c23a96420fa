//! What it takes to go from the running state to the next one through the core's API:
//! users added or removed with `AlterInbound`, inbounds added or removed whole, and a restart
//! only for what the API cannot express (DESIGN §4).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use xfleet_common::state::{DesiredState, InboundSpec};
use xfleet_common::xray::{render_inbound, users, Account, Flavour, RenderError, User};

/// Protocols whose users the core can add and remove at run time.
fn live_users(protocol: &str, flavour: Flavour) -> bool {
    match protocol {
        "vmess" | "vless" | "trojan" => true,
        // v2ray 4 Shadowsocks inbounds are single-user: the user is part of the inbound.
        "shadowsocks" => flavour == Flavour::Xray,
        _ => false,
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub remove_inbounds: Vec<String>,
    /// Rendered inbounds, clients included.
    pub add_inbounds: Vec<Value>,
    /// (inbound tag, email)
    pub remove_users: Vec<(String, String)>,
    /// (inbound tag, user)
    pub add_users: Vec<(String, User)>,
    /// Set when only a restart can apply the change, with the reason.
    pub restart: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.remove_inbounds.is_empty()
            && self.add_inbounds.is_empty()
            && self.remove_users.is_empty()
            && self.add_users.is_empty()
            && self.restart.is_none()
    }

    pub fn live_changes(&self) -> usize {
        self.remove_inbounds.len()
            + self.add_inbounds.len()
            + self.remove_users.len()
            + self.add_users.len()
    }
}

struct Rendered {
    /// The inbound without its users, to tell a users-only change from any other.
    shape: Value,
    full: Value,
    users: BTreeMap<String, Account>,
    live_users: bool,
}

fn rendered(
    state: &DesiredState,
    flavour: Flavour,
) -> Result<BTreeMap<String, Rendered>, RenderError> {
    state
        .inbounds
        .iter()
        .filter(|i| i.enable)
        .map(|spec: &InboundSpec| {
            let full = render_inbound(spec, flavour)?;
            let live = live_users(&spec.protocol, flavour);
            let mut shape = full.clone();
            if live {
                if let Some(settings) = shape.get_mut("settings").and_then(Value::as_object_mut) {
                    settings.remove("clients");
                }
            }
            let users = if live {
                users(spec, flavour)?
                    .into_iter()
                    .map(|u: User| (u.email, u.account))
                    .collect()
            } else {
                BTreeMap::new()
            };
            Ok((
                spec.tag.clone(),
                Rendered {
                    shape,
                    full,
                    users,
                    live_users: live,
                },
            ))
        })
        .collect()
}

/// The changes from `old` to `new` on a running core of `flavour`.
pub fn plan(old: &DesiredState, new: &DesiredState, flavour: Flavour) -> Result<Plan, RenderError> {
    let before = rendered(old, flavour)?;
    let after = rendered(new, flavour)?;
    let mut plan = Plan::default();
    // Outbounds, routing and the rest of a template are compared on the rendered
    // configuration when the change is made; inbounds a template adds only start anew.
    let template_inbounds =
        |s: &DesiredState| s.template.as_ref().and_then(|t| t.get("inbounds")).cloned();
    if template_inbounds(old) != template_inbounds(new) {
        plan.restart = Some("the core template's own inbounds changed".into());
    }
    for tag in before.keys() {
        if !after.contains_key(tag) {
            plan.remove_inbounds.push(tag.clone());
        }
    }
    for (tag, next) in &after {
        let Some(prev) = before.get(tag) else {
            plan.add_inbounds.push(next.full.clone());
            continue;
        };
        if prev.shape != next.shape || !next.live_users {
            if prev.full != next.full {
                plan.remove_inbounds.push(tag.clone());
                plan.add_inbounds.push(next.full.clone());
            }
            continue;
        }
        for (email, account) in &prev.users {
            match next.users.get(email) {
                Some(a) if a == account => {}
                _ => plan.remove_users.push((tag.clone(), email.clone())),
            }
        }
        for (email, account) in &next.users {
            if prev.users.get(email) != Some(account) {
                plan.add_users.push((
                    tag.clone(),
                    User {
                        email: email.clone(),
                        account: account.clone(),
                    },
                ));
            }
        }
    }
    Ok(plan)
}

/// Emails whose access the core loses somewhere going from `old` to `new`: removed from an
/// inbound that stays, given new credentials there, or on an inbound that is removed or
/// disabled. The core's API closes none of their open connections.
pub fn dropped_users(old: &DesiredState, new: &DesiredState, flavour: Flavour) -> BTreeSet<String> {
    let accounts = |state: &DesiredState| -> BTreeMap<String, BTreeMap<String, Account>> {
        state
            .inbounds
            .iter()
            .filter(|i| i.enable)
            .map(|spec| {
                let users = users(spec, flavour)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| (u.email, u.account))
                    .collect();
                (spec.tag.clone(), users)
            })
            .collect()
    };
    let after = accounts(new);
    let mut dropped = BTreeSet::new();
    for (tag, before) in accounts(old) {
        let kept = after.get(&tag);
        for (email, account) in before {
            if kept.and_then(|k| k.get(&email)) != Some(&account) {
                dropped.insert(email);
            }
        }
    }
    dropped
}
