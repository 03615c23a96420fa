//! A stand-in for the controller's `/v1/connect` on 127.0.0.1:0: mutual TLS against the test
//! CA, WebSocket upgrade (or a scripted refusal), `Hello` → `Welcome`, then a real channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::Message;
use xfleet_common::channel::{Channel, ChannelConfig, Handler, IncomingCall};
use xfleet_common::methods::{self, CertRenewRequest, IssuedCertificate};
use xfleet_common::protocol::{
    decode, encode, from_body, to_body, ErrorBody, Event, Frame, GoAway, Hello, Welcome,
};

use super::TestPki;

#[derive(Clone)]
pub enum GatewayMode {
    Welcome {
        heartbeat_ms: u64,
    },
    /// Refuse the upgrade with this status, optional `Retry-After` and body.
    Refuse(u16, Option<u64>, &'static str),
    /// Answer `Hello` with `GoAway`.
    GoAway(u64),
}

/// One accepted agent connection.
pub struct Session {
    pub hello: Hello,
    pub channel: Channel,
}

pub struct Gateway {
    pub url: String,
    pub sessions: mpsc::UnboundedReceiver<Session>,
    pub events: mpsc::UnboundedReceiver<Event>,
    mode: Arc<Mutex<GatewayMode>>,
}

impl Gateway {
    pub async fn start(pki: Arc<TestPki>, mode: GatewayMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(true));
        let (session_tx, sessions) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let mode = Arc::new(Mutex::new(mode));
        let handler = Arc::new(ControllerSide {
            pki,
            events: event_tx,
        });
        let shared_mode = mode.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, handler) = (acceptor.clone(), handler.clone());
                let (mode, session_tx) = (shared_mode.lock().unwrap().clone(), session_tx.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let refuse = mode.clone();
                    // The error type is tungstenite's callback contract, not ours to box.
                    #[allow(clippy::result_large_err)]
                    let callback = move |req: &Request, resp: Response| {
                        assert_eq!(req.uri().path(), "/v1/connect");
                        match refuse {
                            GatewayMode::Refuse(status, retry, body) => {
                                let mut r = http::Response::builder().status(status);
                                if let Some(s) = retry {
                                    r = r.header("retry-after", s.to_string());
                                }
                                Err::<Response, ErrorResponse>(
                                    r.body(Some(body.to_owned())).unwrap(),
                                )
                            }
                            _ => Ok(resp),
                        }
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tls, callback).await
                    else {
                        return;
                    };
                    let Some(Ok(Message::Binary(bytes))) = ws.next().await else {
                        return;
                    };
                    let Ok(Frame::Hello(hello)) = decode(&bytes) else {
                        panic!("not a Hello")
                    };
                    let answer = match mode {
                        GatewayMode::GoAway(ms) => Frame::GoAway(GoAway {
                            retry_after_ms: ms,
                            reason: "restarting".into(),
                        }),
                        GatewayMode::Welcome { heartbeat_ms } => Frame::Welcome(Welcome {
                            protocol_version: xfleet_common::protocol::PROTOCOL_VERSION,
                            heartbeat_interval_ms: heartbeat_ms,
                            max_frame_bytes: 1 << 20,
                            max_in_flight: 16,
                            server_time_ms: 0,
                            controllers: Vec::new(),
                        }),
                        GatewayMode::Refuse(..) => return,
                    };
                    let go_away = matches!(answer, Frame::GoAway(_));
                    ws.send(Message::binary(encode(&answer))).await.unwrap();
                    if go_away {
                        let _ = ws.close(None).await;
                        return;
                    }
                    let (sink, stream) = ws.split();
                    let sink = sink.with(|b: Vec<u8>| async move {
                        Ok::<_, tokio_tungstenite::tungstenite::Error>(Message::binary(b))
                    });
                    let stream = Box::pin(stream.filter_map(|m| async move {
                        match m {
                            Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                            Ok(_) => None,
                            Err(e) => Some(Err(e.to_string())),
                        }
                    }));
                    let channel = Channel::start(
                        Box::pin(sink),
                        stream,
                        handler,
                        ChannelConfig {
                            name: "agent".into(),
                            max_in_flight: 16,
                            send_queue: 16,
                            idle_timeout: Duration::from_secs(30),
                            first_request_id: 1,
                            protocol_version: xfleet_common::protocol::PROTOCOL_VERSION,
                        },
                    );
                    let _ = session_tx.send(Session { hello, channel });
                });
            }
        });
        Self {
            url,
            sessions,
            events,
            mode,
        }
    }

    /// Changes how later connections are treated.
    pub fn set_mode(&self, mode: GatewayMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The next accepted connection, within a deadline.
    pub async fn next_session(&mut self) -> Session {
        tokio::time::timeout(Duration::from_secs(20), self.sessions.recv())
            .await
            .expect("no agent connected in time")
            .unwrap()
    }

    pub async fn next_event(&mut self) -> Event {
        tokio::time::timeout(Duration::from_secs(20), self.events.recv())
            .await
            .expect("no event in time")
            .unwrap()
    }
}

/// The controller's side of the channel: records events, signs `cert.renew` CSRs.
struct ControllerSide {
    pki: Arc<TestPki>,
    events: mpsc::UnboundedSender<Event>,
}

impl Handler for ControllerSide {
    async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            methods::controller::CERT_RENEW => {
                let req: CertRenewRequest = from_body(&call.body)?;
                let now = time::OffsetDateTime::now_utc();
                let cert_pem = self.pki.sign_csr(
                    &req.csr_pem,
                    Some((
                        now - time::Duration::minutes(1),
                        now + time::Duration::days(30),
                    )),
                );
                to_body(&IssuedCertificate {
                    server_id: 42,
                    cert_pem,
                    ca_pem: self.pki.ca_pem.clone(),
                    serial: "02".into(),
                    not_after_ms: 0,
                })
            }
            other => Err(ErrorBody::unsupported(other)),
        }
    }

    fn event(&self, _channel: &Channel, event: Event) {
        let _ = self.events.send(event);
    }
}
