//! Frames of the agent channel (DESIGN §3).
//!
//! Every WebSocket binary message carries exactly one [`Frame`], encoded as MessagePack with
//! named fields so either side can gain fields without breaking older peers: a new field is
//! `#[serde(default)]`, and unknown fields are ignored by the decoder. An unknown frame *kind*
//! is a protocol error and closes the connection.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks best.
pub const PROTOCOL_VERSION: u32 = 2;
/// Every protocol version this build can speak, oldest first. Version 2 adds streams: a
/// request may carry a byte stream after it ([`Frame::Chunk`], paced by [`Frame::Credit`]).
pub const SUPPORTED_VERSIONS: &[u32] = &[1, 2];
/// The first protocol version with streams.
pub const STREAM_VERSION: u32 = 2;
/// Largest frame either side accepts; larger ones close the connection.
pub const MAX_FRAME_BYTES: usize = 4 << 20;
/// Largest `data` of one [`Frame::Chunk`]; larger ones close the connection.
pub const MAX_CHUNK_BYTES: usize = 64 << 10;
/// Bytes of one stream the sender may have sent beyond what the receiver has read: the
/// receiver grants this much at the start (implicitly) and more, as [`Frame::Credit`], as its
/// handler reads.
pub const STREAM_WINDOW: u64 = 256 << 10;
/// Default number of requests one side may have running on the other at once.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 256;

/// Event topics sent by the agent.
pub mod topic {
    /// Liveness plus basic system metrics ([`crate::methods::Heartbeat`]).
    pub const HEARTBEAT: &str = "heartbeat";
}

/// Typed error codes carried in [`ErrorBody::code`].
pub mod code {
    pub const OFFLINE: &str = "offline";
    pub const TIMEOUT: &str = "timeout";
    pub const CANCELLED: &str = "cancelled";
    pub const BUSY: &str = "busy";
    pub const UNSUPPORTED: &str = "unsupported";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const INTERNAL: &str = "internal";
    /// A redelivered task whose first run was interrupted before its result was recorded.
    pub const INTERRUPTED: &str = "interrupted";
    /// The agent found no usable core binary; the message says what it looked for.
    pub const CORE_UNAVAILABLE: &str = "core_unavailable";
    /// The core was asked to start before any configuration was applied.
    pub const NO_CONFIG: &str = "no_config";
    /// The core's own config test refused a configuration; the message is the core's.
    pub const INVALID_CONFIG: &str = "invalid_config";
    /// A configuration passed the test but the core exited while starting with it.
    pub const CORE_FAILED: &str = "core_failed";
    /// Asked more often than the peer allows; the message says how often, retry later.
    pub const RATE_LIMITED: &str = "rate_limited";
}

/// One message on the channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frame {
    Hello(Hello),
    Welcome(Welcome),
    Request(Request),
    Response(Response),
    Cancel {
        id: u64,
    },
    Event(Event),
    Ack {
        topic: String,
        seq: u64,
    },
    GoAway(GoAway),
    /// Protocol 2: the bytes of the stream of request `id` starting at `offset`, in order,
    /// at most [`MAX_CHUNK_BYTES`], never beyond the credit the receiver gave.
    Chunk {
        id: u64,
        offset: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Protocol 2: the receiver of the stream of request `id` has read `bytes` more; the
    /// sender may send that much more beyond [`STREAM_WINDOW`] and earlier credit.
    Credit {
        id: u64,
        bytes: u64,
    },
}

/// First frame from the agent after the WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Hello {
    pub agent_version: String,
    pub protocol_versions: Vec<u32>,
    /// The server this agent believes it is; must match its certificate.
    pub server_id: i64,
    /// Desired-state revision the agent has applied.
    #[serde(default)]
    pub applied_revision: u64,
    /// Lowest journal sequence not yet acknowledged by the controller, if any.
    #[serde(default)]
    pub unacked_journal_seq: Option<u64>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub core_version: Option<String>,
    /// `xray` or `v2ray`: which options the core can run.
    #[serde(default)]
    pub core_flavour: Option<String>,
    /// The host's interface addresses that are reachable from the internet as they are (not
    /// private, loopback, link-local or shared), IPv4 first: where share links can point when
    /// the operator set no public address. Empty behind NAT; older agents do not send it.
    #[serde(default)]
    pub public_addresses: Vec<String>,
    /// How the last self-update ended, sent until the controller welcomes this agent; older
    /// controllers ignore it.
    #[serde(default)]
    pub update: Option<Box<UpdateReport>>,
}

/// The outcome of an agent self-update (`agent.update`), as the agent that runs afterwards
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UpdateReport {
    /// `updated` or `rolled_back`.
    pub outcome: String,
    /// The version the update was to install.
    pub version: String,
    /// The version that ran before it.
    pub from_version: String,
    /// Why it was rolled back, in the agent's words; empty when updated.
    #[serde(default)]
    pub message: String,
    pub at_ms: i64,
}

impl UpdateReport {
    pub const UPDATED: &'static str = "updated";
    pub const ROLLED_BACK: &'static str = "rolled_back";
}

/// The controller's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u32,
    pub heartbeat_interval_ms: u64,
    pub max_frame_bytes: u64,
    pub max_in_flight: u32,
    pub server_time_ms: i64,
    /// The gateway addresses of every controller of the fleet running now, the one answering
    /// first: where the agent goes when its controller stops answering. Empty from a lone
    /// controller (and from versions before several controllers).
    #[serde(default)]
    pub controllers: Vec<String>,
}

/// A call; `id` is odd when the controller calls and even when the agent calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub method: String,
    /// Time the caller will wait, in milliseconds from receipt.
    pub deadline_ms: u64,
    /// Set for durable tasks: the callee answers a repeated key from its result cache.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Protocol 2: this many bytes follow as [`Frame::Chunk`]s of the same id.
    #[serde(default)]
    pub stream_len: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok(#[serde(with = "serde_bytes")] Vec<u8>),
    Err(ErrorBody),
}

/// A typed failure as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    #[serde(default)]
    pub retryable: bool,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            details: None,
            retryable: false,
        }
    }

    pub fn unsupported(method: &str) -> Self {
        Self::new(code::UNSUPPORTED, format!("unknown method `{method}`"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL, message)
    }
}

/// One-way message: heartbeats, traffic batches, log lines, core state changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub topic: String,
    /// Set for journaled topics; the receiver answers with [`Frame::Ack`].
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// Sent before a side closes on purpose; the agent waits at least `retry_after_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoAway {
    pub retry_after_ms: u64,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES} bytes")]
    TooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Encodes a frame; the only failure is a body type serde cannot express.
pub fn encode(frame: &Frame) -> Vec<u8> {
    rmp_serde::to_vec_named(frame).expect("frames contain only msgpack-expressible types")
}

/// Decodes one frame. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    rmp_serde::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Encodes a method body with named fields.
pub fn to_body<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ErrorBody> {
    rmp_serde::to_vec_named(value).map_err(|e| ErrorBody::internal(format!("encode body: {e}")))
}

/// Decodes a method body, reporting a bad one as `invalid_request`.
pub fn from_body<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ErrorBody> {
    rmp_serde::from_slice(bytes).map_err(|e| ErrorBody::invalid(format!("bad request body: {e}")))
}

/// A JSON value as a method body, for callers that speak JSON (the HTTP APIs, the task queue).
pub fn json_to_body(value: &serde_json::Value) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("JSON values encode as msgpack")
}

/// A method answer as JSON; raw bytes that are not MessagePack come back as
/// `{"base64": …}`.
pub fn body_to_json(bytes: &[u8]) -> serde_json::Value {
    rmp_serde::from_slice(bytes).unwrap_or_else(|_| {
        use base64::Engine;
        serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
    })
}

/// The highest version both sides speak.
pub fn negotiate(offered: &[u32]) -> Option<u32> {
    SUPPORTED_VERSIONS
        .iter()
        .rev()
        .find(|v| offered.contains(v))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Hello(Hello {
                agent_version: "0.1.0".into(),
                protocol_versions: vec![1],
                server_id: 7,
                applied_revision: 3,
                unacked_journal_seq: Some(9),
                capabilities: vec!["journal".into()],
                ..Default::default()
            }),
            Frame::Welcome(Welcome {
                protocol_version: 1,
                heartbeat_interval_ms: 25_000,
                max_frame_bytes: MAX_FRAME_BYTES as u64,
                max_in_flight: 256,
                server_time_ms: 1,
                controllers: vec!["https://ctl-b:2054".into()],
            }),
            Frame::Request(Request {
                id: 1,
                method: "echo".into(),
                deadline_ms: 5000,
                idempotency_key: Some("k".into()),
                body: vec![1, 2, 3],
                stream_len: None,
            }),
            Frame::Request(Request {
                id: 3,
                method: "core.install".into(),
                deadline_ms: 300_000,
                idempotency_key: None,
                body: vec![4],
                stream_len: Some(10 << 20),
            }),
            Frame::Chunk {
                id: 3,
                offset: 65_536,
                data: vec![0x5a; 300],
            },
            Frame::Credit {
                id: 3,
                bytes: STREAM_WINDOW,
            },
            Frame::Response(Response {
                id: 1,
                outcome: Outcome::Ok(vec![9; 40]),
            }),
            Frame::Response(Response {
                id: 3,
                outcome: Outcome::Err(ErrorBody::unsupported("x")),
            }),
            Frame::Cancel { id: 5 },
            Frame::Event(Event {
                topic: "traffic".into(),
                seq: Some(4),
                body: vec![],
            }),
            Frame::Ack {
                topic: "traffic".into(),
                seq: 4,
            },
            Frame::GoAway(GoAway {
                retry_after_ms: 1000,
                reason: "restart".into(),
            }),
        ]
    }

    #[test]
    fn every_frame_round_trips() {
        for frame in samples() {
            assert_eq!(decode(&encode(&frame)).unwrap(), frame);
        }
    }

    #[test]
    fn older_peer_ignores_new_fields_and_newer_peer_defaults_missing_ones() {
        // A Hello from a future agent with an extra field, and without optional ones.
        #[derive(Serialize)]
        struct FutureHello {
            agent_version: &'static str,
            protocol_versions: Vec<u32>,
            server_id: i64,
            shiny_new_field: &'static str,
        }
        #[derive(Serialize)]
        enum F {
            #[serde(rename = "hello")]
            Hello(FutureHello),
        }
        let bytes = rmp_serde::to_vec_named(&F::Hello(FutureHello {
            agent_version: "9.9.9",
            protocol_versions: vec![1, 2],
            server_id: 4,
            shiny_new_field: "x",
        }))
        .unwrap();
        let Frame::Hello(hello) = decode(&bytes).unwrap() else {
            panic!("not a hello")
        };
        assert_eq!(hello.server_id, 4);
        assert_eq!(hello.applied_revision, 0);
        assert_eq!(negotiate(&hello.protocol_versions), Some(2));
        assert_eq!(
            negotiate(&[1]),
            Some(1),
            "an agent of protocol 1 keeps working"
        );
        assert_eq!(negotiate(&[7, 8]), None);
    }

    /// A request from a protocol 1 peer (no `stream_len`) still decodes, as a call without a
    /// stream.
    #[test]
    fn a_request_without_stream_len_has_no_stream() {
        #[derive(Serialize)]
        struct OldRequest {
            id: u64,
            method: &'static str,
            deadline_ms: u64,
            #[serde(with = "serde_bytes")]
            body: Vec<u8>,
        }
        #[derive(Serialize)]
        enum F {
            #[serde(rename = "request")]
            Request(OldRequest),
        }
        let bytes = rmp_serde::to_vec_named(&F::Request(OldRequest {
            id: 2,
            method: "echo",
            deadline_ms: 10,
            body: vec![1],
        }))
        .unwrap();
        let Frame::Request(request) = decode(&bytes).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(request.stream_len, None);
    }

    /// A full chunk, the largest the channel sends, fits in a frame.
    #[test]
    fn a_full_chunk_fits_in_a_frame() {
        let frame = encode(&Frame::Chunk {
            id: u64::MAX,
            offset: u64::MAX,
            data: vec![0xff; MAX_CHUNK_BYTES],
        });
        assert!(frame.len() < MAX_FRAME_BYTES);
    }

    #[test]
    fn unknown_frame_kind_is_an_error() {
        #[derive(Serialize)]
        enum F {
            #[serde(rename = "teleport")]
            Teleport { id: u64 },
        }
        let bytes = rmp_serde::to_vec_named(&F::Teleport { id: 1 }).unwrap();
        assert!(matches!(decode(&bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        assert!(matches!(decode(&big), Err(DecodeError::TooLarge(_))));
    }

    /// Property: decoding never panics, for random bytes and for valid frames with bytes
    /// flipped, cut short or extended.
    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let valid: Vec<Vec<u8>> = samples().iter().map(encode).collect();
        for round in 0..200_000 {
            let bytes: Vec<u8> = match round % 3 {
                0 => {
                    let len = rng.random_range(0..64);
                    (0..len).map(|_| rng.random()).collect()
                }
                1 => {
                    let mut b = valid[rng.random_range(0..valid.len())].clone();
                    for _ in 0..rng.random_range(1..4) {
                        let i = rng.random_range(0..b.len());
                        b[i] = rng.random();
                    }
                    b
                }
                _ => {
                    let b = &valid[rng.random_range(0..valid.len())];
                    let cut = rng.random_range(0..b.len());
                    let mut b = b[..cut].to_vec();
                    // Claim huge lengths: msgpack str32/bin32/array32/map32 markers.
                    b.push([0xdb, 0xc6, 0xdd, 0xdf][rng.random_range(0..4)]);
                    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xf0]);
                    b
                }
            };
            let _ = decode(&bytes);
        }
    }
}
