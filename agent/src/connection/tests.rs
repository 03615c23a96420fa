use std::sync::Arc;

use xfleet_common::methods::agent;

use super::*;
use crate::handler::AgentHandler;
use crate::testutil::{no_core, Gateway, GatewayMode, TempDir, TestPki};

fn hello() -> Hello {
    Hello {
        agent_version: xfleet_common::VERSION.into(),
        protocol_versions: protocol::SUPPORTED_VERSIONS.to_vec(),
        server_id: 42,
        hostname: "test-host".into(),
        ..Default::default()
    }
}

fn client_tls(pki: &TestPki) -> Arc<ClientConfig> {
    let (cert, key) = pki.client_cert(time::Duration::days(30), false);
    tls::client_config(&cert, &key, &pki.ca_pem).unwrap()
}

#[tokio::test]
async fn dial_handshakes_and_runs_the_channel_both_ways() {
    let pki = Arc::new(TestPki::new("dial"));
    let mut gw = Gateway::start(
        pki.clone(),
        GatewayMode::Welcome {
            heartbeat_ms: 1_000,
        },
    )
    .await;
    let dir = TempDir::new("dial");
    let handler = Arc::new(AgentHandler::new(dir.path(), no_core()).unwrap());

    let (channel, welcome) = dial(&gw.url, client_tls(&pki), hello(), handler)
        .await
        .unwrap();
    assert_eq!(welcome.heartbeat_interval_ms, 1_000);
    let session = gw.next_session().await;
    assert_eq!(session.hello.server_id, 42);

    // Controller → agent, then agent → controller.
    let t = Duration::from_secs(10);
    let echoed = session
        .channel
        .call(agent::ECHO, vec![4, 2], t, None)
        .await
        .unwrap();
    assert_eq!(echoed, vec![4, 2]);
    let err = channel
        .call("nothing.here", vec![], t, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), protocol::code::UNSUPPORTED);
    channel
        .send_event("heartbeat", None, vec![1])
        .await
        .unwrap();
    assert_eq!(gw.next_event().await.body, vec![1]);

    // Closing our side ends the controller's too.
    channel.close("test over");
    tokio::time::timeout(t, session.channel.closed())
        .await
        .unwrap();
}

#[tokio::test]
async fn refusals_are_typed() {
    let pki = Arc::new(TestPki::new("refuse"));
    let dir = TempDir::new("dial-refuse");
    let handler = Arc::new(AgentHandler::new(dir.path(), no_core()).unwrap());
    let cases = [
        (
            GatewayMode::Refuse(503, Some(7), ""),
            DialError::RetryAfter(Duration::from_secs(7)),
        ),
        (
            GatewayMode::Refuse(
                403,
                None,
                r#"{"code":"revoked","message":"certificate revoked"}"#,
            ),
            DialError::Refused {
                status: 403,
                message: "revoked: certificate revoked".into(),
            },
        ),
        (
            GatewayMode::Refuse(401, None, ""),
            DialError::Refused {
                status: 401,
                message: "Unauthorized".into(),
            },
        ),
        (
            GatewayMode::GoAway(1500),
            DialError::GoAway {
                retry_after: Duration::from_millis(1500),
                reason: "restarting".into(),
            },
        ),
    ];
    for (mode, expected) in cases {
        let gw = Gateway::start(pki.clone(), mode).await;
        let err = dial(&gw.url, client_tls(&pki), hello(), handler.clone())
            .await
            .unwrap_err();
        assert_eq!(err, expected);
    }
}

#[tokio::test]
async fn a_bad_client_certificate_is_a_tls_error() {
    let pki = Arc::new(TestPki::new("tls"));
    let other = TestPki::new("stranger");
    let gw = Gateway::start(
        pki.clone(),
        GatewayMode::Welcome {
            heartbeat_ms: 1_000,
        },
    )
    .await;
    let dir = TempDir::new("dial-tls");
    let handler = Arc::new(AgentHandler::new(dir.path(), no_core()).unwrap());

    // Signed by a CA the controller does not know.
    let (cert, key) = other.client_cert(time::Duration::days(1), false);
    let config = tls::client_config(&cert, &key, &pki.ca_pem).unwrap();
    let err = dial(&gw.url, config, hello(), handler.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, DialError::Tls(_)), "{err}");

    // Expired: the message says so.
    let (cert, key) = pki.client_cert(time::Duration::days(1), true);
    let config = tls::client_config(&cert, &key, &pki.ca_pem).unwrap();
    let err = dial(&gw.url, config, hello(), handler.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    // Trusting another CA: the controller's certificate is refused by us.
    let (cert, key) = pki.client_cert(time::Duration::days(1), false);
    let config = tls::client_config(&cert, &key, &other.ca_pem).unwrap();
    let err = dial(&gw.url, config, hello(), handler).await.unwrap_err();
    assert!(
        err.to_string().contains("not issued by the enrolled CA"),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_listening_is_an_io_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let pki = TestPki::new("io");
    let dir = TempDir::new("dial-io");
    let handler = Arc::new(AgentHandler::new(dir.path(), no_core()).unwrap());
    let url = format!("https://127.0.0.1:{port}");
    let err = dial(&url, client_tls(&pki), hello(), handler)
        .await
        .unwrap_err();
    assert!(matches!(err, DialError::Io(_)), "{err}");
}
