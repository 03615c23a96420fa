//! What a fresh host takes from the gateway without a client certificate: `GET /install.sh`
//! (the installer with this gateway's address and key pin filled in) and the agent binaries
//! the controller carries, `GET /v1/agent/{version|latest}/{arch}` and `….sha256`. Requests
//! are counted per address like enrollments; answers other than the files are plain text the
//! installer prints as they are.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::Peer;
use crate::dist::agents::canonical_arch;
use crate::Controller;

const SCRIPT: &str = include_str!("install.sh");
const UNIT: &str = include_str!("../../../systemd/xfleet-agent.service");

/// The installer for this gateway: its URL and key pin, and the agent's systemd unit.
pub fn script(gateway_url: &str, key_pin: &str) -> String {
    SCRIPT
        .replace("@GATEWAY_URL@", &shell_quote(gateway_url))
        .replace("@KEY_PIN@", &shell_quote(key_pin))
        .replace("@UNIT@", UNIT.trim_end())
}

/// `'text'` for `sh`, a single quote inside written as `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

pub(super) async fn install_script(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
) -> Response {
    if let Some(refused) = limited(&ctl, &peer) {
        return refused;
    }
    let body = script(&ctl.gateway_url, &ctl.gateway_key_pin);
    (
        [(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `GET /v1/agent/{version}/{file}`: `file` is an architecture (`x86_64`, `aarch64`, or
/// `amd64`/`arm64`), with `.sha256` for `sha256sum`'s line instead of the binary; `version`
/// is one the catalog holds or `latest`.
pub(super) async fn agent_binary(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
    Path((version, file)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = limited(&ctl, &peer) {
        return refused;
    }
    let (arch_name, digest_only) = match file.strip_suffix(".sha256") {
        Some(arch) => (arch, true),
        None => (file.as_str(), false),
    };
    let Some(arch) = canonical_arch(arch_name) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "no agent for architecture '{arch_name}': agents are built for x86_64 and aarch64"
            ),
        );
    };
    let catalog = &ctl.agents;
    let found = if version == "latest" {
        catalog.latest(arch)
    } else {
        catalog.get(&version, arch)
    };
    let Some(binary) = found else {
        let what = if version == "latest" {
            String::new()
        } else {
            format!(" version {version}")
        };
        let carried: Vec<String> = catalog
            .list()
            .iter()
            .map(|b| format!("{} {}", b.version, b.arch))
            .collect();
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "this controller carries no {arch} agent{what} (it has: {}); put the file in its agent binaries folder",
                if carried.is_empty() { "none".to_owned() } else { carried.join(", ") }
            ),
        );
    };
    if digest_only {
        return plain(
            StatusCode::OK,
            format!(
                "{}  xfleet-agent-{}-linux-{}\n",
                binary.sha256, binary.version, binary.arch
            ),
        );
    }
    match catalog.bytes(binary) {
        Ok(bytes) => {
            let mut r =
                ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response();
            if let Ok(v) = HeaderValue::from_str(&binary.version) {
                r.headers_mut().insert("x-xfleet-agent-version", v);
            }
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "agent binary cannot be served");
            plain(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

/// 429 with `Retry-After` once an address has asked too often this minute.
fn limited(ctl: &Controller, peer: &Peer) -> Option<Response> {
    let secs = ctl.gateway_limits.install.hit(peer.addr.ip()).err()?;
    let mut r = plain(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many install requests from this address; try again in {secs} s"),
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        secs.to_string().parse().expect("digits"),
    );
    Some(r)
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The installer as served parses as POSIX sh (and by dash, the `sh` of Debian), with
    /// every placeholder filled and the agent's unit inside it.
    #[test]
    fn the_served_script_is_sh() {
        let text = script("https://ctl.example:2054", "q+8/ab==");
        assert!(
            !text.contains("@GATEWAY_URL@")
                && !text.contains("@KEY_PIN@")
                && !text.contains("@UNIT@")
        );
        assert!(text.contains("GATEWAY_URL='https://ctl.example:2054'"));
        assert!(text.contains("User=xfleet-agent"));
        let dir = crate::util::TempDir::new("install-sh");
        let path = dir.path().join("install.sh");
        std::fs::write(&path, &text).unwrap();
        for shell in ["sh", "dash"] {
            let Ok(status) = std::process::Command::new(shell)
                .arg("-n")
                .arg(&path)
                .status()
            else {
                continue;
            };
            assert!(status.success(), "{shell} -n refuses the installer");
        }
    }

    /// The gateway's certificate is issued anew at each start, on the same key: install
    /// lines printed before a restart keep working.
    #[tokio::test]
    async fn the_key_pin_survives_a_restart() {
        let dir = crate::util::TempDir::new("ca");
        let (store, _, _keep) = (crate::store::testing::test_stores().await)
            .remove(0)
            .into_parts();
        let first = crate::ca::Ca::load(&store, dir.path()).await.unwrap();
        let one = super::super::tls_config(&first, &["a.example".into()]).unwrap();
        let again = crate::ca::Ca::load(&store, dir.path()).await.unwrap();
        let two = super::super::tls_config(&again, &["b.example".into()]).unwrap();
        assert_eq!(one.key_pin, two.key_pin);
        assert_eq!(one.key_pin.len(), 44, "base64 of 32 bytes");
    }

    #[test]
    fn quotes_survive_shell_quoting() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
