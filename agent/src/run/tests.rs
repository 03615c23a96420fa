use std::sync::Arc;

use xfleet_common::methods::Heartbeat;
use xfleet_common::protocol::from_body;

use super::*;
use crate::config::ReconnectConfig;
use crate::status;
use crate::testutil::{wait_until, Gateway, GatewayMode, TempDir, TestPki};

/// An enrolled config dir whose certificate spans `[now - before, now + after]`.
fn enrolled(dir: &TempDir, pki: &TestPki, url: &str, before: i64, after: i64) -> AgentConfig {
    let made = csr::new_key_and_csr("test-host").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let cert = pki.sign_csr(
        &made.csr_pem,
        Some((
            now - time::Duration::seconds(before),
            now + time::Duration::seconds(after),
        )),
    );
    let config = AgentConfig {
        controller_url: url.into(),
        server_id: 42,
        data_dir: dir.path().join("data"),
        config_dir: dir.path().join("etc"),
        reconnect: ReconnectConfig {
            base_ms: 10,
            cap_ms: 50,
            healthy_after_ms: 60_000,
        },
        ..Default::default()
    };
    std::fs::create_dir_all(&config.config_dir).unwrap();
    let files = config.files();
    std::fs::write(&files.key, made.key_pem).unwrap();
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.ca, &pki.ca_pem).unwrap();
    std::fs::write(&files.config, config.to_toml()).unwrap();
    config
}

fn status_of(config: &AgentConfig) -> Option<status::AgentStatus> {
    status::read(&config.status_path()).ok()
}

#[tokio::test]
async fn run_connects_sends_heartbeats_renews_and_stops_cleanly() {
    let pki = Arc::new(TestPki::new("run"));
    let mut gw = Gateway::start(pki.clone(), GatewayMode::Welcome { heartbeat_ms: 200 }).await;
    let dir = TempDir::new("run");
    // 90 s into a 100 s lifetime: renewal is due at once.
    let config = enrolled(&dir, &pki, &gw.url, 90, 10);
    let old_cert = std::fs::read_to_string(config.files().cert).unwrap();

    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(run(config.clone(), shutdown.clone()));

    let session = gw.next_session().await;
    assert_eq!(session.hello.server_id, 42);
    assert_eq!(
        session.hello.protocol_versions,
        protocol::SUPPORTED_VERSIONS
    );
    // Other events (the core's state, where a core is installed) may come in between.
    let mut heartbeats = Vec::new();
    while heartbeats.len() < 2 {
        let event = gw.next_event().await;
        if event.topic == topic::HEARTBEAT {
            heartbeats.push(event);
        }
    }
    assert!(
        from_body::<Heartbeat>(&heartbeats[0].body)
            .unwrap()
            .mem_total
            > 0
    );

    let files = config.files();
    wait_until("the renewed certificate", || {
        std::fs::read_to_string(&files.cert).is_ok_and(|c| c != old_cert)
    })
    .await;
    let cert = std::fs::read_to_string(&files.cert).unwrap();
    let key = std::fs::read_to_string(&files.key).unwrap();
    csr::check_matches_key(&cert, &key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The renewal did not drop the connection.
    assert!(!session.channel.is_closed());

    wait_until("a connected status", || {
        status_of(&config).is_some_and(|s| s.state == ConnState::Connected)
    })
    .await;
    let health = status::healthcheck(&config.config_dir, now_ms());
    assert!(health.is_ok(), "{health:?}");

    shutdown.cancel();
    agent.await.unwrap().unwrap();
    // The agent closed the WebSocket; the controller side sees the end of the stream.
    let reason = tokio::time::timeout(Duration::from_secs(10), session.channel.closed())
        .await
        .unwrap();
    assert!(reason.contains("closed"), "{reason}");
    let status = status_of(&config).unwrap();
    assert_eq!(status.state, ConnState::Disconnected);
    assert!(status::healthcheck(&config.config_dir, now_ms()).is_err());
}

#[tokio::test]
async fn run_reconnects_after_goaway_and_refusals() {
    let pki = Arc::new(TestPki::new("reconnect"));
    let mut gw = Gateway::start(
        pki.clone(),
        GatewayMode::Welcome {
            heartbeat_ms: 5_000,
        },
    )
    .await;
    let dir = TempDir::new("reconnect");
    let config = enrolled(&dir, &pki, &gw.url, 60, 86_400);
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(run(config.clone(), shutdown.clone()));

    let first = gw.next_session().await;
    first
        .channel
        .go_away(Duration::from_millis(20), "restarting");
    let second = gw.next_session().await;
    assert_eq!(second.hello.server_id, 42);

    // A refused certificate is recorded as the last error, and retried.
    gw.set_mode(GatewayMode::Refuse(
        403,
        None,
        r#"{"code":"revoked","message":"certificate revoked"}"#,
    ));
    second.channel.close("kicked");
    wait_until("the refusal in the status", || {
        status_of(&config).is_some_and(|s| {
            s.state != ConnState::Connected
                && s.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("HTTP 403"))
        })
    })
    .await;
    gw.set_mode(GatewayMode::Refuse(503, Some(0), ""));
    wait_until("the admission refusal in the status", || {
        status_of(&config)
            .is_some_and(|s| s.last_error.as_deref().is_some_and(|e| e.contains("busy")))
    })
    .await;
    gw.set_mode(GatewayMode::Welcome {
        heartbeat_ms: 5_000,
    });
    let third = gw.next_session().await;
    assert_eq!(third.hello.server_id, 42);

    shutdown.cancel();
    agent.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_expired_certificate_is_reported_without_dialing() {
    let pki = Arc::new(TestPki::new("expired"));
    let mut gw = Gateway::start(
        pki.clone(),
        GatewayMode::Welcome {
            heartbeat_ms: 5_000,
        },
    )
    .await;
    let dir = TempDir::new("expired");
    let config = enrolled(&dir, &pki, &gw.url, 7200, -3600);
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(run(config.clone(), shutdown.clone()));
    wait_until("the expiry in the status", || {
        status_of(&config).is_some_and(|s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("expired") && e.contains("enroll"))
        })
    })
    .await;
    shutdown.cancel();
    agent.await.unwrap().unwrap();
    assert!(gw.sessions.try_recv().is_err());
}
