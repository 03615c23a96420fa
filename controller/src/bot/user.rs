//! Client users: anyone whose Telegram id is some client's `tgId` sees those clients (their
//! usage, subscription with its QR picture, individual links) and nothing else. Anyone else
//! learns only their own id, to give to the admin.

use xfleet_common::time::now_ms;

use super::{report, Ctx};
use crate::links::{self, remark::traffic, SubSettings};
use crate::store::ClientRow;

/// QR pictures sent for one request of individual links at most.
const MAX_QR: usize = 10;

async fn mine(ctx: &Ctx<'_>) -> Vec<ClientRow> {
    ctx.ctl
        .store
        .clients_by_tg_id(ctx.user)
        .await
        .unwrap_or_default()
}

pub async fn menu(ctx: &Ctx<'_>) {
    let clients = mine(ctx).await;
    if clients.is_empty() {
        let text = ctx.f("menu.stranger", &[("id", &ctx.user.to_string())]);
        return ctx.show(&text, None).await;
    }
    let emails: Vec<&str> = clients.iter().map(|c| c.email.as_str()).collect();
    let text = ctx.f("menu.client", &[("clients", &emails.join(", "))]);
    let b = |key: &str, data: &str| ctx.button(ctx.t(key), data);
    let keyboard = vec![
        vec![b("menu.my_usage", "um")],
        vec![b("menu.my_subscription", "us"), b("menu.my_links", "uk")],
        vec![b("menu.commands", "h")],
    ];
    ctx.show(&text, Some(keyboard)).await;
}

/// `/usage [EMAIL]` from a client user: their own clients' usage; another's email is
/// answered as if it did not exist.
pub async fn usage(ctx: &Ctx<'_>, email: &str) {
    let clients: Vec<ClientRow> = mine(ctx)
        .await
        .into_iter()
        .filter(|c| email.is_empty() || c.email.eq_ignore_ascii_case(email))
        .collect();
    if clients.is_empty() {
        let text = if email.is_empty() {
            ctx.f("menu.stranger", &[("id", &ctx.user.to_string())])
        } else {
            ctx.f("usage.none", &[("email", email)])
        };
        return ctx.say(&text, None).await;
    }
    ctx.say(&usage_text(ctx, &clients).await, None).await;
}

async fn usage_text(ctx: &Ctx<'_>, clients: &[ClientRow]) -> String {
    let now = now_ms();
    let mut lines = vec![ctx.t("usage.title").to_owned()];
    for c in clients {
        let t = ctx
            .ctl
            .store
            .client_total(&c.email)
            .await
            .unwrap_or_default();
        lines.push(String::new());
        lines.push(report::client_limits(c, t.up + t.down, now, ctx.lang));
        lines.push(format!("↑{} ↓{}", traffic(t.up), traffic(t.down)));
    }
    lines.join("\n")
}

/// A client user's button; `None` when the verb is not theirs.
pub async fn pressed(ctx: &Ctx<'_>, verb: &str, _args: &str) -> Option<String> {
    match verb {
        "um" | "us" | "uk" => {
            let clients = mine(ctx).await;
            if clients.is_empty() {
                return Some(ctx.t("error.admins_only").to_owned());
            }
            match verb {
                "um" => {
                    let text = usage_text(ctx, &clients).await;
                    ctx.say(&text, None).await;
                }
                "us" => send_subscription(ctx, &clients).await,
                _ => send_links(ctx, clients).await,
            }
            Some(String::new())
        }
        "h" if !ctx.admin() => {
            ctx.say(ctx.t("help.client"), None).await;
            Some(String::new())
        }
        _ => None,
    }
}

/// The host links and subscription URLs use when nothing better is known: the panel's
/// domain, else this host's name.
async fn fallback_host(ctx: &Ctx<'_>) -> String {
    match ctx.ctl.store.setting("webDomain").await {
        Ok(Some(d)) if !d.trim().is_empty() => d.trim().to_owned(),
        _ => crate::util::hostname(),
    }
}

/// Each subscription of these clients: its URLs, and a QR picture of the main one.
pub async fn send_subscription(ctx: &Ctx<'_>, clients: &[ClientRow]) {
    let settings = match SubSettings::load(&ctx.ctl.store).await {
        Ok(s) => s,
        Err(e) => {
            return ctx
                .say(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await
        }
    };
    if !settings.enable {
        return ctx.say(ctx.t("sub.disabled"), None).await;
    }
    let host = fallback_host(ctx).await;
    let base = settings.public_base(ctx.ctl.sub_listener.as_ref(), &host);
    let mut seen = Vec::new();
    for c in clients {
        if c.sub_id.is_empty() || seen.contains(&c.sub_id) {
            continue;
        }
        seen.push(c.sub_id.clone());
        let urls = settings.urls(&base, &c.sub_id);
        let mut lines = vec![
            ctx.f("sub.title", &[("email", &c.email)]),
            urls.links.clone(),
        ];
        if let Some(json) = &urls.json {
            lines.push(ctx.f("sub.json", &[("url", json)]));
        }
        if let Some(clash) = &urls.clash {
            lines.push(ctx.f("sub.clash", &[("url", clash)]));
        }
        ctx.say(&lines.join("\n"), None).await;
        match links::qr::png(&urls.links) {
            Ok(png) => {
                if let Err(e) = ctx.tg.send_photo(ctx.chat, png, &c.email).await {
                    tracing::warn!(error = %e, "a QR picture was not delivered");
                }
            }
            Err(e) => tracing::warn!(error = %e, "no QR picture for a subscription"),
        }
    }
    if seen.is_empty() {
        ctx.say(ctx.t("sub.none"), None).await;
    }
}

/// Every share link of these clients, then a QR picture of each (the first few).
pub async fn send_links(ctx: &Ctx<'_>, clients: Vec<ClientRow>) {
    let store = &ctx.ctl.store;
    let result = async {
        let settings = SubSettings::load(store).await?;
        let with_usage = links::with_usage(store, clients).await?;
        let host = fallback_host(ctx).await;
        links::client_links(store, &settings, &with_usage, &host).await
    }
    .await;
    let found = match result {
        Ok(l) => l,
        Err(e) => {
            return ctx
                .say(&ctx.f("error.failed", &[("error", &e.to_string())]), None)
                .await
        }
    };
    if found.is_empty() {
        return ctx.say(ctx.t("links.none"), None).await;
    }
    let text: Vec<String> = found
        .iter()
        .map(|l| format!("{} @ {}:\n{}", l.inbound, l.server, l.url))
        .collect();
    ctx.say(&text.join("\n\n"), None).await;
    for l in found.iter().take(MAX_QR) {
        if let Ok(png) = links::qr::png(&l.url) {
            let caption = format!("{} @ {}", l.inbound, l.server);
            if let Err(e) = ctx.tg.send_photo(ctx.chat, png, &caption).await {
                tracing::warn!(error = %e, "a QR picture was not delivered");
            }
        }
    }
}
