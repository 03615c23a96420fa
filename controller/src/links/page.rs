//! The subscription's page for browsers: usage, expiry, the subscription URLs with buttons that
//! add them to the common client apps, and every link with its QR code. Server-rendered HTML
//! with the panel's colours (light or dark as the visitor's system is) and inline SVG; a small
//! script of the page's own ([`ASSETS`]) adds copy buttons and shows times in the visitor's
//! zone, and the page works without it. It speaks the visitor's language (`lang`); the
//! script's few texts come with the page, already in that language.

use super::remark::traffic;
use super::settings::SubUrls;
use super::url::escape;
use super::{qr, ClientLink, UserInfo};
use crate::i18n::Language;
use crate::util::html_escape as esc;

/// Files the page loads, served beside it (`<subscription path>assets/<name>`): a path with a
/// slash is never a subscription id. Name, content type, body.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "page.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/sub/page.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../../web/static/icon.svg"),
    ),
];

const STYLE: &str = include_str!("../../../web/sub/page.css");

pub struct PageClient<'a> {
    pub email: &'a str,
    pub enabled: bool,
}

/// What the page shows.
pub struct Page<'a> {
    pub title: &'a str,
    pub clients: &'a [PageClient<'a>],
    pub info: &'a UserInfo,
    pub urls: &'a SubUrls,
    pub links: &'a [ClientLink],
    /// The operator's support link (`subSupportUrl`), shown when set.
    pub support_url: &'a str,
    /// The operator's message (`subAnnounce`), shown when set.
    pub announce: &'a str,
    /// The visitor's language.
    pub lang: &'a Language,
}

/// A client app that can take a subscription from a link: its name, the platforms it runs
/// on, and its link for the subscription URL `url` named `name`.
struct App {
    name: &'static str,
    platforms: &'static str,
    link: fn(url: &str, name: &str) -> String,
}

/// The apps 3x-ui's users run, with the import links each registers.
const APPS: &[App] = &[
    App {
        name: "v2rayNG",
        platforms: "Android",
        link: |url, name| {
            format!(
                "v2rayng://install-sub?url={}&name={}",
                escape(url),
                escape(name)
            )
        },
    },
    App {
        name: "v2rayN",
        platforms: "Windows, Linux, macOS",
        link: |url, name| {
            format!(
                "v2rayn://install-sub?url={}&name={}",
                escape(url),
                escape(name)
            )
        },
    },
    App {
        name: "Hiddify",
        platforms: "Android, iOS, Windows, macOS, Linux",
        link: |url, name| format!("hiddify://import/{url}#{}", escape(name)),
    },
    App {
        name: "Streisand",
        platforms: "iOS, macOS",
        link: |url, name| format!("streisand://import/{url}#{}", escape(name)),
    },
    App {
        name: "NekoBox",
        platforms: "Android",
        link: |url, name| {
            format!(
                "sn://subscription?url={}&name={}",
                escape(url),
                escape(name)
            )
        },
    },
    App {
        name: "Happ",
        platforms: "Android, iOS, Windows, macOS",
        link: |url, _| format!("happ://add/{url}"),
    },
];

pub fn render(page: &Page<'_>) -> String {
    let lang = page.lang;
    let title = if page.title.is_empty() {
        lang.text("sub.title")
    } else {
        page.title
    };
    let info = page.info;
    let mut h = String::new();
    h.push_str(&format!(
        "<!doctype html><html lang=\"{}\" dir=\"{}\"><head><meta charset=\"utf-8\">",
        lang.code,
        lang.dir()
    ));
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str("<meta name=\"color-scheme\" content=\"light dark\">");
    h.push_str(&format!("<title>{}</title>", esc(title)));
    h.push_str("<link rel=\"icon\" href=\"assets/icon.svg\" type=\"image/svg+xml\">");
    h.push_str(&format!("<style>{STYLE}</style>"));
    h.push_str("<script type=\"module\" src=\"assets/page.js\"></script>");
    // The script's texts: what a Copy button says it did (`{text}`: what it copied).
    h.push_str(&format!(
        "</head><body><main data-copied=\"{}\" data-copy-refused=\"{}\">",
        esc(lang.text("sub.copied")),
        esc(lang.text("sub.copy_refused"))
    ));
    h.push_str(&format!("<h1>{}</h1>", esc(title)));
    if !page.announce.is_empty() {
        h.push_str(&format!(
            "<p class=\"card announce\" role=\"note\">{}</p>",
            esc(page.announce)
        ));
    }

    h.push_str("<section class=\"card\" aria-labelledby=\"account\">");
    let account = esc(lang.text("sub.account"));
    h.push_str(&format!(
        "<h2 id=\"account\">{account}</h2><dl class=\"kv\">"
    ));
    for c in page.clients {
        let (class, state) = if c.enabled {
            ("on", lang.text("sub.active"))
        } else {
            ("off", lang.text("sub.disabled"))
        };
        h.push_str(&format!(
            "<dt>{account}</dt><dd>{} <span class=\"badge {class}\">{}</span></dd>",
            esc(c.email),
            esc(state)
        ));
    }
    let used_label = esc(lang.text("sub.used"));
    let used = info.upload + info.download;
    if info.total > 0 {
        let share = (used as f64 / info.total as f64 * 100.0).clamp(0.0, 100.0);
        let of = lang.fill(
            "sub.used_of",
            &[("used", &traffic(used)), ("total", &traffic(info.total))],
        );
        let share_text = lang.fill("sub.used_share", &[("percent", &format!("{share:.0}"))]);
        h.push_str(&format!(
            "<dt>{used_label}</dt><dd>{}<div class=\"meter\" role=\"img\" \
             aria-label=\"{}\"><span style=\"width:{share:.1}%\"></span></div></dd>",
            esc(&of),
            esc(&share_text)
        ));
    } else {
        let unlimited = lang.fill("sub.used_unlimited", &[("used", &traffic(used))]);
        h.push_str(&format!(
            "<dt>{used_label}</dt><dd>{}</dd>",
            esc(&unlimited)
        ));
    }
    h.push_str(&format!(
        "<dt>{}</dt><dd>{} / {}</dd>",
        esc(lang.text("sub.up_down")),
        esc(&traffic(info.upload)),
        esc(&traffic(info.download))
    ));
    let expiry = if info.expire > 0 {
        time_element(info.expire)
    } else {
        esc(lang.text("sub.never"))
    };
    h.push_str(&format!(
        "<dt>{}</dt><dd>{expiry}</dd></dl>",
        esc(lang.text("sub.expires"))
    ));
    if !page.support_url.is_empty() {
        h.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            esc(page.support_url),
            esc(lang.text("sub.support"))
        ));
    }
    h.push_str("</section>");

    let urls = page.urls;
    h.push_str("<section class=\"card\" aria-labelledby=\"subscription\">");
    h.push_str(&format!(
        "<h2 id=\"subscription\">{}</h2>",
        esc(lang.text("sub.title"))
    ));
    let mut formats = vec![(lang.text("sub.links"), urls.links.as_str())];
    formats.extend(urls.json.as_deref().map(|u| ("JSON", u)));
    formats.extend(urls.clash.as_deref().map(|u| ("Clash", u)));
    for (label, url) in formats {
        h.push_str(&format!(
            "<div class=\"row\"><span class=\"label\">{}</span><code>{}</code>{}</div>",
            esc(label),
            esc(url),
            copy_button(lang, url, &lang.fill("sub.copy_url", &[("format", label)]))
        ));
    }
    if let Ok(svg) = qr::svg(&urls.links) {
        h.push_str(&format!("<div class=\"qr\">{svg}</div>"));
    }
    h.push_str("</section>");

    h.push_str("<section class=\"card\" aria-labelledby=\"apps\">");
    h.push_str(&format!(
        "<h2 id=\"apps\">{}</h2><ul class=\"apps\">",
        esc(lang.text("sub.apps"))
    ));
    for app in APPS {
        h.push_str(&format!(
            "<li><a class=\"button primary\" href=\"{}\">{}</a><span class=\"muted\">{}</span></li>",
            esc(&(app.link)(&urls.links, title)),
            app.name,
            app.platforms
        ));
    }
    h.push_str("</ul></section>");

    h.push_str("<section class=\"card\" aria-labelledby=\"links\">");
    let count = page.links.len().to_string();
    h.push_str(&format!(
        "<h2 id=\"links\">{}</h2>",
        esc(&lang.fill("sub.links_count", &[("n", &count)]))
    ));
    for l in page.links {
        h.push_str("<div class=\"link\">");
        let on = lang.fill(
            "sub.link_on",
            &[("protocol", &l.protocol), ("server", &l.server)],
        );
        let copy_label = lang.fill("sub.copy_link", &[("remark", &l.remark)]);
        h.push_str(&format!(
            "<h3>{}</h3><p class=\"muted\">{}</p><div class=\"row\"><code>{}</code>{}</div>",
            esc(&l.remark),
            esc(&on),
            esc(&l.url),
            copy_button(lang, &l.url, &copy_label)
        ));
        if let Ok(svg) = qr::svg(&l.url) {
            h.push_str(&format!("<div class=\"qr\">{svg}</div>"));
        }
        h.push_str("</div>");
    }
    h.push_str("</section><p id=\"copy-status\" class=\"status\" role=\"status\"></p>");
    h.push_str("</main></body></html>");
    h
}

/// A button that copies `text`, hidden until the page's script shows it (it does nothing
/// without the script).
fn copy_button(lang: &Language, text: &str, label: &str) -> String {
    format!(
        "<button type=\"button\" data-copy=\"{}\" aria-label=\"{}\" hidden>{}</button>",
        esc(text),
        esc(label),
        esc(lang.text("sub.copy"))
    )
}

/// `<time>` for Unix seconds: UTC as the page is sent, the visitor's zone once its script ran.
fn time_element(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => {
            let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
            let (h, mi, s) = (t.hour(), t.minute(), t.second());
            format!(
                "<time datetime=\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z\">\
                 {y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC</time>"
            )
        }
        Err(_) => secs.to_string(),
    }
}
