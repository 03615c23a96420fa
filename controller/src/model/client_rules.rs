//! What a client's fields may hold, as 3x-ui's users expect: any visible name as the email
//! (non-ASCII included), but no spaces (3x-ui refuses them) and at most one `@`, nothing that
//! hides, reorders or splits text where the name is shown or logged, and nothing a path
//! would read as a step; limits within sane bounds.
//! Each check answers why a value is refused, for the front ends and the importer.

use super::Refusal;

/// Longest email, in characters.
pub const MAX_EMAIL_CHARS: usize = 128;
/// Shortest sub id a caller may choose. The sub id is the only secret in a subscription
/// URL, which hands out all of a client's credentials: 8 characters of 3x-ui's alphabet
/// (36^8 ≈ 2.8·10^12) cannot be walked through against the subscription listener's rate
/// limit, while names people choose (`alicesub`) still fit. Generated ones have 16, as in
/// 3x-ui.
pub const MIN_SUB_ID_CHARS: usize = 8;
pub const MAX_SUB_ID_CHARS: usize = 64;
/// Latest expiry: the end of year 9999, in ms since the epoch (3x-ui's unit).
pub const MAX_EXPIRY_MS: i64 = 253_402_300_799_999;
/// Longest "N days after first use" (a negative expiry): 100 years.
pub const MAX_DELAYED_START_MS: i64 = 36_500 * 86_400_000;
/// Most distinct addresses one client may be allowed at once (0 turns the limit off).
pub const MAX_IP_LIMIT: i64 = 10_000;
/// Longest auto-renew period, in days (100 years): longer would overflow an expiry.
pub const MAX_RESET_DAYS: i64 = 36_500;

/// Why `email` cannot name a client, if it cannot.
pub fn email_problem(email: &str) -> Option<Refusal> {
    let chars = email.chars().count();
    if chars == 0 || chars > MAX_EMAIL_CHARS {
        let max = MAX_EMAIL_CHARS.to_string();
        return Some(Refusal::new("err.email_length", &[("max", max)]));
    }
    if email.contains(">>>") {
        return Some(Refusal::new("err.email_arrows", &[]));
    }
    if email == "." || email == ".." {
        let email = email.to_owned();
        return Some(Refusal::new("err.email_path_step", &[("email", email)]));
    }
    // Line breaks and other controls are named below.
    if let Some(space) = email.chars().find(|c| c.is_whitespace() && !c.is_control()) {
        let char = space.escape_debug().to_string();
        return Some(Refusal::new("err.email_space", &[("char", char)]));
    }
    if email.matches('@').count() > 1 {
        return Some(Refusal::new("err.email_ats", &[]));
    }
    let bad = email.chars().find(|c| refused_char(*c))?;
    let key = match bad {
        '/' | '\\' => "err.email_separator",
        '\n' | '\r' => "err.email_line_break",
        c if c.is_control() => "err.email_control",
        _ => "err.email_bidi",
    };
    Some(Refusal::new(
        key,
        &[("char", bad.escape_debug().to_string())],
    ))
}

/// Characters an email may not hold: controls (NUL, line breaks, C1), bidirectional
/// embeddings, overrides and isolates, and path separators.
fn refused_char(c: char) -> bool {
    c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || c == '/'
        || c == '\\'
}

/// Why `sub_id` cannot be a caller-chosen sub id, if it cannot.
pub fn sub_id_problem(sub_id: &str) -> Option<Refusal> {
    let ok_chars = sub_id
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch));
    let len = sub_id.len();
    if !ok_chars || !(MIN_SUB_ID_CHARS..=MAX_SUB_ID_CHARS).contains(&len) {
        return Some(Refusal::new(
            "err.sub_id",
            &[
                ("min", MIN_SUB_ID_CHARS.to_string()),
                ("max", MAX_SUB_ID_CHARS.to_string()),
            ],
        ));
    }
    None
}

/// Why `expiry` (ms since the epoch; 0 never; negative: that many ms after first use) is out
/// of range, if it is.
pub fn expiry_problem(expiry: i64) -> Option<Refusal> {
    let value = [("value", expiry.to_string())];
    if expiry > MAX_EXPIRY_MS {
        Some(Refusal::new("err.expiry_late", &value))
    } else if expiry < -MAX_DELAYED_START_MS {
        Some(Refusal::new("err.expiry_delay", &value))
    } else {
        None
    }
}

/// Why `limit` is not an IP limit, if it is not.
pub fn ip_limit_problem(limit: i64) -> Option<Refusal> {
    (!(0..=MAX_IP_LIMIT).contains(&limit)).then(|| {
        Refusal::new(
            "err.ip_limit",
            &[
                ("max", MAX_IP_LIMIT.to_string()),
                ("value", limit.to_string()),
            ],
        )
    })
}

/// Why `days` is not an auto-renew period, if it is not.
pub fn reset_problem(days: i64) -> Option<Refusal> {
    (!(0..=MAX_RESET_DAYS).contains(&days)).then(|| {
        Refusal::new(
            "err.reset_days",
            &[
                ("max", MAX_RESET_DAYS.to_string()),
                ("value", days.to_string()),
            ],
        )
    })
}

/// A name `email_problem` accepts, made from a refused one by replacing what it refuses with
/// `_` (so an imported client keeps a readable name); `None` when no such name can be made.
pub fn repaired_email(email: &str) -> Option<String> {
    let mut ats = 0;
    let mut out: String = email
        .trim()
        .chars()
        .map(|c| {
            ats += usize::from(c == '@');
            let refused = refused_char(c) || c.is_whitespace() || (c == '@' && ats > 1);
            if refused {
                '_'
            } else {
                c
            }
        })
        .collect::<String>()
        .replace(">>>", "_")
        .trim()
        .to_owned();
    if out == "." || out == ".." {
        out = out.replace('.', "_");
    }
    email_problem(&out).is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_names_pass_and_hidden_or_path_characters_do_not() {
        for ok in [
            "alice",
            "Ålesund-01",
            "пользователь",
            "用户@example.com",
            "a.b",
            "...",
        ] {
            assert_eq!(email_problem(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("a\0b", "control character"),
            ("a\nb", "line break"),
            ("evil\u{202E}gpj.exe", "bidirectional"),
            ("x\u{2066}y", "bidirectional"),
            ("a/b", "path separator"),
            ("a\\b", "path separator"),
            (".", "path step"),
            ("..", "path step"),
            ("", "1–128"),
            ("bad user@@", "spaces"),
            ("a\u{00A0}b", "spaces"),
            ("a@b@c", "more than one `@`"),
        ] {
            let why = email_problem(bad)
                .map(|w| w.to_string())
                .unwrap_or_default();
            assert!(why.contains(says), "{bad:?}: {why}");
        }
        assert_eq!(repaired_email("bob/\u{202E}x").as_deref(), Some("bob__x"));
        assert_eq!(repaired_email("..").as_deref(), Some("__"));
        // A 3x-ui database may hold such names: they are imported mended.
        assert_eq!(repaired_email("bad user@@").as_deref(), Some("bad_user@_"));
        assert_eq!(email_problem("alice@example.com"), None);
    }

    #[test]
    fn limits_have_sane_bounds() {
        assert_eq!(expiry_problem(0), None);
        assert_eq!(expiry_problem(-7 * 86_400_000), None);
        assert_eq!(expiry_problem(4_102_444_800_000), None);
        assert!(expiry_problem(i64::MAX).is_some());
        assert!(expiry_problem(i64::MIN).is_some());
        assert_eq!(ip_limit_problem(3), None);
        assert!(ip_limit_problem(1 << 40).is_some());
        assert!(ip_limit_problem(-1).is_some());
        assert_eq!(sub_id_problem("alicesub"), None);
        assert!(sub_id_problem("a").is_some());
        assert!(sub_id_problem("bad sub id").is_some());
    }
}
