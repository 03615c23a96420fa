//! What the bot reports to admins: the fleet at a glance (`/status`), one server's usage,
//! the traffic report, clients about to run out, clients online. The notifier's periodic
//! report is made of these too.

use std::collections::HashMap;

use xfleet_common::methods::CoreState;
use xfleet_common::time::now_ms;

use super::Ctx;
use crate::i18n::Language;
use crate::links::remark::traffic;
use crate::model::servers::{self, ServerView};
use crate::model::ONLINE_WINDOW_MS;
use crate::store::{ClientRow, FleetSummary};
use crate::Controller;

/// Lines a list shows before "and N more".
pub const LIST_MAX: usize = 100;

/// `/status`: every server with its state, core and version, clients online, traffic today.
pub async fn status(ctx: &Ctx<'_>) {
    let text = fleet_text(ctx.ctl, ctx.lang)
        .await
        .unwrap_or_else(|e| ctx.f("error.failed", &[("error", &e)]));
    let keyboard = vec![
        vec![ctx.button(ctx.t("button.refresh"), "st")],
        ctx.back("m"),
    ];
    ctx.show(&text, Some(keyboard)).await;
}

/// The fleet at a glance, in `lang`.
pub async fn fleet_text(ctl: &Controller, lang: &Language) -> Result<String, String> {
    let views = fleet_views(ctl).await?;
    let (summary, online) = figures(ctl).await?;
    let up = views.iter().filter(|s| s.connected).count();
    let mut lines = vec![lang.bot_fill(
        "status.title",
        &[
            ("online", &up.to_string()),
            ("servers", &views.len().to_string()),
            ("clients", &summary.clients_online.to_string()),
        ],
    )];
    let (mut today_up, mut today_down) = (0, 0);
    for s in &views {
        let usage = summary.per_server.get(&s.id).cloned().unwrap_or_default();
        today_up += usage.today_up;
        today_down += usage.today_down;
        lines.push(String::new());
        lines.push(server_line(s, lang));
        lines.push(lang.bot_fill(
            "status.server_detail",
            &[
                ("core", &core_text(s, lang)),
                (
                    "clients",
                    &online.get(&s.id).copied().unwrap_or(0).to_string(),
                ),
                ("today", &traffic(usage.today_up + usage.today_down)),
            ],
        ));
    }
    if views.is_empty() {
        lines.push(lang.bot_text("status.no_servers").to_owned());
    }
    lines.push(String::new());
    lines.push(lang.bot_fill(
        "status.total_today",
        &[("up", &traffic(today_up)), ("down", &traffic(today_down))],
    ));
    Ok(lines.join("\n"))
}

/// The fleet's usage, and clients online per server, now.
async fn figures(ctl: &Controller) -> Result<(FleetSummary, HashMap<i64, i64>), String> {
    let now = now_ms();
    let summary = ctl
        .store
        .fleet_summary(now, now - ONLINE_WINDOW_MS)
        .await
        .map_err(|e| e.to_string())?;
    let online = ctl
        .store
        .clients_online_per_server(now - ONLINE_WINDOW_MS)
        .await
        .map_err(|e| e.to_string())?;
    Ok((summary, online))
}

pub async fn fleet_views(ctl: &Controller) -> Result<Vec<ServerView>, String> {
    let rows = ctl.store.list_servers().await.map_err(|e| e.to_string())?;
    servers::views(ctl, rows).await.map_err(|e| e.to_string())
}

/// `🟢 name — online · agent 1.2.3` and the like.
pub fn server_line(s: &ServerView, lang: &Language) -> String {
    let (mark, state) = if !s.enabled {
        ("⚪", lang.bot_text("state.disabled"))
    } else if s.connected {
        ("🟢", lang.bot_text("state.online"))
    } else if s.status == "pending" {
        ("🟡", lang.bot_text("state.pending"))
    } else {
        ("🔴", lang.bot_text("state.offline"))
    };
    let version = s.version.as_deref().unwrap_or("—");
    format!("{mark} {} — {state} · agent {version}", s.name)
}

/// The core's state and version, in words.
pub fn core_text(s: &ServerView, lang: &Language) -> String {
    let state = match s.live.as_ref().and_then(|l| l.core.as_ref()) {
        Some(CoreState::Running { .. }) => lang.bot_text("core.running"),
        Some(CoreState::Stopped) => lang.bot_text("core.stopped"),
        Some(CoreState::Error { .. }) => lang.bot_text("core.error"),
        _ => lang.bot_text("core.unknown"),
    };
    let flavour = s.core_flavour.as_deref().unwrap_or("core");
    match &s.core_version {
        Some(v) => format!("{flavour} {v} {state}"),
        None => format!("{flavour} {state}"),
    }
}

/// One server's usage card.
pub async fn server_card(ctl: &Controller, lang: &Language, id: i64) -> Result<String, String> {
    let views = fleet_views(ctl).await?;
    let Some(s) = views.iter().find(|s| s.id == id) else {
        return Err(lang.bot_text("error.no_server").to_owned());
    };
    let (summary, online) = figures(ctl).await?;
    let usage = summary.per_server.get(&s.id).cloned().unwrap_or_default();
    let beat = s.live.as_ref().and_then(|l| l.heartbeat.as_ref());
    let dash = || "—".to_owned();
    let addresses = if s.reported_addresses.is_empty() {
        s.link_host.clone()
    } else {
        s.reported_addresses.join(", ")
    };
    let mut lines = vec![server_line(s, lang)];
    lines.push(lang.bot_fill(
        "server.card",
        &[
            ("host", s.hostname.as_deref().unwrap_or("—")),
            (
                "addresses",
                if addresses.is_empty() {
                    "—"
                } else {
                    &addresses
                },
            ),
            ("core", &core_text(s, lang)),
            (
                "cpu",
                &beat.map_or_else(dash, |b| format!("{:.0}%", b.cpu_percent)),
            ),
            (
                "memory",
                &beat.map_or_else(dash, |b| {
                    format!(
                        "{} / {}",
                        traffic(b.mem_used as i64),
                        traffic(b.mem_total as i64)
                    )
                }),
            ),
            (
                "load",
                &beat.map_or_else(dash, |b| format!("{:.2}", b.load1)),
            ),
            (
                "uptime",
                &beat.map_or_else(dash, |b| duration_text(b.uptime_s as i64, lang)),
            ),
            ("inbounds", &usage.inbounds.to_string()),
            (
                "clients",
                &online.get(&s.id).copied().unwrap_or(0).to_string(),
            ),
            ("up", &traffic(usage.up)),
            ("down", &traffic(usage.down)),
            ("today", &traffic(usage.today_up + usage.today_down)),
        ],
    ));
    if let Some(e) = &s.apply_error {
        lines.push(lang.bot_fill("server.apply_error", &[("error", e)]));
    }
    Ok(lines.join("\n"))
}

/// `3d 4h`, `5h 12m`, `7m`.
pub fn duration_text(seconds: i64, lang: &Language) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    let day = lang.bot_text("unit.day");
    let hour = lang.bot_text("unit.hour");
    let minute = lang.bot_text("unit.minute");
    if d > 0 {
        format!("{d}{day} {h}{hour}")
    } else if h > 0 {
        format!("{h}{hour} {m}{minute}")
    } else {
        format!("{m}{minute}")
    }
}

/// Every client by usage, most first.
pub async fn traffic_report(ctl: &Controller, lang: &Language) -> Result<String, String> {
    let totals = ctl.store.client_totals().await.map_err(|e| e.to_string())?;
    let mut rows: Vec<(String, i64, i64)> = totals
        .into_values()
        .map(|t| (t.email, t.up, t.down))
        .collect();
    rows.sort_by_key(|(e, up, down)| (std::cmp::Reverse(up + down), e.clone()));
    let mut lines = vec![lang.bot_text("report.traffic_title").to_owned()];
    for (email, up, down) in rows.iter().take(LIST_MAX) {
        lines.push(format!(
            "{email}: ↑{} ↓{} = {}",
            traffic(*up),
            traffic(*down),
            traffic(up + down)
        ));
    }
    more(&mut lines, rows.len(), lang);
    if rows.is_empty() {
        lines.push(lang.bot_text("report.none").to_owned());
    }
    Ok(lines.join("\n"))
}

/// Whether a client is within the warning thresholds (or past them), and why.
pub fn depleting(
    c: &ClientRow,
    used: i64,
    now: i64,
    expire_days: i64,
    traffic_gb: i64,
) -> Option<(bool, bool)> {
    let left_bytes = c.total_bytes - used;
    let near_quota = c.total_bytes > 0 && left_bytes <= traffic_gb.max(0) * (1 << 30);
    let near_expiry = c.expiry_time > 0 && c.expiry_time - now <= expire_days.max(0) * 86_400_000;
    (near_quota || near_expiry).then_some((near_quota, near_expiry))
}

/// Clients near or past their limits, by `expireDiff` and `trafficDiff` (at least those
/// past them, when both are 0).
pub async fn deplete_soon(
    ctl: &Controller,
    lang: &Language,
    expire_days: i64,
    traffic_gb: i64,
) -> Result<String, String> {
    let now = now_ms();
    let clients = ctl.store.all_clients().await.map_err(|e| e.to_string())?;
    let totals = ctl.store.client_totals().await.map_err(|e| e.to_string())?;
    let mut lines = vec![lang.bot_fill(
        "report.deplete_title",
        &[
            ("days", &expire_days.to_string()),
            ("gb", &traffic_gb.to_string()),
        ],
    )];
    let mut found = 0;
    for c in &clients {
        let used = totals.get(&c.email).map_or(0, |t| t.up + t.down);
        if depleting(c, used, now, expire_days, traffic_gb).is_none() {
            continue;
        }
        found += 1;
        if found <= LIST_MAX {
            lines.push(format!("• {}", client_limits(c, used, now, lang)));
        }
    }
    more(&mut lines, found, lang);
    if found == 0 {
        lines.push(lang.bot_text("report.none").to_owned());
    }
    Ok(lines.join("\n"))
}

/// `email: 1.20GB / 10.00GB · expires in 3d 4h` and the like.
pub fn client_limits(c: &ClientRow, used: i64, now: i64, lang: &Language) -> String {
    let quota = if c.total_bytes > 0 {
        format!("{} / {}", traffic(used), traffic(c.total_bytes))
    } else {
        format!("{} / ∞", traffic(used))
    };
    let expiry = if c.expiry_time > 0 && c.expiry_time <= now {
        lang.bot_text("client.expired").to_owned()
    } else if c.expiry_time > 0 {
        lang.bot_fill(
            "client.expires_in",
            &[("time", &duration_text((c.expiry_time - now) / 1000, lang))],
        )
    } else if c.expiry_time < 0 {
        lang.bot_fill(
            "client.starts_on_use",
            &[("days", &(-c.expiry_time / 86_400_000).to_string())],
        )
    } else {
        lang.bot_text("client.never_expires").to_owned()
    };
    let off = if c.enable == 0 { " ⛔" } else { "" };
    format!("{}{off}: {quota} · {expiry}", c.email)
}

/// Clients with traffic in the last few minutes, with their servers.
pub async fn online(ctl: &Controller, lang: &Language) -> Result<String, String> {
    let now = now_ms();
    let since = now - ONLINE_WINDOW_MS;
    let rows: Vec<(String, i64)> = ctl
        .store
        .online_clients(since)
        .await
        .map_err(|e| e.to_string())?;
    let names: HashMap<i64, String> = fleet_views(ctl)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let mut by_email: Vec<(String, Vec<String>)> = Vec::new();
    for (email, server) in rows {
        let name = names
            .get(&server)
            .cloned()
            .unwrap_or_else(|| server.to_string());
        match by_email.last_mut() {
            Some((e, servers)) if *e == email => servers.push(name),
            _ => by_email.push((email, vec![name])),
        }
    }
    let mut lines = vec![lang.bot_fill(
        "report.online_title",
        &[("count", &by_email.len().to_string())],
    )];
    for (email, servers) in by_email.iter().take(LIST_MAX) {
        lines.push(format!("🟢 {email} ({})", servers.join(", ")));
    }
    more(&mut lines, by_email.len(), lang);
    Ok(lines.join("\n"))
}

fn more(lines: &mut Vec<String>, count: usize, lang: &Language) {
    if count > LIST_MAX {
        lines.push(lang.bot_fill("report.more", &[("count", &(count - LIST_MAX).to_string())]));
    }
}
