//! HTML output: escaping and `{{name}}` templates with `{{t.key}}` texts from the reader's
//! catalog. Values are escaped when they go in, so a template cannot forget to; only [`Html`]
//! values are inserted as they are.

use std::fmt::Write;

use crate::i18n::{Language, LANGUAGES};
use crate::util::html_escape as escape;

/// Markup that is already safe (built from escaped parts).
#[derive(Debug, Clone, Default)]
pub struct Html(pub String);

/// A value for a template slot.
pub enum Slot<'a> {
    Text(&'a str),
    Html(&'a Html),
}

/// Fills `{{name}}` slots and `{{t.key}}` texts in `lang` in one pass (a value is never
/// scanned for slots itself). A slot without a value is a bug in the caller and panics in
/// debug builds; it renders empty.
pub fn fill(template: &str, lang: &Language, slots: &[(&str, Slot<'_>)]) -> String {
    let mut out = String::with_capacity(template.len() + 512);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        if let Some(key) = name.strip_prefix("t.") {
            out.push_str(&escape(lang.text(key)));
            rest = &after[end + 2..];
            continue;
        }
        match slots.iter().find(|(n, _)| *n == name) {
            Some((_, Slot::Text(t))) => out.push_str(&escape(t)),
            Some((_, Slot::Html(h))) => out.push_str(&h.0),
            None => debug_assert!(false, "template slot `{name}` has no value"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// JSON for a `<script type="application/json">` block: `<` is escaped so the data cannot
/// close the element.
pub fn json_block(value: &serde_json::Value) -> Html {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    Html(out)
}

/// `<a>` items of the navigation, the current one marked for assistive technology.
pub fn nav(base: &str, current: &str, items: &[(&str, &str, &str)]) -> Html {
    let mut out = String::new();
    for (id, path, label) in items {
        let here = if *id == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<a href=\"{}{}\"{here}>{}</a>",
            escape(base),
            escape(path),
            escape(label)
        );
    }
    Html(out)
}

/// The language menu: a labelled `<select>` of every language in its own name, the reader's
/// chosen. The panel's script stores a change in the language cookie and reloads.
pub fn language_menu(lang: &Language) -> Html {
    let mut out = format!(
        "<label class=\"lang-menu\"><span class=\"visually-hidden\">{}</span>\
         <select id=\"language\" data-change=\"language\">",
        escape(lang.text("layout.language"))
    );
    for l in LANGUAGES {
        let selected = if l.code == lang.code { " selected" } else { "" };
        let _ = write!(
            out,
            "<option value=\"{}\" lang=\"{}\"{selected}>{}</option>",
            l.code,
            l.code,
            escape(l.name)
        );
    }
    out.push_str("</select></label>");
    Html(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_not_rescanned() {
        let safe = Html("<b>x</b>".into());
        let out = fill(
            "<p title=\"{{a}}\">{{ b }}</p>{{c}}",
            &LANGUAGES[0],
            &[
                ("a", Slot::Text("\"><script>{{c}}")),
                ("b", Slot::Text("Tom & 'Jerry'")),
                ("c", Slot::Html(&safe)),
            ],
        );
        assert_eq!(
            out,
            "<p title=\"&quot;&gt;&lt;script&gt;{{c}}\">Tom &amp; &#39;Jerry&#39;</p><b>x</b>"
        );
    }

    /// Template texts come from the reader's catalog, escaped.
    #[test]
    fn texts_come_from_the_catalog() {
        let fa = crate::i18n::language("fa").unwrap();
        let out = fill("<b>{{t.login.submit}}</b>", fa, &[]);
        assert_eq!(out, format!("<b>{}</b>", escape(fa.text("login.submit"))));
        assert_ne!(out, "<b>Log in</b>");
    }

    #[test]
    fn json_cannot_close_its_script_element() {
        let block = json_block(&serde_json::json!({"x": "</script><script>alert(1)</script>"}));
        assert!(!block.0.contains('<'), "{}", block.0);
        let back: serde_json::Value = serde_json::from_str(&block.0).unwrap();
        assert_eq!(back["x"], "</script><script>alert(1)</script>");
    }
}
