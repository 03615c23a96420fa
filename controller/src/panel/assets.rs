//! Static files of the panel, embedded at build time. They are served under a folder named
//! by a content hash (`/panel/static/{version}/app.js`), so browsers may keep them for long
//! and still see a new build at once; the panel's scripts are ES modules whose relative
//! imports stay inside that folder, so one page never mixes files of two builds.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::i18n::{self, Language};

const JS: &str = "text/javascript; charset=utf-8";

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/static/app.css"),
    ),
    ("app.js", JS, include_str!("../../../web/static/app.js")),
    ("core.js", JS, include_str!("../../../web/static/core.js")),
    ("ui.js", JS, include_str!("../../../web/static/ui.js")),
    ("live.js", JS, include_str!("../../../web/static/live.js")),
    ("i18n.js", JS, include_str!("../../../web/static/i18n.js")),
    ("login.js", JS, include_str!("../../../web/static/login.js")),
    (
        "dashboard.js",
        JS,
        include_str!("../../../web/static/dashboard.js"),
    ),
    (
        "servers.js",
        JS,
        include_str!("../../../web/static/servers.js"),
    ),
    (
        "inbounds.js",
        JS,
        include_str!("../../../web/static/inbounds.js"),
    ),
    (
        "inbound-form.js",
        JS,
        include_str!("../../../web/static/inbound-form.js"),
    ),
    (
        "inbound-options.js",
        JS,
        include_str!("../../../web/static/inbound-options.js"),
    ),
    (
        "form-fields.js",
        JS,
        include_str!("../../../web/static/form-fields.js"),
    ),
    (
        "clients.js",
        JS,
        include_str!("../../../web/static/clients.js"),
    ),
    (
        "clients-bulk.js",
        JS,
        include_str!("../../../web/static/clients-bulk.js"),
    ),
    (
        "activity.js",
        JS,
        include_str!("../../../web/static/activity.js"),
    ),
    ("logs.js", JS, include_str!("../../../web/static/logs.js")),
    (
        "settings.js",
        JS,
        include_str!("../../../web/static/settings.js"),
    ),
    (
        "core-config.js",
        JS,
        include_str!("../../../web/static/core-config.js"),
    ),
    (
        "core-editors.js",
        JS,
        include_str!("../../../web/static/core-editors.js"),
    ),
    (
        "core-basic.js",
        JS,
        include_str!("../../../web/static/core-basic.js"),
    ),
    (
        "charts.js",
        JS,
        include_str!("../../../web/static/charts.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../../web/static/icon.svg"),
    ),
];

/// A short hash of every embedded file.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash = Sha256::new();
        for (_, _, body) in FILES {
            hash.update(body.as_bytes());
        }
        for catalog in Language::sources() {
            hash.update(catalog.as_bytes());
        }
        hash.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

/// `GET /panel/static/{version}/{file}`. A page of an older build asking for its version gets
/// this build's file, but not to keep: only the current version is cacheable.
pub async fn serve(Path((wanted, file)): Path<(String, String)>) -> Response {
    // `lang-<code>.js`: a language's catalog, as the module `i18n.js` imports.
    let catalog = file
        .strip_prefix("lang-")
        .and_then(|f| f.strip_suffix(".js"))
        .and_then(i18n::language)
        .map(|lang| (JS, lang.module()));
    let found = FILES
        .iter()
        .find(|(name, _, _)| *name == file)
        .map(|(_, content_type, body)| (*content_type, *body));
    let Some((content_type, body)) = found.or(catalog) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let cache = if wanted == version() {
        "public, max-age=604800, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, cache),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module an embedded script imports is embedded too, so no import 404s.
    #[test]
    fn every_imported_module_is_embedded() {
        for (name, _, body) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .rsplit_once("from './")
                    .and_then(|(_, rest)| rest.strip_suffix("';"))
                    .unwrap_or_else(|| {
                        panic!("{name}: import not of the form from './x.js': {line}")
                    });
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == target),
                    "{name} imports {target}, which is not embedded"
                );
            }
        }
    }
}
