//! Callback data: Telegram keeps at most 64 bytes per button. Data that fits is sent as it
//! is; longer data (a search, an email in a command) is kept here and the button carries
//! `#` and its hash, as 3x-ui does. Kept entries expire after a day; the oldest go first
//! beyond a bound, so a busy bot's memory stays flat.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use xfleet_common::time::now_ms;

/// Telegram's limit on a button's callback data, in bytes.
pub const MAX_DATA: usize = 64;
const KEEP_MS: i64 = 24 * 3600 * 1000;
const MAX_KEPT: usize = 10_000;

#[derive(Default)]
pub struct Store {
    kept: HashMap<String, (String, i64)>,
}

impl Store {
    /// The data a button carries for `data`.
    pub fn encode(&mut self, data: &str) -> String {
        if data.len() <= MAX_DATA && !data.starts_with('#') {
            return data.to_owned();
        }
        let digest = Sha256::digest(data.as_bytes());
        let key = format!("#{}", &crate::https::hex(&digest)[..32]);
        let now = now_ms();
        if self.kept.len() >= MAX_KEPT {
            self.kept.retain(|_, (_, at)| now - *at < KEEP_MS);
            if self.kept.len() >= MAX_KEPT {
                if let Some(oldest) = self
                    .kept
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                {
                    self.kept.remove(&oldest);
                }
            }
        }
        self.kept.insert(key.clone(), (data.to_owned(), now));
        key
    }

    /// The data behind a pressed button; `None` when it was hashed and has expired.
    pub fn decode(&self, data: &str) -> Option<String> {
        if !data.starts_with('#') {
            return Some(data.to_owned());
        }
        self.kept
            .get(data)
            .filter(|(_, at)| now_ms() - at < KEEP_MS)
            .map(|(d, _)| d.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_travels_as_a_hash_and_comes_back() {
        let mut s = Store::default();
        assert_eq!(s.encode("c:12"), "c:12");
        let long = format!("u:{}", "a".repeat(100));
        let sent = s.encode(&long);
        assert!(sent.len() <= MAX_DATA && sent.starts_with('#'));
        assert_eq!(s.decode(&sent).as_deref(), Some(long.as_str()));
        assert_eq!(s.decode("c:12").as_deref(), Some("c:12"));
        assert_eq!(s.decode("#0123"), None);
        // Multi-byte text counts in bytes.
        let wide = "é".repeat(40);
        assert!(s.encode(&wide).starts_with('#'));
    }
}
