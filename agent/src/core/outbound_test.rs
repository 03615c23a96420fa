//! `core.test_outbound`: one outbound tried in a temporary core of the same binary, the way
//! 3x-ui's "test" button does it. The temporary core has its own directory and one SOCKS
//! inbound on a free loopback port routed to the outbound under test; a URL is fetched
//! through it and the time to the response's status line is the delay. The running core is
//! never touched; tests run one at a time, and the temporary core and its directory are gone
//! when the answer is sent.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Child;
use tokio::sync::Mutex;
use tokio::time::Instant;
use xfleet_common::methods::{CoreLogLevel, OutboundTestAnswer, OutboundTestRequest};

use super::binary::{core_message, parse_version};
use super::fetch::{status_through_socks, TestUrl, POLL};
use super::logs::parse_line;
use super::{pick_api_port, CoreBinary, CorePaths};

/// The test core's inbound, and the outbound tag used when the one under test has none.
const INBOUND_TAG: &str = "outbound-test-in";
const DEFAULT_TAG: &str = "outbound-under-test";
/// How long the temporary core gets to open its SOCKS port.
const START: Duration = Duration::from_secs(5);
/// How long the request through the outbound may take, up to its status line.
const FETCH: Duration = Duration::from_secs(10);
/// Prefix of the temporary directories under the core's directory.
const DIR_PREFIX: &str = ".outbound-test-";

/// One test at a time per agent: each starts a whole core.
static TURN: Mutex<()> = Mutex::const_new(());

/// Runs the test. A refusal or failure is an answer with `success: false` and the reason (the
/// core's own words when it refuses the configuration); only a request that names no usable
/// URL is an error.
pub async fn test_outbound(
    binary: &CoreBinary,
    paths: &CorePaths,
    request: &OutboundTestRequest,
) -> Result<OutboundTestAnswer, String> {
    let url = TestUrl::parse(&request.url)?;
    if !request.outbound.is_object() {
        return Err("`outbound` must be an outbound object".into());
    }
    let _turn = TURN.lock().await;
    remove_stale_dirs(&paths.dir);
    let dir = TempDir::create(&paths.dir).map_err(|e| format!("temporary directory: {e}"))?;
    let test_paths = CorePaths {
        dir: dir.0.clone(),
        assets: paths.assets.clone(),
    };
    let port = pick_api_port().map_err(|e| format!("no free loopback port: {e}"))?;
    let config = test_config(request, port);
    if let Err(refusal) = binary.test_config(&test_paths, &config).await {
        return Ok(failure(0, refusal));
    }
    let mut core = match start(binary, &test_paths, &config, port).await {
        Ok(core) => core,
        Err(why) => return Ok(failure(0, why)),
    };
    let began = Instant::now();
    let fetched = tokio::time::timeout(FETCH, status_through_socks(port, &url)).await;
    let delay = began.elapsed().as_millis() as u64;
    let _ = core.start_kill();
    let _ = core.wait().await;
    let said = || core_warnings(&test_paths.dir.join(LOG_FILE));
    Ok(match fetched {
        Ok(Ok(code)) => OutboundTestAnswer {
            success: true,
            delay,
            status_code: Some(code),
            error: None,
        },
        Ok(Err(why)) => failure(delay, with_core_words(why, said())),
        Err(_) => failure(
            delay,
            with_core_words(
                format!(
                    "no answer from {} within {} s",
                    request.url,
                    FETCH.as_secs()
                ),
                said(),
            ),
        ),
    })
}

/// The temporary core's output file.
const LOG_FILE: &str = "core.log";
/// Lines of the core's warnings quoted with a failure.
const WARNING_LINES: usize = 3;

/// What the temporary core logged about the outbound's failure (why its dial failed: both
/// cores log it at `info` as "failed to process outbound traffic") and its warnings, last
/// lines; the start banner left out.
fn core_warnings(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<String> = text
        .lines()
        .map(parse_line)
        .filter(|(level, text)| {
            (*level >= CoreLogLevel::Warning || text.contains("failed to process outbound"))
                && !text.is_empty()
                && parse_version(text).is_none()
        })
        .map(|(_, text)| text.to_owned())
        .collect();
    lines[lines.len().saturating_sub(WARNING_LINES)..].to_vec()
}

fn with_core_words(why: String, said: Vec<String>) -> String {
    if said.is_empty() {
        why
    } else {
        format!("{why}; the core said: {}", said.join("; "))
    }
}

fn failure(delay: u64, error: String) -> OutboundTestAnswer {
    OutboundTestAnswer {
        success: false,
        delay,
        status_code: None,
        error: Some(error),
    }
}

/// The temporary core's configuration: the SOCKS inbound routed to the outbound under test,
/// which comes first, then the other outbounds (without one of the same tag) so a chain
/// through them resolves.
fn test_config(request: &OutboundTestRequest, port: u16) -> Value {
    let mut outbound = request.outbound.clone();
    let tag = match outbound["tag"].as_str().filter(|t| !t.is_empty()) {
        Some(tag) => tag.to_owned(),
        None => {
            outbound["tag"] = DEFAULT_TAG.into();
            DEFAULT_TAG.to_owned()
        }
    };
    let mut outbounds = vec![outbound];
    outbounds.extend(
        request
            .all_outbounds
            .iter()
            .filter(|o| o.is_object() && o["tag"].as_str() != Some(tag.as_str()))
            .cloned(),
    );
    json!({
        "log": {"loglevel": "info"},
        "inbounds": [{
            "tag": INBOUND_TAG, "listen": "127.0.0.1", "port": port, "protocol": "socks",
            "settings": {"auth": "noauth", "udp": false}
        }],
        "outbounds": outbounds,
        "routing": {"rules": [
            {"type": "field", "inboundTag": [INBOUND_TAG], "outboundTag": tag}
        ]}
    })
}

/// Starts the temporary core and waits until its SOCKS port accepts; an exit before that is
/// the core's own words.
async fn start(
    binary: &CoreBinary,
    paths: &CorePaths,
    config: &Value,
    port: u16,
) -> Result<Child, String> {
    let file = paths.dir.join("config.json");
    let output = paths.dir.join(LOG_FILE);
    let bytes = serde_json::to_vec(config).map_err(|e| e.to_string())?;
    crate::fsutil::write_atomic(&file, &bytes, 0o600)
        .map_err(|e| format!("cannot write the test configuration: {e}"))?;
    let log = std::fs::File::create(&output).map_err(|e| format!("test core output: {e}"))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("test core output: {e}"))?;
    let mut child = binary
        .run_command(&file, &paths.assets)
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.path.display()))?;
    let deadline = Instant::now() + START;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&output).unwrap_or_default();
            return Err(core_message(&text, status));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(format!(
                "the test core did not open its SOCKS port within {} s",
                START.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A private directory under the core's, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn create(parent: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = parent.join(format!("{DIR_PREFIX}{:016x}", rand::random::<u64>()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Directories a test left when the agent died during it (tests run one at a time, so none
/// is in use when this runs).
fn remove_stale_dirs(core_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(core_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outbound under test comes first and gets the inbound's traffic; another of the
    /// same tag is left out, the rest kept for chains.
    #[test]
    fn the_config_routes_the_socks_inbound_to_the_outbound_under_test() {
        let request = OutboundTestRequest {
            outbound: json!({"protocol": "socks", "tag": "hop",
                "proxySettings": {"tag": "first"}}),
            all_outbounds: vec![
                json!({"protocol": "freedom", "tag": "first"}),
                json!({"protocol": "blackhole", "tag": "hop"}),
            ],
            url: "http://127.0.0.1/".into(),
        };
        let config = test_config(&request, 1080);
        let tags: Vec<&str> = config["outbounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["tag"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["hop", "first"]);
        assert_eq!(config["outbounds"][0]["protocol"], "socks");
        assert_eq!(config["routing"]["rules"][0]["outboundTag"], "hop");
        assert_eq!(config["inbounds"][0]["port"], 1080);
        let untagged = OutboundTestRequest {
            outbound: json!({"protocol": "freedom"}),
            all_outbounds: vec![],
            url: String::new(),
        };
        let config = test_config(&untagged, 1);
        assert_eq!(config["outbounds"][0]["tag"], DEFAULT_TAG);
        assert_eq!(config["routing"]["rules"][0]["outboundTag"], DEFAULT_TAG);
    }
}
