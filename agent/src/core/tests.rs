//! The supervisor against a real core: Debian's v2ray 4. Skipped (with a message) where v2ray
//! is missing, except under CI, which installs it and must run these.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use xfleet_common::methods::{
    agent, core_methods, CoreLogLevel, CoreLogs, CoreLogsQuery, CoreState, CoreVersion,
    RunningConfig, SystemStats,
};
use xfleet_common::protocol::{code, from_body, to_body};

use super::*;
use crate::handler::AgentHandler;
use crate::testutil::{connect_handler, TempDir};

const DEADLINE: Duration = Duration::from_secs(20);
/// Longer than the first two restart delays (1 s, 2 s): a core that stays down this long after
/// a stop was not restarted by the watchdog.
const QUIET: Duration = Duration::from_secs(4);

/// The real v2ray on PATH, or `None` (after saying so) when this machine has none.
fn real_v2ray() -> Option<PathBuf> {
    let found = binary::find_on_path("v2ray", std::env::var_os("PATH").as_deref());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "v2ray is not installed, and CI must run the core tests (apt-get install v2ray)"
        );
        eprintln!("skipping: no v2ray on PATH (apt-get install v2ray to run the core tests)");
    }
    found
}

/// A supervisor for the real v2ray in its own data directory. The core is killed when the
/// test's runtime drops the supervising task (kill on drop).
struct Fixture {
    supervisor: Supervisor,
    dir: TempDir,
}

impl Fixture {
    async fn new(label: &str) -> Option<Self> {
        let path = real_v2ray()?;
        let dir = TempDir::new(label);
        let binary = CoreBinary::probe(&path).await.unwrap();
        let supervisor = Supervisor::new(binary, CorePaths::new(dir.path(), None)).unwrap();
        Some(Self { supervisor, dir })
    }
}

/// A socks inbound on `port` and a direct outbound: the smallest config that proxies.
fn socks_config(port: u16) -> Value {
    json!({
        "log": {"loglevel": "info"},
        "inbounds": [{
            "tag": "socks-in",
            "listen": "127.0.0.1",
            "port": port,
            "protocol": "socks",
            "settings": {"auth": "noauth", "udp": false}
        }],
        "outbounds": [{"tag": "direct", "protocol": "freedom"}]
    })
}

fn free_port() -> u16 {
    pick_api_port().unwrap()
}

/// A TCP echo server held by the test: traffic through the core must come back from it.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Sends a few bytes to `target` through the socks inbound on `port` and reads them back.
async fn proxies(port: u16, target: SocketAddr) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        s.write_all(&[5, 1, 0]).await?;
        let mut hello = [0u8; 2];
        s.read_exact(&mut hello).await?;
        let SocketAddr::V4(v4) = target else {
            unreachable!()
        };
        let mut connect = vec![5, 1, 0, 1];
        connect.extend_from_slice(&v4.ip().octets());
        connect.extend_from_slice(&v4.port().to_be_bytes());
        s.write_all(&connect).await?;
        let mut reply = [0u8; 10];
        s.read_exact(&mut reply).await?;
        s.write_all(b"ping").await?;
        let mut echoed = [0u8; 4];
        s.read_exact(&mut echoed).await?;
        std::io::Result::Ok(hello == [5, 0] && reply[1] == 0 && &echoed == b"ping")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), attempt).await,
        Ok(Ok(true))
    )
}

async fn wait_state(
    states: &mut watch::Receiver<CoreState>,
    what: &str,
    pred: impl FnMut(&CoreState) -> bool,
) -> CoreState {
    let found = match tokio::time::timeout(DEADLINE, states.wait_for(pred)).await {
        Ok(Ok(state)) => Some(state.clone()),
        _ => None,
    };
    found.unwrap_or_else(|| {
        panic!(
            "timed out waiting for {what}; state is {:?}",
            *states.borrow()
        )
    })
}

fn pid_of(state: &CoreState) -> u32 {
    match state {
        CoreState::Running { pid, .. } => *pid,
        other => panic!("core is not running: {other:?}"),
    }
}

fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

/// Records every state the supervisor publishes.
fn record(supervisor: &Supervisor) -> Arc<Mutex<Vec<CoreState>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut states = supervisor.subscribe();
    let log = seen.clone();
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let state = states.borrow_and_update().clone();
            log.lock().unwrap().push(state);
        }
    });
    seen
}

#[tokio::test]
async fn discovery_finds_v2ray_on_path_and_reads_its_version() {
    let Some(real) = real_v2ray() else { return };
    // A PATH holding only v2ray, so an Xray elsewhere on this machine cannot win.
    let dir = TempDir::new("core-discover");
    std::os::unix::fs::symlink(&real, dir.path().join("v2ray")).unwrap();
    let path_var = Some(dir.path().as_os_str().to_owned());
    let found = CoreBinary::discover_in(None, path_var, &dir.path().join("no-x-ui"))
        .await
        .unwrap();
    assert_eq!(found.flavour, Flavour::V2ray);
    assert_eq!(found.path, dir.path().join("v2ray"));
    assert!(found.version.starts_with("4."), "{}", found.version);
    eprintln!("found v2ray {}", found.version);
}

#[tokio::test]
async fn the_config_test_passes_a_valid_config_and_quotes_the_core_on_a_bad_one() {
    let Some(fx) = Fixture::new("core-test").await else {
        return;
    };
    fx.supervisor
        .test_config(&socks_config(free_port()))
        .await
        .unwrap();

    let mut bad = socks_config(free_port());
    bad["inbounds"][0]["protocol"] = json!("telepathy");
    let err = fx.supervisor.test_config(&bad).await.unwrap_err();
    assert!(err.contains("unknown config id: telepathy"), "{err}");
    assert!(!err.contains("V2Ray 4"), "banner kept: {err}");
    // Scratch files do not pile up.
    let leftovers = std::fs::read_dir(&fx.supervisor.paths().dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".test-"))
        .count();
    assert_eq!(leftovers, 0);
}

#[tokio::test]
async fn core_methods_drive_the_core_over_the_channel() {
    let Some(fx) = Fixture::new("core-rpc").await else {
        return;
    };
    let handler = AgentHandler::new(fx.dir.path(), Core::Found(fx.supervisor.clone())).unwrap();
    let (ctl, _agent) = connect_handler(Arc::new(handler));
    let call = |method: &'static str, body: Vec<u8>| {
        let ctl = ctl.clone();
        async move { ctl.call(method, body, DEADLINE, None).await }
    };

    // Nothing applied yet.
    let err = call(core_methods::START, vec![]).await.unwrap_err();
    assert_eq!(err.code(), code::NO_CONFIG);
    let err = call(core_methods::CONFIG, vec![]).await.unwrap_err();
    assert_eq!(err.code(), code::NO_CONFIG);

    let version: CoreVersion =
        from_body(&call(core_methods::VERSION, vec![]).await.unwrap()).unwrap();
    assert_eq!(version.flavour, "v2ray");
    assert!(version.version.starts_with("4."));

    // The controller applies a state (state.apply calls `start`), then drives the core.
    let (port, echo) = (free_port(), echo_server().await);
    let config = socks_config(port);
    let first = pid_of(&fx.supervisor.start(config.clone()).await.unwrap());
    assert!(
        proxies(port, echo).await,
        "the socks inbound does not proxy"
    );

    let running: RunningConfig =
        from_body(&call(core_methods::CONFIG, vec![]).await.unwrap()).unwrap();
    assert_eq!(running.config, config);

    let logs: CoreLogs = from_body(&call(core_methods::LOGS, vec![]).await.unwrap()).unwrap();
    assert!(!logs.lines.is_empty());
    assert!(
        logs.lines.iter().any(|l| l.text.contains("started")),
        "{:?}",
        logs.lines
    );
    let query = CoreLogsQuery {
        count: 1,
        level: CoreLogLevel::Warning,
    };
    let logs: CoreLogs = from_body(
        &call(core_methods::LOGS, to_body(&query).unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(logs.lines.len(), 1);
    assert!(logs.lines[0].level >= CoreLogLevel::Warning);

    let stats: SystemStats = from_body(&call(agent::SYSTEM_STATS, vec![]).await.unwrap()).unwrap();
    assert_eq!(stats.xray.state, "running");
    assert_eq!(stats.xray.version, version.version);

    // Starting a running core changes nothing; restarting gives a new process.
    let state: CoreState = from_body(&call(core_methods::START, vec![]).await.unwrap()).unwrap();
    assert_eq!(pid_of(&state), first);
    let state: CoreState = from_body(&call(core_methods::RESTART, vec![]).await.unwrap()).unwrap();
    let second = pid_of(&state);
    assert_ne!(second, first);
    assert!(!alive(first));
    assert!(proxies(port, echo).await);

    let state: CoreState = from_body(&call(core_methods::STOP, vec![]).await.unwrap()).unwrap();
    assert_eq!(state, CoreState::Stopped);
    assert!(!alive(second));
    let stats: SystemStats = from_body(&call(agent::SYSTEM_STATS, vec![]).await.unwrap()).unwrap();
    assert_eq!(stats.xray.state, "stop");

    // After a stop, start brings the applied config back.
    let state: CoreState = from_body(&call(core_methods::START, vec![]).await.unwrap()).unwrap();
    pid_of(&state);
    assert!(proxies(port, echo).await);
    fx.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_killed_core_is_restarted_and_a_stopped_one_stays_down() {
    let Some(fx) = Fixture::new("core-watchdog").await else {
        return;
    };
    let sup = &fx.supervisor;
    let (port, echo) = (free_port(), echo_server().await);
    let first = pid_of(&sup.start(socks_config(port)).await.unwrap());
    let seen = record(sup);
    let mut states = sup.subscribe();

    kill_9(first);
    let state = wait_state(
        &mut states,
        "a restarted core",
        |s| matches!(s, CoreState::Running { pid, .. } if *pid != first),
    )
    .await;
    let second = pid_of(&state);
    assert!(
        proxies(port, echo).await,
        "the restarted core does not proxy"
    );
    let crash = seen
        .lock()
        .unwrap()
        .iter()
        .find_map(|s| match s {
            CoreState::Error { message } => Some(message.clone()),
            _ => None,
        })
        .expect("the crash was published");
    assert!(crash.contains("killed by signal 9"), "{crash}");

    // A manual stop is respected: no restart, even across several backoff periods.
    assert_eq!(sup.stop().await.unwrap(), CoreState::Stopped);
    assert!(!alive(second));
    let mut states = sup.subscribe();
    assert!(
        tokio::time::timeout(QUIET, states.changed()).await.is_err(),
        "the stopped core changed state: {:?}",
        *states.borrow()
    );
    assert_eq!(sup.state(), CoreState::Stopped);
    assert!(!proxies(port, echo).await);

    // A stop that lands while the watchdog waits to restart a crashed core cancels the restart.
    let third = pid_of(&sup.start_applied().await.unwrap());
    let mut states = sup.subscribe();
    kill_9(third);
    wait_state(&mut states, "the crash", |s| {
        matches!(s, CoreState::Error { .. })
    })
    .await;
    sup.stop().await.unwrap();
    let mut states = sup.subscribe();
    assert!(
        tokio::time::timeout(QUIET, states.changed()).await.is_err(),
        "the watchdog restarted a stopped core: {:?}",
        *states.borrow()
    );
    assert_eq!(sup.state(), CoreState::Stopped);
}

#[tokio::test]
async fn a_refused_config_leaves_the_running_core_serving() {
    let Some(fx) = Fixture::new("core-replace").await else {
        return;
    };
    let sup = &fx.supervisor;
    let (port, echo) = (free_port(), echo_server().await);
    let good = socks_config(port);
    let first = pid_of(&sup.start(good.clone()).await.unwrap());

    // The core's test refuses it: the running core is not touched.
    let mut unknown = socks_config(free_port());
    unknown["inbounds"][0]["protocol"] = json!("telepathy");
    let err = sup.replace_config(unknown).await.unwrap_err();
    assert!(matches!(err, CoreError::InvalidConfig(_)), "{err}");
    assert!(
        err.to_string().contains("unknown config id: telepathy"),
        "{err}"
    );
    assert_eq!(pid_of(&sup.state()), first);
    assert!(proxies(port, echo).await);
    assert_eq!(sup.config().as_deref(), Some(&good));

    // It passes the test but cannot bind (a port this test holds): the previous config comes
    // back and serves again.
    let held = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let taken = socks_config(held.local_addr().unwrap().port());
    let err = sup.replace_config(taken).await.unwrap_err();
    assert!(matches!(err, CoreError::StartFailed(_)), "{err}");
    assert!(err.to_string().contains("address already in use"), "{err}");
    assert_eq!(sup.config().as_deref(), Some(&good));
    pid_of(&sup.state());
    assert!(
        proxies(port, echo).await,
        "the previous config was not restored"
    );

    // The same config again is a no-op; a good new one replaces the old.
    let current = pid_of(&sup.state());
    assert_eq!(pid_of(&sup.replace_config(good).await.unwrap()), current);
    let new_port = free_port();
    let replaced = pid_of(&sup.replace_config(socks_config(new_port)).await.unwrap());
    assert_ne!(replaced, current);
    assert!(proxies(new_port, echo).await);
    assert!(!proxies(port, echo).await);
    drop(held);

    // A stopped core takes a new config without starting.
    sup.stop().await.unwrap();
    let later = socks_config(free_port());
    assert_eq!(
        sup.replace_config(later.clone()).await.unwrap(),
        CoreState::Stopped
    );
    assert_eq!(sup.config().as_deref(), Some(&later));
}

#[test]
fn api_ports_are_free_loopback_ports() {
    let port = pick_api_port().unwrap();
    assert_ne!(port, 0);
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
}
