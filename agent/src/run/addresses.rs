//! The controllers this agent may dial (DESIGN §14): the address it enrolled with, the
//! others its enrollment token named, and the ones the controllers tell it about in every
//! `Welcome` (kept in `controllers.json` in the data directory, so a restart knows them
//! while its first controller is down). The agent stays with the controller it reached and
//! moves to the next address after a failed dial.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File in the data directory holding the addresses the controllers told about.
const FILE: &str = "controllers.json";
/// More addresses than any fleet has controllers are not kept.
const MAX_ADDRESSES: usize = 32;
/// Longest address kept.
const MAX_LENGTH: usize = 512;

pub(super) struct Addresses {
    inner: Mutex<Inner>,
    path: PathBuf,
}

struct Inner {
    /// From the configuration: never forgotten.
    configured: Vec<String>,
    learned: Vec<String>,
    current: usize,
}

impl Inner {
    fn all(&self) -> Vec<String> {
        let mut all = self.configured.clone();
        for url in &self.learned {
            if !all.contains(url) {
                all.push(url.clone());
            }
        }
        all
    }
}

impl Addresses {
    pub(super) fn load(configured: Vec<String>, data_dir: &Path) -> Self {
        let path = data_dir.join(FILE);
        let learned = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok())
            .map(clean)
            .unwrap_or_default();
        let mut configured = clean(configured);
        configured.dedup();
        Self {
            inner: Mutex::new(Inner {
                configured,
                learned,
                current: 0,
            }),
            path,
        }
    }

    /// The address to dial now.
    pub(super) fn current(&self) -> String {
        let inner = self.inner.lock().unwrap();
        let all = inner.all();
        all.get(inner.current % all.len().max(1))
            .cloned()
            .unwrap_or_default()
    }

    /// After a failed dial: the next address, if there is more than one.
    pub(super) fn advance(&self) -> Option<String> {
        let mut inner = self.inner.lock().unwrap();
        let all = inner.all();
        if all.len() < 2 {
            return None;
        }
        inner.current = (inner.current + 1) % all.len();
        Some(all[inner.current].clone())
    }

    /// The controllers' own list, from a `Welcome`: kept, and written to disk when it changed.
    /// An empty list (a lone controller, or an older one) changes nothing.
    pub(super) fn learn(&self, controllers: &[String]) {
        if controllers.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap();
        let dialled = inner.all().get(inner.current).cloned();
        let learned = clean(controllers.to_vec());
        if learned == inner.learned {
            return;
        }
        inner.learned = learned;
        // The controller reached stays the current one whatever its place in the new list.
        let all = inner.all();
        inner.current = dialled
            .and_then(|d| all.iter().position(|u| *u == d))
            .unwrap_or(0);
        let json = serde_json::to_vec(&inner.learned).expect("strings serialize");
        if let Err(e) = crate::fsutil::write_atomic(&self.path, &json, 0o600) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot keep the controllers' addresses");
        }
    }

    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        self.inner.lock().unwrap().all().len()
    }
}

/// Only `https://` addresses of a sane length, each once, at most [`MAX_ADDRESSES`].
fn clean(urls: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for url in urls {
        let url = url.trim().trim_end_matches('/').to_owned();
        if url.starts_with("https://") && url.len() <= MAX_LENGTH && !out.contains(&url) {
            out.push(url);
        }
        if out.len() == MAX_ADDRESSES {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed dial moves to the next controller, a Welcome's list is kept across a restart,
    /// the controller reached stays current when the list changes, and garbage is dropped.
    #[test]
    fn addresses_rotate_and_are_kept() {
        let dir = crate::testutil::TempDir::new("addresses");
        let a = "https://ctl-a:2054".to_string();
        let addresses = Addresses::load(vec![a.clone()], dir.path());
        assert_eq!(addresses.current(), a);
        assert_eq!(addresses.advance(), None, "one address: nowhere else to go");
        addresses.learn(&[
            "https://ctl-b:2054".into(),
            a.clone(),
            "http://plain:1".into(),
            "https://ctl-c:2054/".into(),
        ]);
        assert_eq!(addresses.count(), 3);
        assert_eq!(addresses.current(), a, "still on the controller it reached");
        assert_eq!(addresses.advance().as_deref(), Some("https://ctl-b:2054"));
        addresses.learn(&["https://ctl-b:2054".into()]);
        assert_eq!(addresses.current(), "https://ctl-b:2054");

        let again = Addresses::load(vec![a.clone()], dir.path());
        assert_eq!(again.count(), 2, "the learned address survives a restart");
        assert_eq!(
            again.current(),
            a,
            "a restart starts with the configured address"
        );
        assert_eq!(again.advance().as_deref(), Some("https://ctl-b:2054"));
        assert_eq!(again.advance().as_deref(), Some(a.as_str()));
    }
}
