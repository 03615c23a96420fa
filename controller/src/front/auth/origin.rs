//! Cross-site requests: a browser sends the session cookie with a request any site makes,
//! so a change made with a cookie must come from a page of this panel. Browsers say where a
//! request comes from in `Origin` (and, when they leave it out, in `Referer`); a request
//! that names another site, or hides its origin (`Origin: null`: sandboxed frames, some
//! redirects and `data:` pages), is refused. A request with neither header is not from a
//! browser page and goes on: a script replaying a cookie is not a cross-site attack.

use axum::http::header::{HOST, ORIGIN, REFERER};
use axum::http::{HeaderMap, Method};

/// `Ok` for a read, or for a change whose `Origin` (else `Referer`) is this panel as the
/// request addressed it: `Host` (or the HTTP/2 authority), or the `X-Forwarded-Host` a
/// reverse proxy in front sets (a page of another site cannot send that header: it is not
/// one a browser lets a cross-site request carry without asking this panel first, which
/// answers no). `Err` says why it is refused.
pub fn check_same_origin(
    method: &Method,
    headers: &HeaderMap,
    authority: Option<&str>,
) -> Result<(), String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let (source, header) = match (headers.get(ORIGIN), headers.get(REFERER)) {
        (Some(origin), _) => (origin, "Origin"),
        (None, Some(referer)) => (referer, "Referer"),
        (None, None) => return Ok(()),
    };
    let source = source.to_str().unwrap_or("").trim();
    if source == "null" {
        return Err(
            "cross-site request refused: the page hides its origin (Origin: null); \
                    make changes from the panel's own pages"
                .into(),
        );
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority);
    let forwarded = headers
        .get("x-forwarded-host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').next())
        .map(str::trim);
    let matches = |scheme: &str, site: &str| {
        [host, forwarded]
            .into_iter()
            .flatten()
            .any(|h| !h.is_empty() && same_site(scheme, site, h))
    };
    match site_of(source) {
        Some((scheme, site)) if matches(scheme, site) => Ok(()),
        _ => Err(format!(
            "cross-site request refused: the {header} is not this panel; make changes from the \
             panel's own pages"
        )),
    }
}

/// The scheme and `host[:port]` of an origin or a URL.
fn site_of(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let site = &rest[..end];
    // A URL with credentials (`user@host`) is not what a browser sends.
    (!site.is_empty() && !site.contains('@')).then_some((scheme, site))
}

/// Whether `site` (from a URL of `scheme`) and the `Host` name the same place; a port that
/// is the scheme's default may be written or left out on either side.
fn same_site(scheme: &str, site: &str, host: &str) -> bool {
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let bare = |s: &str| -> String {
        let s = s.to_ascii_lowercase();
        s.strip_suffix(default).map(str::to_owned).unwrap_or(s)
    };
    bare(site) == bare(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, pairs: &[(&str, &str)]) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        check_same_origin(&method, &headers, None)
    }

    /// Changes from the panel's own pages pass, from anywhere else they do not; reads and
    /// requests without either header (scripts) pass.
    #[test]
    fn changes_must_come_from_this_panel() {
        let host = ("host", "panel.example:2053");
        let post = Method::POST;
        assert!(check(
            post.clone(),
            &[host, ("origin", "http://panel.example:2053")]
        )
        .is_ok());
        assert!(check(
            post.clone(),
            &[host, ("origin", "https://PANEL.example:2053")]
        )
        .is_ok());
        let err = check(post.clone(), &[host, ("origin", "http://evil.example")]).unwrap_err();
        assert!(err.contains("Origin"), "{err}");
        assert!(check(
            post.clone(),
            &[host, ("origin", "http://panel.example:2054")]
        )
        .is_err());
        assert!(check(post.clone(), &[host, ("origin", "null")]).is_err());
        assert!(check(post.clone(), &[host, ("origin", "garbage")]).is_err());
        assert!(check(
            post.clone(),
            &[host, ("origin", "http://panel.example:2053@evil.example")]
        )
        .is_err());

        // Without Origin, the Referer decides.
        let referer = ("referer", "http://panel.example:2053/panel/servers?x=1");
        assert!(check(Method::DELETE, &[host, referer]).is_ok());
        let err = check(
            Method::DELETE,
            &[host, ("referer", "http://evil.example/panel.example:2053/")],
        )
        .unwrap_err();
        assert!(err.contains("Referer"), "{err}");

        // Default ports may be written or not.
        let plain = ("host", "panel.example");
        assert!(check(
            post.clone(),
            &[plain, ("origin", "https://panel.example:443")]
        )
        .is_ok());
        assert!(check(
            post.clone(),
            &[
                ("host", "panel.example:443"),
                ("origin", "https://panel.example")
            ]
        )
        .is_ok());

        // Behind a reverse proxy that passes the public name on.
        let proxied = [
            ("host", "127.0.0.1:2053"),
            ("x-forwarded-host", "panel.example"),
        ];
        assert!(check(
            post.clone(),
            &[proxied[0], proxied[1], ("origin", "https://panel.example")]
        )
        .is_ok());
        assert!(check(
            post.clone(),
            &[proxied[0], proxied[1], ("origin", "https://evil.example")]
        )
        .is_err());

        assert!(check(Method::GET, &[host, ("origin", "http://evil.example")]).is_ok());
        assert!(check(post.clone(), &[host]).is_ok(), "no browser page");
        assert!(
            check(post, &[("origin", "http://panel.example")]).is_err(),
            "no Host"
        );
    }
}
