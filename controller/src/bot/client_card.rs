//! One client's card for admins, and its actions: refresh, reset traffic, the traffic limit
//! and expiry (presets or typed), the IP limit, the IP log (view, clear), the Telegram user
//! (set, remove), enable or disable, and the client's links and QR pictures.

use xfleet_common::time::now_ms;

use super::{report, said, user, Awaiting, Ctx};
use crate::links::remark::traffic;
use crate::model::{self, ClientInput};
use crate::store::ClientRow;

const GB: i64 = 1 << 30;
const DAY_MS: i64 = 86_400_000;

/// A value an admin types for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    TrafficGb,
    ExpiryDays,
    IpLimit,
    TgId,
}

pub async fn show(ctx: &Ctx<'_>, id: i64) {
    let Some(c) = client(ctx, id).await else {
        return;
    };
    let text = card_text(ctx, &c).await;
    let b = |key: &str, verb: &str| ctx.button(ctx.t(key), &format!("{verb}:{id}"));
    let toggle = if c.enable != 0 {
        "card.disable"
    } else {
        "card.enable"
    };
    let keyboard = vec![
        vec![b("button.refresh", "c"), b("card.reset", "cr")],
        vec![b("card.traffic", "ct"), b("card.expiry", "ce")],
        vec![b("card.ip_limit", "ci"), b("card.ip_log", "cl")],
        vec![b("card.tg_user", "cg"), b(toggle, "cx")],
        vec![b("card.subscription", "cs"), b("card.links", "ck")],
        ctx.back("m"),
    ];
    ctx.show(&text, Some(keyboard)).await;
}

async fn client(ctx: &Ctx<'_>, id: i64) -> Option<ClientRow> {
    match ctx.ctl.store.client(id).await {
        Ok(c) => Some(c),
        Err(crate::store::StoreError::NotFound(_)) => {
            ctx.show(ctx.t("error.no_client"), Some(vec![ctx.back("m")]))
                .await;
            None
        }
        Err(e) => {
            ctx.show(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await;
            None
        }
    }
}

async fn card_text(ctx: &Ctx<'_>, c: &ClientRow) -> String {
    let store = &ctx.ctl.store;
    let totals = store.client_total(&c.email).await.unwrap_or_default();
    let now = now_ms();
    let mut where_ = Vec::new();
    if let (Ok(inbounds), Ok(servers)) = (
        store.inbounds_of_client(c.id).await,
        store.list_servers().await,
    ) {
        for i in inbounds {
            let server = super::server_name(&servers, i.server_id);
            let name = super::inbound_name(&i);
            where_.push(format!("{name} @ {server}"));
        }
    }
    let last_online = if totals.last_online > 0 {
        ctx.f(
            "card.ago",
            &[(
                "time",
                &report::duration_text((now - totals.last_online) / 1000, ctx.lang),
            )],
        )
    } else {
        ctx.t("card.never").to_owned()
    };
    ctx.f(
        "card.text",
        &[
            ("email", &c.email),
            (
                "state",
                ctx.t(if c.enable != 0 {
                    "state.enabled"
                } else {
                    "state.disabled"
                }),
            ),
            ("up", &traffic(totals.up)),
            ("down", &traffic(totals.down)),
            (
                "limits",
                &report::client_limits(c, totals.up + totals.down, now, ctx.lang),
            ),
            (
                "ip_limit",
                &if c.limit_ip > 0 {
                    c.limit_ip.to_string()
                } else {
                    "∞".into()
                },
            ),
            (
                "tg",
                &if c.tg_id > 0 {
                    c.tg_id.to_string()
                } else {
                    "—".into()
                },
            ),
            ("online", &last_online),
            ("inbounds", &where_.join(", ")),
            (
                "comment",
                if c.comment.is_empty() {
                    "—"
                } else {
                    &c.comment
                },
            ),
        ],
    )
}

/// A pressed card button; `None` when the verb is not the card's.
pub async fn pressed(ctx: &Ctx<'_>, verb: &str, args: &str) -> Option<String> {
    let mut parts = args.split(':');
    let id: i64 = parts.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let value: Option<i64> = parts.next().and_then(|a| a.parse().ok());
    let set = |input: ClientInput| async move { change(ctx, id, input).await };
    let presets = |verb: &str, values: &[(i64, String)], custom: Field| {
        let mut rows: Vec<Vec<(String, String)>> = values
            .chunks(3)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(v, label)| ctx.button(label.clone(), &format!("{verb}:{id}:{v}")))
                    .collect()
            })
            .collect();
        let typed = match custom {
            Field::TrafficGb => "ctc",
            Field::ExpiryDays => "cec",
            Field::IpLimit => "cic",
            Field::TgId => "cgs",
        };
        rows.push(vec![
            ctx.button(ctx.t("button.custom"), &format!("{typed}:{id}"))
        ]);
        rows.push(ctx.back(&format!("c:{id}")));
        rows
    };
    let notice = match (verb, value) {
        ("c", _) => {
            show(ctx, id).await;
            String::new()
        }
        ("cr", _) => {
            let keyboard = vec![vec![
                ctx.button(ctx.t("button.confirm"), &format!("cry:{id}")),
                ctx.button(ctx.t("button.cancel"), &format!("c:{id}")),
            ]];
            ctx.show(ctx.t("card.reset_confirm"), Some(keyboard)).await;
            String::new()
        }
        ("cry", _) => {
            let email = email_of(ctx, id).await?;
            match model::reset_client_traffic(ctx.ctl, &ctx.actor(), &email).await {
                Ok(()) => {
                    show(ctx, id).await;
                    ctx.t("card.reset_done").to_owned()
                }
                Err(e) => failed(ctx, id, &said(&e, ctx.lang)).await,
            }
        }
        ("ct", None) => {
            let values: Vec<(i64, String)> = [0, 10, 20, 50, 100, 200]
                .iter()
                .map(|g| {
                    (
                        *g,
                        if *g == 0 {
                            "∞".into()
                        } else {
                            format!("{g} GB")
                        },
                    )
                })
                .collect();
            ctx.show(
                ctx.t("card.traffic_ask"),
                Some(presets("cts", &values, Field::TrafficGb)),
            )
            .await;
            String::new()
        }
        ("cts", Some(gb)) => {
            set(ClientInput {
                total_gb: Some(gb * GB),
                ..Default::default()
            })
            .await
        }
        ("ce", None) => {
            let values: Vec<(i64, String)> = [0, 7, 30, 60, 90, 365]
                .iter()
                .map(|d| {
                    (
                        *d,
                        if *d == 0 {
                            "∞".into()
                        } else {
                            format!("+{d}")
                        },
                    )
                })
                .collect();
            ctx.show(
                ctx.t("card.expiry_ask"),
                Some(presets("ces", &values, Field::ExpiryDays)),
            )
            .await;
            String::new()
        }
        ("ces", Some(days)) => {
            let c = client(ctx, id).await?;
            set(ClientInput {
                expiry_time: Some(extend(&c, days)),
                ..Default::default()
            })
            .await
        }
        ("ci", None) => {
            let values: Vec<(i64, String)> = [0, 1, 2, 3, 5, 10]
                .iter()
                .map(|n| (*n, if *n == 0 { "∞".into() } else { n.to_string() }))
                .collect();
            ctx.show(
                ctx.t("card.ip_limit_ask"),
                Some(presets("cis", &values, Field::IpLimit)),
            )
            .await;
            String::new()
        }
        ("cis", Some(n)) => {
            set(ClientInput {
                limit_ip: Some(n),
                ..Default::default()
            })
            .await
        }
        ("ctc" | "cec" | "cic" | "cgs", _) => {
            let (field, key) = match verb {
                "ctc" => (Field::TrafficGb, "card.type_gb"),
                "cec" => (Field::ExpiryDays, "card.type_days"),
                "cic" => (Field::IpLimit, "card.type_ip_limit"),
                _ => (Field::TgId, "card.type_tg_id"),
            };
            ctx.shared
                .awaiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(ctx.chat, Awaiting::Client(field, id));
            ctx.show(ctx.t(key), Some(vec![ctx.back(&format!("c:{id}"))]))
                .await;
            String::new()
        }
        ("cl", _) => {
            let email = email_of(ctx, id).await?;
            let records = ctx.ctl.store.client_ip_records(&email).await;
            let text = match records {
                Ok(r) if r.is_empty() => ctx.t("card.ip_log_empty").to_owned(),
                Ok(r) => {
                    let mut lines = vec![ctx.f("card.ip_log_title", &[("email", &email)])];
                    lines.extend(r.iter().map(|r| format!("• {}", r.ip)));
                    lines.join("\n")
                }
                Err(e) => ctx.f("error.failed", &[("error", &e.to_string())]),
            };
            let keyboard = vec![
                vec![ctx.button(ctx.t("card.ip_log_clear"), &format!("clc:{id}"))],
                ctx.back(&format!("c:{id}")),
            ];
            ctx.show(&text, Some(keyboard)).await;
            String::new()
        }
        ("clc", _) => {
            let email = email_of(ctx, id).await?;
            match model::clear_client_ips(ctx.ctl, &ctx.actor(), &email).await {
                Ok(()) => {
                    show(ctx, id).await;
                    ctx.t("card.ip_log_cleared").to_owned()
                }
                Err(e) => failed(ctx, id, &said(&e, ctx.lang)).await,
            }
        }
        ("cg", _) => {
            let c = client(ctx, id).await?;
            let text = if c.tg_id > 0 {
                ctx.f("card.tg_is", &[("id", &c.tg_id.to_string())])
            } else {
                ctx.t("card.tg_none").to_owned()
            };
            let keyboard = vec![
                vec![
                    ctx.button(ctx.t("card.tg_set"), &format!("cgs:{id}")),
                    ctx.button(ctx.t("card.tg_remove"), &format!("cgr:{id}")),
                ],
                ctx.back(&format!("c:{id}")),
            ];
            ctx.show(&text, Some(keyboard)).await;
            String::new()
        }
        ("cgr", _) => {
            set(ClientInput {
                tg_id: Some(serde_json::Value::from(0)),
                ..Default::default()
            })
            .await
        }
        ("cx", _) => {
            let c = client(ctx, id).await?;
            set(ClientInput {
                enable: Some(c.enable == 0),
                ..Default::default()
            })
            .await
        }
        ("cs", _) => {
            let c = client(ctx, id).await?;
            user::send_subscription(ctx, &[c]).await;
            String::new()
        }
        ("ck", _) => {
            let c = client(ctx, id).await?;
            user::send_links(ctx, vec![c]).await;
            String::new()
        }
        _ => return None,
    };
    Some(notice)
}

/// The new expiry for "+days": from the current one while it is in the future, else from
/// now; 0 days means never.
fn extend(c: &ClientRow, days: i64) -> i64 {
    if days == 0 {
        return 0;
    }
    let now = now_ms();
    let from = if c.expiry_time > now {
        c.expiry_time
    } else {
        now
    };
    from + days * DAY_MS
}

async fn email_of(ctx: &Ctx<'_>, id: i64) -> Option<String> {
    client(ctx, id).await.map(|c| c.email)
}

/// Applies a change to the client and shows the card again; the notice says how it went.
async fn change(ctx: &Ctx<'_>, id: i64, input: ClientInput) -> String {
    let Some(email) = email_of(ctx, id).await else {
        return String::new();
    };
    match model::update_client(ctx.ctl, &ctx.actor(), &email, &input).await {
        Ok(_) => {
            show(ctx, id).await;
            ctx.t("card.saved").to_owned()
        }
        Err(e) => failed(ctx, id, &said(&e, ctx.lang)).await,
    }
}

async fn failed(ctx: &Ctx<'_>, id: i64, error: &str) -> String {
    ctx.show(
        &ctx.f("error.failed", &[("error", error)]),
        Some(vec![ctx.back(&format!("c:{id}"))]),
    )
    .await;
    ctx.t("error.not_saved").to_owned()
}

/// A value typed after the card asked for it.
pub async fn typed(ctx: &Ctx<'_>, field: Field, id: i64, text: &str) {
    let Ok(n) = text.trim().parse::<i64>() else {
        ctx.say(ctx.t("error.not_a_number"), None).await;
        ctx.shared
            .awaiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ctx.chat, Awaiting::Client(field, id));
        return;
    };
    let Some(c) = client(ctx, id).await else {
        return;
    };
    let input = match field {
        Field::TrafficGb => ClientInput {
            total_gb: Some(n.max(0).saturating_mul(GB)),
            ..Default::default()
        },
        Field::ExpiryDays => ClientInput {
            expiry_time: Some(extend(&c, n.max(0))),
            ..Default::default()
        },
        Field::IpLimit => ClientInput {
            limit_ip: Some(n),
            ..Default::default()
        },
        Field::TgId => ClientInput {
            tg_id: Some(serde_json::Value::from(n)),
            ..Default::default()
        },
    };
    let notice = change(ctx, id, input).await;
    if !notice.is_empty() {
        ctx.say(&notice, None).await;
    }
}
