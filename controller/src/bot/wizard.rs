//! The add-client wizard: pick an inbound (on any server), set the email, traffic limit,
//! expiry, IP limit, Telegram id and comment (presets or typed), then create the client
//! enabled or disabled. It is created as the panel creates one, and so is on the server's
//! core once the state is applied.

use super::{said, Awaiting, Ctx};
use crate::generate;
use crate::model::{self, ClientInput};

const GB: i64 = 1 << 30;
const DAY_MS: i64 = 86_400_000;

/// A client being put together, per chat.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub inbound: i64,
    pub email: String,
    pub traffic_gb: i64,
    pub days: i64,
    pub ip_limit: i64,
    pub tg_id: i64,
    pub comment: String,
}

/// A value the wizard asks to be typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    TrafficGb,
    Days,
    IpLimit,
    TgId,
    Comment,
}

fn draft(ctx: &Ctx<'_>) -> Option<Draft> {
    ctx.shared
        .wizards
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&ctx.chat)
        .cloned()
}

fn keep(ctx: &Ctx<'_>, d: Draft) {
    ctx.shared
        .wizards
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(ctx.chat, d);
}

/// The draft and its buttons.
async fn show(ctx: &Ctx<'_>) {
    let Some(d) = draft(ctx) else {
        return choose_inbound(ctx).await;
    };
    let inbound = ctx.ctl.store.inbound(d.inbound).await;
    let server = match &inbound {
        Ok(i) => ctx
            .ctl
            .store
            .server(i.server_id)
            .await
            .map(|s| s.name)
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let inbound_name = inbound
        .map(|i| super::inbound_name(&i).to_owned())
        .unwrap_or_default();
    let unlimited = "∞".to_owned();
    let text = ctx.f(
        "wizard.draft",
        &[
            ("inbound", &inbound_name),
            ("server", &server),
            ("email", &d.email),
            (
                "traffic",
                &if d.traffic_gb > 0 {
                    format!("{} GB", d.traffic_gb)
                } else {
                    unlimited.clone()
                },
            ),
            (
                "days",
                &if d.days > 0 {
                    d.days.to_string()
                } else {
                    unlimited.clone()
                },
            ),
            (
                "ip_limit",
                &if d.ip_limit > 0 {
                    d.ip_limit.to_string()
                } else {
                    unlimited.clone()
                },
            ),
            (
                "tg",
                &if d.tg_id > 0 {
                    d.tg_id.to_string()
                } else {
                    "—".into()
                },
            ),
            (
                "comment",
                if d.comment.is_empty() {
                    "—"
                } else {
                    &d.comment
                },
            ),
        ],
    );
    let b = |key: &str, data: &str| ctx.button(ctx.t(key), data);
    let keyboard = vec![
        vec![b("wizard.email", "we"), b("wizard.comment", "wc")],
        vec![b("card.traffic", "wt"), b("card.expiry", "wx")],
        vec![b("card.ip_limit", "wi"), b("card.tg_user", "wg")],
        vec![
            b("wizard.create_enabled", "wok:1"),
            b("wizard.create_disabled", "wok:0"),
        ],
        vec![b("button.cancel", "wq")],
    ];
    ctx.show(&text, Some(keyboard)).await;
}

/// Every inbound of every server to pick from.
async fn choose_inbound(ctx: &Ctx<'_>) {
    let (inbounds, servers) = match (
        ctx.ctl.store.all_inbounds().await,
        ctx.ctl.store.list_servers().await,
    ) {
        (Ok(i), Ok(s)) => (i, s),
        (Err(e), _) | (_, Err(e)) => {
            return ctx
                .show(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await
        }
    };
    let mut rows: Vec<Vec<(String, String)>> = inbounds
        .iter()
        .map(|i| {
            let server = super::server_name(&servers, i.server_id);
            let name = super::inbound_name(i);
            vec![ctx.button(
                format!("{name} ({}) @ {server}", i.protocol),
                &format!("w:{}", i.id),
            )]
        })
        .collect();
    rows.push(ctx.back("m"));
    let text = if inbounds.is_empty() {
        ctx.t("clients.no_inbounds")
    } else {
        ctx.t("wizard.which_inbound")
    };
    ctx.show(text, Some(rows)).await;
}

fn presets(
    ctx: &Ctx<'_>,
    verb: &str,
    values: &[i64],
    label: impl Fn(i64) -> String,
    typed: &str,
) -> Vec<Vec<(String, String)>> {
    let mut rows: Vec<Vec<(String, String)>> = values
        .chunks(3)
        .map(|chunk| {
            chunk
                .iter()
                .map(|v| ctx.button(label(*v), &format!("{verb}:{v}")))
                .collect()
        })
        .collect();
    rows.push(vec![ctx.button(ctx.t("button.custom"), typed)]);
    rows.push(ctx.back("wd"));
    rows
}

fn ask(ctx: &Ctx<'_>, field: Field) {
    ctx.shared
        .awaiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(ctx.chat, Awaiting::Wizard(field));
}

/// A pressed wizard button; `None` when the verb is not the wizard's.
pub async fn pressed(ctx: &Ctx<'_>, verb: &str, args: &str) -> Option<String> {
    let value: Option<i64> = args.parse().ok();
    let update = |f: &dyn Fn(&mut Draft)| {
        let mut d = draft(ctx)?;
        f(&mut d);
        keep(ctx, d);
        Some(())
    };
    match (verb, value) {
        ("w", None) => choose_inbound(ctx).await,
        ("w", Some(inbound)) => {
            keep(
                ctx,
                Draft {
                    inbound,
                    email: generate::sub_id()[..8].to_owned(),
                    ..Default::default()
                },
            );
            show(ctx).await;
        }
        ("wd", _) => show(ctx).await,
        ("wt", None) => {
            let rows = presets(
                ctx,
                "wts",
                &[0, 10, 20, 50, 100, 200],
                |g| {
                    if g == 0 {
                        "∞".into()
                    } else {
                        format!("{g} GB")
                    }
                },
                "wtc",
            );
            ctx.show(ctx.t("card.traffic_ask"), Some(rows)).await;
        }
        ("wts", Some(gb)) => {
            update(&|d| d.traffic_gb = gb);
            show(ctx).await;
        }
        ("wx", None) => {
            let rows = presets(
                ctx,
                "wxs",
                &[0, 7, 30, 60, 90, 365],
                |d| if d == 0 { "∞".into() } else { d.to_string() },
                "wxc",
            );
            ctx.show(ctx.t("wizard.days_ask"), Some(rows)).await;
        }
        ("wxs", Some(days)) => {
            update(&|d| d.days = days);
            show(ctx).await;
        }
        ("wi", None) => {
            let rows = presets(
                ctx,
                "wis",
                &[0, 1, 2, 3, 5, 10],
                |n| if n == 0 { "∞".into() } else { n.to_string() },
                "wic",
            );
            ctx.show(ctx.t("card.ip_limit_ask"), Some(rows)).await;
        }
        ("wis", Some(n)) => {
            update(&|d| d.ip_limit = n);
            show(ctx).await;
        }
        ("we" | "wc" | "wg" | "wtc" | "wxc" | "wic", _) => {
            let (field, key) = match verb {
                "we" => (Field::Email, "wizard.type_email"),
                "wc" => (Field::Comment, "wizard.type_comment"),
                "wg" => (Field::TgId, "card.type_tg_id"),
                "wtc" => (Field::TrafficGb, "card.type_gb"),
                "wxc" => (Field::Days, "wizard.type_days"),
                _ => (Field::IpLimit, "card.type_ip_limit"),
            };
            ask(ctx, field);
            ctx.show(ctx.t(key), Some(vec![ctx.back("wd")])).await;
        }
        ("wq", _) => {
            ctx.shared
                .wizards
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&ctx.chat);
            super::admin::menu(ctx).await;
            return Some(ctx.t("wizard.cancelled").to_owned());
        }
        ("wok", Some(enabled)) => return Some(submit(ctx, enabled != 0).await),
        _ => return None,
    }
    Some(String::new())
}

/// Creates the client from the draft; the notice says how it went.
async fn submit(ctx: &Ctx<'_>, enabled: bool) -> String {
    let Some(d) = draft(ctx) else {
        return ctx.t("error.expired").to_owned();
    };
    let input = ClientInput {
        email: Some(d.email.clone()),
        total_gb: Some(d.traffic_gb * GB),
        expiry_time: Some(if d.days > 0 {
            xfleet_common::time::now_ms() + d.days * DAY_MS
        } else {
            0
        }),
        limit_ip: Some(d.ip_limit),
        tg_id: (d.tg_id > 0).then(|| serde_json::Value::from(d.tg_id)),
        comment: Some(d.comment.clone()),
        enable: Some(enabled),
        ..Default::default()
    };
    match model::create_client(ctx.ctl, &ctx.actor(), &input, &[d.inbound]).await {
        Ok(c) => {
            ctx.shared
                .wizards
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&ctx.chat);
            super::client_card::show(ctx, c.id).await;
            ctx.t("wizard.created").to_owned()
        }
        Err(e) => {
            ctx.say(
                &ctx.f("error.failed", &[("error", &said(&e, ctx.lang))]),
                None,
            )
            .await;
            ctx.t("error.not_saved").to_owned()
        }
    }
}

/// A value typed after the wizard asked for it.
pub async fn typed(ctx: &Ctx<'_>, field: Field, text: &str) {
    let Some(mut d) = draft(ctx) else {
        return ctx.say(ctx.t("error.expired"), None).await;
    };
    let number = text.trim().parse::<i64>();
    match (field, number) {
        (Field::Email, _) => d.email = text.trim().to_owned(),
        (Field::Comment, _) => d.comment = text.trim().to_owned(),
        (Field::TrafficGb, Ok(n)) => d.traffic_gb = n.max(0),
        (Field::Days, Ok(n)) => d.days = n.max(0),
        (Field::IpLimit, Ok(n)) => d.ip_limit = n.max(0),
        (Field::TgId, Ok(n)) => d.tg_id = n.max(0),
        _ => {
            ask(ctx, field);
            return ctx.say(ctx.t("error.not_a_number"), None).await;
        }
    }
    keep(ctx, d);
    show(ctx).await;
}
