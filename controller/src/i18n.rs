//! The panel's and the subscription page's texts, one catalog per language (`web/i18n/*.json`,
//! embedded), and which language a visitor gets: the one they chose in a language menu (a
//! cookie), else the first of their browser's `Accept-Language` we have, else English.
//!
//! A catalog maps a key to a text with `{name}` placeholders, or, for a text about a count,
//! to its plural forms (`one`, `few`, `many`, `other`: the categories of the language's
//! plural rules, as `Intl.PluralRules` names them). The server fills page shells with
//! [`Language::text`]; the panel's scripts get the whole catalog as a module
//! ([`Language::module`]) and look texts up themselves (`web/static/i18n.js`).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The cookie the language menus set: a language code.
pub const COOKIE: &str = "xfleet_lang";

/// A language the panel speaks.
pub struct Language {
    /// The code in `<html lang>`, the cookie and the catalog's file name.
    pub code: &'static str,
    /// Its name in itself, for the language menus.
    pub name: &'static str,
    /// Written right to left.
    pub rtl: bool,
    source: &'static str,
}

/// English first: the fallback, and the catalog every other one must match key for key.
pub const LANGUAGES: &[Language] = &[
    Language {
        code: "en",
        name: "English",
        rtl: false,
        source: include_str!("../../web/i18n/en.json"),
    },
    Language {
        code: "fa",
        name: "فارسی",
        rtl: true,
        source: include_str!("../../web/i18n/fa.json"),
    },
    Language {
        code: "ru",
        name: "Русский",
        rtl: false,
        source: include_str!("../../web/i18n/ru.json"),
    },
    Language {
        code: "zh",
        name: "简体中文",
        rtl: false,
        source: include_str!("../../web/i18n/zh.json"),
    },
    Language {
        code: "vi",
        name: "Tiếng Việt",
        rtl: false,
        source: include_str!("../../web/i18n/vi.json"),
    },
];

/// The language with this code, if the panel speaks it.
pub fn language(code: &str) -> Option<&'static Language> {
    LANGUAGES.iter().find(|l| l.code == code)
}

/// The visitor's language: the menu's choice (`cookie`), else the first language of
/// `Accept-Language` (by weight, then order) the panel speaks, else English. A region or
/// script is ignored (`zh-CN`, `zh-Hans` and `zh-TW` all get Simplified Chinese: nearer than
/// English).
pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> &'static Language {
    if let Some(chosen) = cookie.and_then(language) {
        return chosen;
    }
    let mut wanted: Vec<(f32, usize, &str)> = accept_language
        .unwrap_or("")
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (!tag.is_empty() && weight > 0.0).then_some((weight, i, tag))
        })
        .collect();
    wanted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    wanted
        .iter()
        .find_map(|(_, _, tag)| {
            let primary = tag.split(['-', '_']).next().unwrap_or("");
            LANGUAGES
                .iter()
                .find(|l| l.code.eq_ignore_ascii_case(primary))
        })
        .unwrap_or(&LANGUAGES[0])
}

/// The Telegram bot's texts (`web/i18n/bot/*.json`), one catalog per language it speaks;
/// English first, the fallback every other one must match key for key.
const BOT_CATALOGS: &[(&str, &str)] = &[
    ("en", include_str!("../../web/i18n/bot/en.json")),
    ("fa", include_str!("../../web/i18n/bot/fa.json")),
    ("ru", include_str!("../../web/i18n/bot/ru.json")),
    ("zh", include_str!("../../web/i18n/bot/zh.json")),
    ("vi", include_str!("../../web/i18n/bot/vi.json")),
];

fn bot_catalogs() -> &'static HashMap<&'static str, Map<String, Value>> {
    static CATALOGS: OnceLock<HashMap<&'static str, Map<String, Value>>> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        let parse = |code: &str, source: &str| match serde_json::from_str(source) {
            Ok(Value::Object(map)) => map,
            _ => panic!("web/i18n/bot/{code}.json is not a JSON object"),
        };
        let english = parse(BOT_CATALOGS[0].0, BOT_CATALOGS[0].1);
        BOT_CATALOGS
            .iter()
            .map(|(code, source)| {
                let own = parse(code, source);
                let merged = english
                    .iter()
                    .map(|(k, v)| (k.clone(), own.get(k).unwrap_or(v).clone()))
                    .collect();
                (*code, merged)
            })
            .collect()
    })
}

struct Catalog {
    /// Every English key with this language's value, English where it has none.
    merged: Map<String, Value>,
    module: String,
}

fn parse(lang: &Language) -> Map<String, Value> {
    match serde_json::from_str(lang.source) {
        Ok(Value::Object(map)) => map,
        // The catalogs are part of the build; their unit tests refuse a broken one.
        _ => panic!("web/i18n/{}.json is not a JSON object", lang.code),
    }
}

fn catalogs() -> &'static HashMap<&'static str, Catalog> {
    static CATALOGS: OnceLock<HashMap<&'static str, Catalog>> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        let english = parse(&LANGUAGES[0]);
        LANGUAGES
            .iter()
            .map(|lang| {
                let own = parse(lang);
                let merged: Map<String, Value> = english
                    .iter()
                    .map(|(k, v)| (k.clone(), own.get(k).unwrap_or(v).clone()))
                    .collect();
                let module = format!("export default {};\n", Value::Object(merged.clone()));
                (lang.code, Catalog { merged, module })
            })
            .collect()
    })
}

/// A key no catalog has, kept once (so a page drawn again and again does not grow memory) and
/// shown as it is. The catalog tests make this a bug caught before release.
fn missing(key: &str) -> &'static str {
    static SEEN: OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = seen.get(key) {
        return known;
    }
    let kept: &'static str = Box::leak(key.to_owned().into_boxed_str());
    seen.insert(kept);
    kept
}

impl Language {
    /// `ltr` or `rtl`, for `<html dir>`.
    pub fn dir(&self) -> &'static str {
        if self.rtl {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// The text for `key` (its `other` form for a count), English when this catalog lacks it,
    /// the key itself when no catalog has it (the catalog tests make both impossible).
    pub fn text(&self, key: &str) -> &'static str {
        let value = catalogs().get(self.code).and_then(|c| c.merged.get(key));
        match value {
            Some(Value::String(s)) => s,
            Some(Value::Object(forms)) => forms.get("other").and_then(Value::as_str).unwrap_or(""),
            _ => {
                tracing::warn!(key, "a panel text has no catalog entry");
                missing(key)
            }
        }
    }

    /// [`Self::text`] with its `{name}` placeholders filled.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut out = self.text(key).to_owned();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// The bot's text for `key` in this language, English when the bot does not speak it.
    pub fn bot_text(&self, key: &str) -> &'static str {
        let all = bot_catalogs();
        let value = all
            .get(self.code)
            .or_else(|| all.get("en"))
            .and_then(|c| c.get(key));
        match value {
            Some(Value::String(s)) => s,
            _ => {
                tracing::warn!(key, "a bot text has no catalog entry");
                missing(key)
            }
        }
    }

    /// [`Self::bot_text`] with its `{name}` placeholders filled.
    pub fn bot_fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut out = self.bot_text(key).to_owned();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// The catalog as an ES module (`export default {...}`) for the panel's scripts.
    pub fn module(&self) -> &'static str {
        catalogs()
            .get(self.code)
            .map(|c| c.module.as_str())
            .unwrap_or("export default {};\n")
    }

    /// Every catalog's source, for the panel's asset version.
    pub fn sources() -> impl Iterator<Item = &'static str> {
        LANGUAGES.iter().map(|l| l.source)
    }
}

/// A refusal from the catalogs: its `err.*` key and values. Checks answer one, and errors
/// carry it so the panel can say it in the reader's language; its `Display` is English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Refusal {
    pub fn new(key: &'static str, args: &[(&'static str, String)]) -> Self {
        Self {
            key,
            args: args.to_vec(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values: Vec<(&str, &str)> = self.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        f.write_str(&LANGUAGES[0].fill(self.key, &values))
    }
}

/// What a refusal that is not about one field says: a refusal from the catalogs, or a text
/// that carries another program's words (the core's, an IO error's). Its `Display` is English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Refusal(Refusal),
    Text(String),
}

impl Said {
    /// The catalog key and values, when the refusal came from the catalogs.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refusal(r) => Some(r),
            Self::Text(_) => None,
        }
    }
}

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refusal(r) => r.fmt(f),
            Self::Text(t) => f.write_str(t),
        }
    }
}

impl From<Refusal> for Said {
    fn from(r: Refusal) -> Self {
        Self::Refusal(r)
    }
}

impl From<String> for Said {
    fn from(t: String) -> Self {
        Self::Text(t)
    }
}

impl From<&str> for Said {
    fn from(t: &str) -> Self {
        Self::Text(t.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn placeholders(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let after = &rest[start + 1..];
            match after.find('}') {
                Some(end)
                    if after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    out.insert(after[..end].to_owned());
                    rest = &after[end + 1..];
                }
                _ => rest = after,
            }
        }
        out
    }

    fn forms(value: &Value) -> Vec<&str> {
        match value {
            Value::String(s) => vec![s.as_str()],
            Value::Object(m) => m.values().filter_map(Value::as_str).collect(),
            _ => vec![],
        }
    }

    /// The bot's catalogs: each language the bot speaks has every English key and no other,
    /// no empty text, the same placeholders; each is one the panel speaks too.
    #[test]
    fn every_bot_catalog_has_every_key() {
        let parse = |source: &str| -> Map<String, Value> { serde_json::from_str(source).unwrap() };
        let english = parse(BOT_CATALOGS[0].1);
        assert!(english.len() > 40, "the bot's English catalog looks empty");
        let mut problems = Vec::new();
        for (code, source) in BOT_CATALOGS {
            if language(code).is_none() {
                problems.push(format!("bot/{code}: the panel has no such language"));
            }
            let own = parse(source);
            for (key, en) in &english {
                let (Some(Value::String(text)), Value::String(en)) = (own.get(key), en) else {
                    problems.push(format!("bot/{code}: `{key}` missing or not text"));
                    continue;
                };
                if text.trim().is_empty() {
                    problems.push(format!("bot/{code}: `{key}` is empty"));
                }
                if placeholders(text) != placeholders(en) {
                    problems.push(format!("bot/{code}: `{key}` placeholders differ"));
                }
            }
            for key in own.keys().filter(|k| !english.contains_key(*k)) {
                problems.push(format!("bot/{code}: `{key}` is not in English"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert_eq!(
            BOT_CATALOGS.len(),
            LANGUAGES.len(),
            "the bot speaks every panel language"
        );
        assert_eq!(
            language("ru").unwrap().bot_text("status.ok"),
            "✅ Бот работает."
        );
    }

    /// Every language has every English key, no key English lacks, no empty text, the same
    /// placeholders, and plural forms where English has them: a text added in English only
    /// fails here, not in front of a Persian reader.
    #[test]
    fn every_catalog_has_every_key() {
        let english = parse(&LANGUAGES[0]);
        assert!(english.len() > 50, "the English catalog looks empty");
        let mut problems = Vec::new();
        for lang in &LANGUAGES[1..] {
            let own = parse(lang);
            for (key, en) in &english {
                let Some(value) = own.get(key) else {
                    problems.push(format!("{}: missing `{key}`", lang.code));
                    continue;
                };
                if en.is_object() != value.is_object() {
                    problems.push(format!(
                        "{}: `{key}` plural forms differ from English",
                        lang.code
                    ));
                }
                if let Value::Object(m) = value {
                    if !m.contains_key("other") {
                        problems.push(format!("{}: `{key}` has no `other` form", lang.code));
                    }
                }
                let want = placeholders(forms(en).first().copied().unwrap_or(""));
                for text in forms(value) {
                    if text.trim().is_empty() {
                        problems.push(format!("{}: `{key}` is empty", lang.code));
                    }
                    if placeholders(text) != want {
                        problems.push(format!(
                            "{}: `{key}` placeholders {:?}, English has {want:?}",
                            lang.code,
                            placeholders(text)
                        ));
                    }
                }
            }
            for key in own.keys().filter(|k| !english.contains_key(*k)) {
                problems.push(format!("{}: `{key}` is not in English", lang.code));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Literal keys in `t('…')` (scripts), `.text("…")`/`.fill("…"` and refusals
    /// (`say(field, "err.…"`, `said(field, "err.…"`, or any `"err.…"` literal a helper hands
    /// to them) in Rust that no catalog has: each would show as its key.
    #[test]
    fn every_key_the_code_uses_exists() {
        let english = parse(&LANGUAGES[0]);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["web/static", "web/sub", "controller/src"] {
            collect(&root.join(dir), &mut files);
        }
        let mut missing = Vec::new();
        for file in files {
            // Comments name keys as examples.
            let body: String = std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let patterns: &[&str] = if file.extension().is_some_and(|e| e == "js") {
                &["t('", "t(\""]
            } else {
                &[".text(\"", ".fill(\""]
            };
            for pattern in patterns {
                let quote = pattern.chars().last().unwrap();
                for (at, _) in body.match_indices(pattern) {
                    // `t(` must not end a longer name (`set(`, `split(`).
                    let before = body[..at].chars().last();
                    if pattern.starts_with('t')
                        && before.is_some_and(|c| {
                            c.is_alphanumeric() || c == '_' || c == '.' || c == '$'
                        })
                    {
                        continue;
                    }
                    let rest = &body[at + pattern.len()..];
                    let Some(end) = rest.find(quote) else {
                        continue;
                    };
                    let key = &rest[..end];
                    let looks_like_key = key.contains('.')
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                    if looks_like_key && !english.contains_key(key) {
                        missing.push(format!("{}: `{key}`", file.display()));
                    }
                }
            }
        }
        missing.extend(refusal_keys_missing(&english));
        assert!(
            missing.is_empty(),
            "keys with no text:\n{}",
            missing.join("\n")
        );
    }

    /// Keys of `say(`/`said(` calls (the first key-like literal after the field) and every
    /// other `"err.…"` literal in the controller's Rust (a helper's key, a `const`).
    fn refusal_keys_missing(english: &Map<String, Value>) -> Vec<String> {
        let mut files = Vec::new();
        collect(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut missing = Vec::new();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            let body = std::fs::read_to_string(file).unwrap();
            let mut keys = Vec::new();
            for pattern in ["say(", "said("] {
                for (at, _) in body.match_indices(pattern) {
                    // The call's arguments up to its values (`&[`); the key is the first
                    // literal that is not the field's text.
                    let call = &body[at + pattern.len()..];
                    let call = &call[..call.find("&[").unwrap_or(call.len()).min(400)];
                    let literals = call.split('"').skip(1).step_by(2);
                    if let Some(key) = literals.into_iter().find(|l| is_key(l)) {
                        keys.push(key.to_owned());
                    }
                }
            }
            for (at, _) in body.match_indices("\"err.") {
                let rest = &body[at + 1..];
                keys.extend(rest.find('"').map(|end| rest[..end].to_owned()));
            }
            // A key in a `say(` call is also an `"err.…"` literal: name it once.
            keys.sort();
            keys.dedup();
            for key in keys
                .into_iter()
                .filter(|k| k.starts_with("err.") && is_key(k))
            {
                if !english.contains_key(&key) {
                    missing.push(format!("{}: `{key}`", file.display()));
                }
            }
        }
        missing
    }

    fn is_key(s: &str) -> bool {
        s.contains('.')
            && !s.ends_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    }

    fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "js" || e == "rs") {
                out.push(path);
            }
        }
    }

    /// The menu's choice wins; then `Accept-Language` by weight; regions are ignored; an
    /// unknown or absent header is English.
    #[test]
    fn the_language_is_chosen_as_a_visitor_expects() {
        assert_eq!(choose(Some("ru"), Some("fa-IR,fa;q=0.9")).code, "ru");
        assert_eq!(choose(Some("xx"), Some("fa-IR,fa;q=0.9")).code, "fa");
        assert_eq!(
            choose(None, Some("de-DE,de;q=0.9,zh-CN;q=0.8,en;q=0.7")).code,
            "zh"
        );
        assert_eq!(choose(None, Some("en;q=0.5, vi;q=0.9")).code, "vi");
        assert_eq!(choose(None, Some("zh-TW")).code, "zh");
        assert_eq!(choose(None, Some("de, fr;q=0")).code, "en");
        assert_eq!(choose(None, Some("fr;q=0, ru;q=0.1")).code, "ru");
        assert_eq!(choose(None, None).code, "en");
        assert_eq!(choose(None, Some(";;,q=")).code, "en");
    }

    /// A catalog module is valid JS data with English under a missing key.
    #[test]
    fn modules_carry_english_under_missing_keys() {
        for lang in LANGUAGES {
            let module = lang.module();
            let json = module
                .strip_prefix("export default ")
                .and_then(|m| m.trim_end().strip_suffix(';'))
                .unwrap();
            let map: Map<String, Value> = serde_json::from_str(json).unwrap();
            assert_eq!(map.len(), parse(&LANGUAGES[0]).len(), "{}", lang.code);
        }
        assert_eq!(
            language("fa").unwrap().fill("common.ago", &[("time", "x")]),
            language("fa")
                .unwrap()
                .text("common.ago")
                .replace("{time}", "x")
        );
    }
}
