//! The admins' side: the menu, `/usage`, `/inbound`, `/restart`, and the menu's buttons
//! (server usage, traffic report, reset all traffic, backup, deplete soon, online clients,
//! all clients by server and inbound).

use std::time::Duration;

use xfleet_common::methods::core_methods;

use super::report::{self, LIST_MAX};
use super::{client_card, Ctx};
use crate::links::remark::traffic;
use crate::model;
use crate::tasks::NewTask;
use crate::telegram;

/// Clients one page of an inbound's list shows.
const PAGE: usize = 20;

pub async fn menu(ctx: &Ctx<'_>) {
    let text = ctx.f(
        "menu.admin",
        &[
            ("host", &crate::util::hostname()),
            ("id", &ctx.user.to_string()),
        ],
    );
    ctx.show(&text, Some(keyboard(ctx))).await;
}

pub fn keyboard(ctx: &Ctx<'_>) -> Vec<Vec<(String, String)>> {
    let b = |key: &str, data: &str| ctx.button(ctx.t(key), data);
    vec![
        vec![b("menu.status", "st"), b("menu.server_usage", "su")],
        vec![b("menu.traffic", "tr"), b("menu.deplete", "ds")],
        vec![b("menu.online", "on"), b("menu.all_clients", "ac")],
        vec![b("menu.add_client", "w"), b("menu.backup", "bk")],
        vec![b("menu.restart", "rs"), b("menu.reset_all", "ra")],
        vec![b("menu.commands", "h")],
    ]
}

/// `/usage EMAIL`: the client's card; without an email, how to ask.
pub async fn usage(ctx: &Ctx<'_>, email: &str) {
    if email.is_empty() {
        return ctx.say(ctx.t("usage.how"), None).await;
    }
    match ctx.ctl.store.client_by_email(email).await {
        Ok(c) => client_card::show(ctx, c.id).await,
        Err(_) => {
            // Not one email: the clients whose email holds the text.
            let needle = email.to_lowercase();
            let found: Vec<_> = match ctx.ctl.store.all_clients().await {
                Ok(all) => all
                    .into_iter()
                    .filter(|c| c.email.to_lowercase().contains(&needle))
                    .collect(),
                Err(e) => {
                    return ctx
                        .say(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                        .await
                }
            };
            if found.is_empty() {
                return ctx
                    .say(&ctx.f("usage.none", &[("email", email)]), None)
                    .await;
            }
            let rows = found
                .iter()
                .take(LIST_MAX)
                .map(|c| vec![ctx.button(c.email.clone(), &format!("c:{}", c.id))])
                .collect();
            ctx.say(
                &ctx.f("usage.found", &[("count", &found.len().to_string())]),
                Some(rows),
            )
            .await
        }
    }
}

/// `/inbound REMARK`: the inbounds whose remark or tag holds the text, with their usage.
pub async fn inbound(ctx: &Ctx<'_>, needle: &str) {
    let result = async {
        let inbounds = ctx.ctl.store.all_inbounds().await?;
        let servers = ctx.ctl.store.list_servers().await?;
        let mut totals = std::collections::HashMap::new();
        for s in &servers {
            totals.insert(s.id, ctx.ctl.store.inbound_totals(s.id).await?);
        }
        let needle = needle.to_lowercase();
        let mut lines = Vec::new();
        let mut keyboard = Vec::new();
        for i in inbounds.iter().filter(|i| {
            i.remark.to_lowercase().contains(&needle) || i.tag.to_lowercase().contains(&needle)
        }) {
            let server = super::server_name(&servers, i.server_id);
            let (up, down, _) = totals
                .get(&i.server_id)
                .and_then(|t| t.get(&i.tag))
                .copied()
                .unwrap_or((0, 0, 0));
            let clients = ctx.ctl.store.clients_of_inbound(i.id).await?.len();
            let name = super::inbound_name(i);
            lines.push(ctx.f(
                "inbound.line",
                &[
                    ("name", name),
                    ("server", server),
                    ("protocol", &i.protocol),
                    ("port", &i.port.to_string()),
                    ("state", if i.enable != 0 { "🟢" } else { "⛔" }),
                    ("clients", &clients.to_string()),
                    ("up", &traffic(up)),
                    ("down", &traffic(down)),
                ],
            ));
            if keyboard.len() < LIST_MAX {
                keyboard.push(vec![
                    ctx.button(format!("{name} @ {server}"), &format!("ai:{}:0", i.id))
                ]);
            }
        }
        Ok::<_, crate::store::StoreError>((lines, keyboard))
    }
    .await;
    match result {
        Ok((lines, _)) if lines.is_empty() => ctx.say(ctx.t("inbound.none"), None).await,
        Ok((lines, keyboard)) => ctx.say(&lines.join("\n\n"), Some(keyboard)).await,
        Err(e) => {
            ctx.say(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await
        }
    }
}

/// `/restart [SERVER]`: the core of the named server restarted; without a name, which one.
pub async fn restart(ctx: &Ctx<'_>, name: &str) {
    if name.is_empty() {
        // One server: no question to ask, as on a single 3x-ui server.
        if let Some(id) = only_server(ctx).await {
            let text = restart_server(ctx, id).await;
            return ctx.say(&text, None).await;
        }
        return choose_server(ctx, "restart.which", "rs", false).await;
    }
    match model::servers::resolve(ctx.ctl, name).await {
        Ok(server) => {
            let text = restart_server(ctx, server.id).await;
            ctx.say(&text, None).await
        }
        Err(_) => {
            ctx.say(&ctx.f("error.no_server_named", &[("name", name)]), None)
                .await
        }
    }
}

/// Queues `core.restart` for the server; says what became of it (waits a few seconds for
/// the agent's answer).
async fn restart_server(ctx: &Ctx<'_>, id: i64) -> String {
    let ctl = ctx.ctl;
    let name = ctl
        .store
        .server(id)
        .await
        .map(|s| s.name)
        .unwrap_or_else(|_| id.to_string());
    let task = ctl
        .tasks
        .enqueue(
            ctl,
            NewTask {
                server_id: id,
                operation: core_methods::RESTART.into(),
                request: serde_json::json!({}),
                ttl: Duration::from_secs(ctl.config.task_ttl_secs),
                created_by: ctx.actor(),
            },
        )
        .await;
    let task = match task {
        Ok(t) => t,
        Err(e) => return ctx.f("error.failed", &[("error", &e.to_string())]),
    };
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(row) = ctl.store.task(&task.id).await else {
            break;
        };
        match row.status.as_str() {
            "completed" => return ctx.f("restart.done", &[("server", &name)]),
            "failed" | "expired" => {
                let error = row.error_message.unwrap_or_default();
                return ctx.f("restart.failed", &[("server", &name), ("error", &error)]);
            }
            _ => {}
        }
    }
    ctx.f("restart.queued", &[("server", &name), ("task", &task.id)])
}

/// A server picker: one button per server (`{verb}:{id}`), and the fleet total when
/// `fleet` is set (`{verb}:0`).
async fn choose_server(ctx: &Ctx<'_>, prompt: &str, verb: &str, fleet: bool) {
    let servers = match ctx.ctl.store.list_servers().await {
        Ok(s) => s,
        Err(e) => {
            return ctx
                .show(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await
        }
    };
    if servers.is_empty() {
        return ctx
            .show(ctx.t("status.no_servers"), Some(vec![ctx.back("m")]))
            .await;
    }
    let mut rows: Vec<Vec<(String, String)>> = servers
        .iter()
        .map(|s| vec![ctx.button(s.name.clone(), &format!("{verb}:{}", s.id))])
        .collect();
    if fleet {
        rows.insert(
            0,
            vec![ctx.button(ctx.t("button.whole_fleet"), &format!("{verb}:0"))],
        );
    }
    rows.push(ctx.back("m"));
    ctx.show(ctx.t(prompt), Some(rows)).await;
}

/// The server's id when the fleet has exactly one.
async fn only_server(ctx: &Ctx<'_>) -> Option<i64> {
    match ctx.ctl.store.list_servers().await {
        Ok(s) if s.len() == 1 => Some(s[0].id),
        _ => None,
    }
}

/// A pressed admin button.
pub async fn pressed(ctx: &Ctx<'_>, verb: &str, args: &str) -> String {
    // Which server, when there is only one, needs no asking.
    let given = args.split(':').next().and_then(|a| a.parse::<i64>().ok());
    let single = match (verb, given) {
        ("su" | "rs" | "ac", None) => only_server(ctx).await,
        _ => None,
    };
    let id = || given.or(single);
    match verb {
        "m" => menu(ctx).await,
        "st" => report::status(ctx).await,
        "h" => {
            ctx.show(ctx.t("help.admin"), Some(vec![ctx.back("m")]))
                .await;
        }
        "su" => match id() {
            None => choose_server(ctx, "server.which", "su", true).await,
            Some(0) => report::status(ctx).await,
            Some(id) => {
                let text = report::server_card(ctx.ctl, ctx.lang, id)
                    .await
                    .unwrap_or_else(|e| ctx.f("error.failed", &[("error", &e)]));
                let back = if only_server(ctx).await.is_some() {
                    "m"
                } else {
                    "su"
                };
                let keyboard = vec![
                    vec![ctx.button(ctx.t("button.refresh"), &format!("su:{id}"))],
                    ctx.back(back),
                ];
                ctx.show(&text, Some(keyboard)).await;
            }
        },
        "tr" => {
            let text = report::traffic_report(ctx.ctl, ctx.lang)
                .await
                .unwrap_or_else(|e| ctx.f("error.failed", &[("error", &e)]));
            ctx.show(&text, Some(vec![ctx.back("m")])).await;
        }
        "ds" => {
            let s = &ctx.settings;
            let text =
                report::deplete_soon(ctx.ctl, ctx.lang, s.expire_diff_days, s.traffic_diff_gb)
                    .await
                    .unwrap_or_else(|e| ctx.f("error.failed", &[("error", &e)]));
            ctx.show(&text, Some(vec![ctx.back("m")])).await;
        }
        "on" => {
            let text = report::online(ctx.ctl, ctx.lang)
                .await
                .unwrap_or_else(|e| ctx.f("error.failed", &[("error", &e)]));
            ctx.show(
                &text,
                Some(vec![
                    vec![ctx.button(ctx.t("button.refresh"), "on")],
                    ctx.back("m"),
                ]),
            )
            .await;
        }
        "rs" => match id() {
            None => choose_server(ctx, "restart.which", "rs", false).await,
            Some(id) => {
                let keyboard = vec![vec![
                    ctx.button(ctx.t("button.confirm"), &format!("rsy:{id}")),
                    ctx.button(ctx.t("button.cancel"), "m"),
                ]];
                let name = ctx
                    .ctl
                    .store
                    .server(id)
                    .await
                    .map(|s| s.name)
                    .unwrap_or_default();
                ctx.show(
                    &ctx.f("restart.confirm", &[("server", &name)]),
                    Some(keyboard),
                )
                .await;
            }
        },
        "rsy" => {
            if let Some(id) = id() {
                ctx.show(ctx.t("restart.sending"), None).await;
                let text = restart_server(ctx, id).await;
                ctx.show(&text, Some(vec![ctx.back("m")])).await;
            }
        }
        "ra" => {
            let keyboard = vec![vec![
                ctx.button(ctx.t("button.confirm"), "ray"),
                ctx.button(ctx.t("button.cancel"), "m"),
            ]];
            ctx.show(ctx.t("reset_all.confirm"), Some(keyboard)).await;
        }
        "ray" => {
            let text = match model::reset_clients_traffic(ctx.ctl, &ctx.actor(), None).await {
                Ok(n) => ctx.f("reset_all.done", &[("count", &n.to_string())]),
                Err(e) => ctx.f("error.failed", &[("error", &super::said(&e, ctx.lang))]),
            };
            ctx.show(&text, Some(vec![ctx.back("m")])).await;
        }
        "bk" => {
            ctx.show(ctx.t("backup.sending"), None).await;
            let data_dir = &ctx.ctl.config.data_dir;
            let doc = telegram::backup_document(&ctx.ctl.store, data_dir).await;
            let text = match doc {
                Ok(doc) => {
                    let caption = match ctx.ctl.store.backend() {
                        crate::store::Backend::Sqlite => ctx.t("backup.caption_sqlite"),
                        crate::store::Backend::Postgres => ctx.t("backup.caption_archive"),
                    };
                    match ctx
                        .tg
                        .send_document(ctx.chat, doc.bytes, &doc.name, caption)
                        .await
                    {
                        Ok(()) => ctx.t("backup.sent").to_owned(),
                        Err(e) => ctx.f("error.failed", &[("error", &e.to_string())]),
                    }
                }
                Err(e) => ctx.f("error.failed", &[("error", &e)]),
            };
            ctx.say(&text, Some(vec![ctx.back("m")])).await;
        }
        "ac" => match id() {
            None => choose_server(ctx, "clients.which_server", "ac", false).await,
            Some(server) => inbounds_of(ctx, server).await,
        },
        "ai" => {
            let mut parts = args.split(':');
            let inbound = parts.next().and_then(|a| a.parse::<i64>().ok());
            let page = parts
                .next()
                .and_then(|a| a.parse::<usize>().ok())
                .unwrap_or(0);
            if let Some(inbound) = inbound {
                clients_of(ctx, inbound, page).await;
            }
        }
        _ => return ctx.t("error.expired").to_owned(),
    }
    String::new()
}

/// A server's inbounds to pick from.
async fn inbounds_of(ctx: &Ctx<'_>, server: i64) {
    let inbounds = match ctx.ctl.store.inbounds_of(server).await {
        Ok(i) => i,
        Err(e) => {
            return ctx
                .show(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await
        }
    };
    let mut rows: Vec<Vec<(String, String)>> = inbounds
        .iter()
        .map(|i| {
            let name = super::inbound_name(i);
            vec![ctx.button(
                format!("{name} ({} :{})", i.protocol, i.port),
                &format!("ai:{}:0", i.id),
            )]
        })
        .collect();
    let back = if only_server(ctx).await.is_some() {
        "m"
    } else {
        "ac"
    };
    rows.push(ctx.back(back));
    let text = if inbounds.is_empty() {
        ctx.t("clients.no_inbounds")
    } else {
        ctx.t("clients.which_inbound")
    };
    ctx.show(text, Some(rows)).await;
}

/// One page of an inbound's clients, each a button to its card.
async fn clients_of(ctx: &Ctx<'_>, inbound: i64, page: usize) {
    let clients = match ctx.ctl.store.clients_of_inbound(inbound).await {
        Ok(c) => c,
        Err(e) => {
            return ctx
                .show(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await
        }
    };
    let pages = clients.len().div_ceil(PAGE).max(1);
    let page = page.min(pages - 1);
    let mut rows: Vec<Vec<(String, String)>> = clients
        .iter()
        .skip(page * PAGE)
        .take(PAGE)
        .map(|c| {
            let mark = if c.enable != 0 { "" } else { "⛔ " };
            vec![ctx.button(format!("{mark}{}", c.email), &format!("c:{}", c.id))]
        })
        .collect();
    let mut nav = Vec::new();
    if page > 0 {
        nav.push(ctx.button("◀", &format!("ai:{inbound}:{}", page - 1)));
    }
    if page + 1 < pages {
        nav.push(ctx.button("▶", &format!("ai:{inbound}:{}", page + 1)));
    }
    if !nav.is_empty() {
        rows.push(nav);
    }
    let server = ctx
        .ctl
        .store
        .inbound(inbound)
        .await
        .map(|i| i.server_id)
        .unwrap_or(0);
    rows.push(ctx.back(&format!("ac:{server}")));
    let text = ctx.f(
        "clients.page",
        &[
            ("count", &clients.len().to_string()),
            ("page", &(page + 1).to_string()),
            ("pages", &pages.to_string()),
        ],
    );
    ctx.show(&text, Some(rows)).await;
}
