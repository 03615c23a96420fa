//! The real core: every v2ray-flavour config that renders must pass `v2ray -test`. This is
//! what proves the renderer writes what v2ray 4.34 accepts, not only what we expect.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::cases::{self, Certs};
use super::{template_state, whole_state_with};
use crate::state::DesiredState;
use crate::xray::{render, Flavour, RenderError, RenderOptions};

#[test]
fn v2ray_accepts_every_config_that_renders() {
    let Some(v2ray) = on_path("v2ray") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "v2ray is not on PATH; CI must run the real-core check (apt-get install v2ray)"
        );
        eprintln!("skipping the real-core check: v2ray is not on PATH");
        return;
    };
    let dir = TempDir::new();
    let certs = write_certificate(dir.path());
    // Debian's package ships no geoip.dat.
    let opts = RenderOptions {
        geoip_available: false,
        ..RenderOptions::new(Flavour::V2ray)
    };

    let mut checked = 0;
    for case in cases::all(&certs) {
        let state = DesiredState {
            inbounds: vec![case.spec],
            ..DesiredState::default()
        };
        match render(&state, &opts) {
            Ok(config) => {
                core_test(&v2ray, dir.path(), &case.key, &config);
                checked += 1;
            }
            Err(RenderError::Unsupported { .. }) => {}
            Err(e) => panic!("{}: {e}", case.key),
        }
    }
    for (name, state) in [
        ("whole-state", whole_state_with(&certs)),
        ("template", template_state()),
    ] {
        let config = render(&state, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        core_test(&v2ray, dir.path(), name, &config);
        checked += 1;
    }
    // vmess, vless, trojan, shadowsocks over tcp, tcp+http, kcp, ws (TLS on all but kcp),
    // socks, http, tunnel, and the two whole configs.
    assert!(checked >= 35, "only {checked} configs reached the core");
    eprintln!("v2ray -test accepted {checked} rendered configs");
}

/// Runs `v2ray -test -config FILE` (the 4.x syntax) and fails with the core's own words.
fn core_test(v2ray: &Path, dir: &Path, name: &str, config: &Value) {
    let file = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(config).expect("serializes");
    std::fs::write(&file, &text).expect("write config");
    let output = Command::new(v2ray)
        .arg("-test")
        .arg("-config")
        .arg(&file)
        .output()
        .expect("run v2ray");
    assert!(
        output.status.success(),
        "v2ray refused `{name}` ({}):\n{}{}\nconfig:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// A self-signed pair for the TLS combinations; v2ray reads the files during `-test`.
fn write_certificate(dir: &Path) -> Certs {
    let pair = rcgen::generate_simple_self_signed(vec!["vpn.example.com".to_owned()])
        .expect("certificate");
    let cert = dir.join("fullchain.pem");
    let key = dir.join("privkey.pem");
    std::fs::write(&cert, pair.cert.pem()).expect("write certificate");
    std::fs::write(&key, pair.signing_key.serialize_pem()).expect("write key");
    Certs {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    }
}

/// A directory removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("xfleet-xray-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
