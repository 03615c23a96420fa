//! Link remarks after 3x-ui's `remarkModel` (default `-ieo`): the first character is the
//! separator, then letters in order: `i` inbound remark, `e` client email, `o` the
//! `externalProxy` remark. xfleet adds `s`, the server's name; a model without it gets it
//! right after `i`, so links of equal inbounds on different servers stay apart.

/// xfleet's default: inbound, server, email, external proxy remark.
pub const DEFAULT_MODEL: &str = "-iseo";

pub struct Parts<'a> {
    pub inbound: &'a str,
    pub server: &'a str,
    pub email: &'a str,
    pub extra: &'a str,
}

/// A client's fleet-wide standing, for the remaining traffic and time shown in remarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub enabled: bool,
    pub used: i64,
    /// Quota in bytes; 0 is unlimited.
    pub total: i64,
    /// Epoch ms; 0 never; negative: that many ms after first use (not started yet).
    pub expiry_time: i64,
}

/// The remark. A disabled client is always marked `⛔️N/A` (so it is visible, not silently
/// missing); with `show_info` the remaining traffic (`📊`) and time (`⏳`) are appended.
pub fn remark(
    model: &str,
    parts: &Parts<'_>,
    standing: &Standing,
    show_info: bool,
    now_ms: i64,
) -> String {
    let mut chars = model.chars();
    let (sep, mut order) = match chars.next() {
        Some(sep) => (sep, chars.collect::<String>()),
        None => ('-', String::new()),
    };
    if order.is_empty() {
        order = DEFAULT_MODEL[1..].to_owned();
    }
    if !order.contains('s') {
        match order.find('i') {
            Some(at) => order.insert(at + 1, 's'),
            None => order.insert(0, 's'),
        }
    }
    let mut out: Vec<String> = order
        .chars()
        .filter_map(|c| match c {
            'i' => Some(parts.inbound),
            's' => Some(parts.server),
            'e' => Some(parts.email),
            'o' => Some(parts.extra),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let sep = sep.to_string();
    if !standing.enabled {
        out.insert(0, "⛔️N/A".into());
        return out.join(&sep);
    }
    if show_info {
        let left = standing.total - standing.used;
        if standing.total > 0 && left > 0 {
            out.push(format!("{}📊", traffic(left)));
        }
        if let Some(time) = time_left(standing.expiry_time, now_ms) {
            out.push(format!("{time}⏳"));
        }
    }
    out.join(&sep)
}

/// Bytes in 3x-ui's style: two decimals and a binary unit (`12.30GB`).
pub fn traffic(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

/// `3D,4H`, `5D`, `7H` or `12M` until expiry; a delayed start shows its whole length.
fn time_left(expiry_time: i64, now_ms: i64) -> Option<String> {
    if expiry_time < 0 {
        return Some(format!("{}D", -expiry_time / 86_400_000));
    }
    if expiry_time == 0 {
        return None;
    }
    let secs = (expiry_time - now_ms).max(0) / 1000;
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    Some(match (days, hours) {
        (0, 0) => format!("{minutes}M"),
        (0, h) => format!("{h}H"),
        (d, 0) => format!("{d}D"),
        (d, h) => format!("{d}D,{h}H"),
    })
}
