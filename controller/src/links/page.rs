//! The subscription's page for browsers: usage, expiry, every link with its QR code, and the
//! subscription URLs. Plain HTML with inline SVG, no scripts.

use super::remark::traffic;
use super::settings::SubUrls;
use super::{qr, ClientLink, UserInfo};
use crate::util::html_escape as esc;

pub struct PageClient<'a> {
    pub email: &'a str,
    pub enabled: bool,
}

pub fn render(
    title: &str,
    clients: &[PageClient<'_>],
    info: &UserInfo,
    urls: &SubUrls,
    links: &[ClientLink],
) -> String {
    let title = if title.is_empty() {
        "Subscription"
    } else {
        title
    };
    let mut h = String::new();
    h.push_str("<!doctype html><html><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str(&format!("<title>{}</title>", esc(title)));
    h.push_str(
        "<style>body{font-family:sans-serif;max-width:52rem;margin:1rem auto;padding:0 1rem}\
         code{word-break:break-all}.link{border-top:1px solid #ccc;padding:.5rem 0}\
         .off{color:#b00}svg{width:12rem;height:12rem}</style></head><body>",
    );
    h.push_str(&format!("<h1>{}</h1>", esc(title)));
    h.push_str("<table>");
    for c in clients {
        let state = if c.enabled {
            "<span class=\"on\">active</span>"
        } else {
            "<span class=\"off\">disabled</span>"
        };
        h.push_str(&format!(
            "<tr><th>Account</th><td>{} — {state}</td></tr>",
            esc(c.email)
        ));
    }
    let used = info.upload + info.download;
    let quota = if info.total > 0 {
        format!("{} of {}", traffic(used), traffic(info.total))
    } else {
        format!("{} (unlimited)", traffic(used))
    };
    h.push_str(&format!("<tr><th>Used</th><td>{}</td></tr>", esc(&quota)));
    h.push_str(&format!(
        "<tr><th>Upload / download</th><td>{} / {}</td></tr>",
        traffic(info.upload),
        traffic(info.download)
    ));
    let expiry = if info.expire > 0 {
        format_utc(info.expire)
    } else {
        "never".into()
    };
    h.push_str(&format!(
        "<tr><th>Expires</th><td>{}</td></tr>",
        esc(&expiry)
    ));
    h.push_str("</table><h2>Subscription</h2><ul>");
    h.push_str(&format!(
        "<li>Links: <code>{}</code></li>",
        esc(&urls.links)
    ));
    if let Some(json) = &urls.json {
        h.push_str(&format!("<li>JSON: <code>{}</code></li>", esc(json)));
    }
    if let Some(clash) = &urls.clash {
        h.push_str(&format!("<li>Clash: <code>{}</code></li>", esc(clash)));
    }
    h.push_str("</ul>");
    if let Ok(svg) = qr::svg(&urls.links) {
        h.push_str(&format!("<div class=\"qr\">{svg}</div>"));
    }
    h.push_str(&format!("<h2>Links ({})</h2>", links.len()));
    for l in links {
        h.push_str("<div class=\"link\">");
        h.push_str(&format!(
            "<h3>{}</h3><p>{} on {}</p><p><code>{}</code></p>",
            esc(&l.remark),
            esc(&l.protocol),
            esc(&l.server),
            esc(&l.url)
        ));
        if let Ok(svg) = qr::svg(&l.url) {
            h.push_str(&svg);
        }
        h.push_str("</div>");
    }
    h.push_str("</body></html>");
    h
}

/// `2025-01-31 12:00 UTC` from Unix seconds.
fn format_utc(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => secs.to_string(),
    }
}
