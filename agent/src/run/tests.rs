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
    // The agent said goodbye and closed the WebSocket: the controller side sees a deliberate
    // close, not a lost connection.
    let reason = tokio::time::timeout(Duration::from_secs(10), session.channel.closed())
        .await
        .unwrap();
    assert!(reason.contains("the agent is stopping"), "{reason}");
    assert!(session.channel.closed_by_peer());
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

/// The controller's end of an in-memory link: the first connection is sent away, later ones
/// are welcomed and handed to the test with the agent's events.
fn local_link() -> (
    Link,
    tokio::sync::mpsc::UnboundedReceiver<(Hello, Channel)>,
    tokio::sync::mpsc::UnboundedReceiver<xfleet_common::protocol::Event>,
) {
    use futures_util::{SinkExt, StreamExt};
    use xfleet_common::channel::{memory_pair, ChannelConfig, Handler, IncomingCall};
    use xfleet_common::protocol::{decode, encode, ErrorBody, Event, Frame, GoAway, Welcome};

    struct Events(tokio::sync::mpsc::UnboundedSender<Event>);
    impl Handler for Events {
        async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
            Err(ErrorBody::unsupported(&call.method))
        }
        fn event(&self, _channel: &Channel, event: Event) {
            let _ = self.0.send(event);
        }
    }

    let (session_tx, sessions) = tokio::sync::mpsc::unbounded_channel();
    let (event_tx, events) = tokio::sync::mpsc::unbounded_channel();
    let handler = Arc::new(Events(event_tx));
    let dials = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let link = Link::Local(Arc::new(move || {
        let (ours, theirs) = memory_pair(16);
        let (handler, session_tx) = (handler.clone(), session_tx.clone());
        let first = dials.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        tokio::spawn(async move {
            let (mut sink, mut stream) = ours;
            let Some(Ok(bytes)) = stream.next().await else {
                return;
            };
            let Ok(Frame::Hello(hello)) = decode(&bytes) else {
                panic!("not a Hello")
            };
            if first {
                let go_away = Frame::GoAway(GoAway {
                    retry_after_ms: 10,
                    reason: "not yet".into(),
                });
                let _ = sink.send(encode(&go_away)).await;
                return;
            }
            let welcome = Frame::Welcome(Welcome {
                protocol_version: 1,
                heartbeat_interval_ms: 100,
                max_frame_bytes: 1 << 20,
                max_in_flight: 16,
                server_time_ms: 0,
                controllers: Vec::new(),
            });
            sink.send(encode(&welcome)).await.unwrap();
            let channel = Channel::start(
                sink,
                stream,
                handler,
                ChannelConfig {
                    name: "local agent".into(),
                    max_in_flight: 16,
                    send_queue: 16,
                    idle_timeout: Duration::from_secs(30),
                    first_request_id: 1,
                    protocol_version: 1,
                },
            );
            let _ = session_tx.send((hello, channel));
        });
        theirs
    }));
    (link, sessions, events)
}

async fn next(
    sessions: &mut tokio::sync::mpsc::UnboundedReceiver<(Hello, Channel)>,
) -> (Hello, Channel) {
    tokio::time::timeout(Duration::from_secs(20), sessions.recv())
        .await
        .expect("the agent connected")
        .unwrap()
}

#[tokio::test]
async fn a_local_link_needs_no_credentials_and_reconnects() {
    let dir = TempDir::new("local-link");
    let config = AgentConfig {
        controller_url: "in-process".into(),
        server_id: 1,
        data_dir: dir.path().to_owned(),
        config_dir: dir.path().to_owned(),
        reconnect: ReconnectConfig {
            base_ms: 10,
            cap_ms: 50,
            healthy_after_ms: 60_000,
        },
        ..Default::default()
    };
    let (link, mut sessions, mut events) = local_link();
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(run_over(config.clone(), link, shutdown.clone()));

    // Sent away once, then welcomed: no key or certificate was needed for either.
    let (hello, channel) = next(&mut sessions).await;
    assert_eq!(hello.server_id, 1);
    let echoed = channel
        .call("echo", vec![7], Duration::from_secs(5), None)
        .await
        .unwrap();
    assert_eq!(echoed, vec![7]);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        if event.topic == topic::HEARTBEAT {
            break;
        }
    }

    // A closed link is dialled again, as a dropped WebSocket is.
    channel.close("kicked");
    let (_, channel) = next(&mut sessions).await;
    shutdown.cancel();
    agent.await.unwrap().unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(10), channel.closed())
        .await
        .unwrap();
    assert!(reason.contains("the agent is stopping"), "{reason}");
    assert!(channel.closed_by_peer());
    assert_eq!(status_of(&config).unwrap().state, ConnState::Disconnected);
}

/// An update the controller's key did not sign (a forged signature, or bytes changed after
/// signing) is refused by the running agent over a real channel, with the reason, and
/// nothing changes: no staged binary, no marker, the connection and the agent go on.
#[tokio::test]
async fn an_update_that_does_not_verify_is_refused_and_changes_nothing() {
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use sha2::Digest;
    use xfleet_common::channel::{Bytes, CallError};
    use xfleet_common::methods::{update_signed_message, AgentUpdateRequest};

    let pki = Arc::new(TestPki::new("update"));
    let mut gw = Gateway::start(pki.clone(), GatewayMode::Welcome { heartbeat_ms: 200 }).await;
    let dir = TempDir::new("update");
    let config = enrolled(&dir, &pki, &gw.url, 10, 3600);
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(run(config.clone(), shutdown.clone()));
    let session = gw.next_session().await;

    let binary = vec![0x5au8; 200_000];
    let digest: String = sha2::Sha256::digest(&binary)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let arch = std::env::consts::ARCH;
    let sign = |pkcs8: &[u8]| {
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &SystemRandom::new())
                .unwrap();
        let message = update_signed_message(&digest, "9.9.9", arch);
        key.sign(&SystemRandom::new(), &message)
            .unwrap()
            .as_ref()
            .to_vec()
    };
    let stranger = rcgen::KeyPair::generate().unwrap();
    let forged = sign(&stranger.serialize_der());
    let genuine = sign(&pki.issuer.key().serialize_der());
    let mut changed = binary.clone();
    changed[100] ^= 1;

    for (signature, bytes, why) in [
        (forged, binary.clone(), "signature does not verify"),
        (genuine, changed, "SHA-256 mismatch"),
    ] {
        let request = AgentUpdateRequest {
            version: "9.9.9".into(),
            arch: arch.into(),
            sha256: digest.clone(),
            signature,
        };
        let err = session
            .channel
            .call_with_stream(
                xfleet_common::methods::agent::UPDATE,
                to_body(&request).unwrap(),
                Bytes::from(bytes),
                Duration::from_secs(10),
                None,
            )
            .await
            .unwrap_err();
        match &err {
            CallError::Remote { code, message, .. } => {
                assert_eq!(code, "invalid_request");
                assert!(message.contains(why), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    let bin = config.data_dir.join("bin");
    let left: Vec<_> = std::fs::read_dir(&bin)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(!config.data_dir.join("update.json").exists());
    let echo = session
        .channel
        .call("echo", b"still here".to_vec(), Duration::from_secs(5), None)
        .await
        .unwrap();
    assert_eq!(echo, b"still here");
    assert!(!session.channel.is_closed());

    shutdown.cancel();
    agent.await.unwrap().unwrap();
}
