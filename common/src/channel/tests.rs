use super::*;
use crate::protocol::{from_body, to_body};
use futures_util::SinkExt;

/// Answers `echo`, sleeps on `sleep`, records events.
#[derive(Default)]
struct TestHandler {
    events: Mutex<Vec<Event>>,
}

impl Handler for TestHandler {
    async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            "echo" => Ok(call.body),
            "sleep" => {
                let ms: u64 = from_body(&call.body)?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                to_body(&ms)
            }
            "fail" => Err(ErrorBody::new("bad_thing", "it broke")),
            other => Err(ErrorBody::unsupported(other)),
        }
    }

    fn event(&self, channel: &Channel, event: Event) {
        if let Some(seq) = event.seq {
            channel.try_send(&Frame::Ack {
                topic: event.topic.clone(),
                seq,
            });
        }
        self.events.lock().unwrap().push(event);
    }
}

fn config(name: &str, first_id: u64, max_in_flight: usize) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        max_in_flight,
        send_queue: 64,
        idle_timeout: Duration::from_secs(30),
        first_request_id: first_id,
        protocol_version: protocol::PROTOCOL_VERSION,
    }
}

fn pair(max_in_flight: usize) -> (Channel, Channel, Arc<TestHandler>, Arc<TestHandler>) {
    let ((a_sink, a_stream), (b_sink, b_stream)) = memory_pair(64);
    let ha = Arc::new(TestHandler::default());
    let hb = Arc::new(TestHandler::default());
    let a = Channel::start(a_sink, a_stream, ha.clone(), config("a", 1, max_in_flight));
    let b = Channel::start(b_sink, b_stream, hb.clone(), config("b", 2, max_in_flight));
    (a, b, ha, hb)
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn both_sides_call_each_other() {
    let (a, b, _, _) = pair(8);
    assert_eq!(
        a.call("echo", vec![1, 2], T, None).await.unwrap(),
        vec![1, 2]
    );
    assert_eq!(b.call("echo", vec![3], T, None).await.unwrap(), vec![3]);
    assert_eq!(
        a.call("nope", vec![], T, None).await,
        Err(CallError::Unsupported("unknown method `nope`".into()))
    );
    let err = b.call("fail", vec![], T, None).await.unwrap_err();
    assert_eq!(err.code(), "bad_thing");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_slow_handler_does_not_block_others() {
    let (a, _b, _, _) = pair(256);
    let slow = {
        let a = a.clone();
        tokio::spawn(async move { a.call("sleep", to_body(&3_000u64).unwrap(), T, None).await })
    };
    let calls = (0..100u8).map(|i| {
        let a = a.clone();
        async move { a.call("echo", vec![i], T, None).await }
    });
    let results = futures_util::future::join_all(calls).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), vec![i as u8]);
    }
    assert!(
        !slow.is_finished(),
        "the fast calls finished while the slow one runs"
    );
    slow.await.unwrap().unwrap();
}

#[tokio::test]
async fn excess_requests_get_busy() {
    let (a, _b, _, _) = pair(2);
    let sleeps: Vec<_> = (0..2)
        .map(|_| {
            let a = a.clone();
            tokio::spawn(async move { a.call("sleep", to_body(&500u64).unwrap(), T, None).await })
        })
        .collect();
    // Give the peer time to start both sleeps, then overflow it.
    let mut busy = false;
    for _ in 0..50 {
        if a.call("echo", vec![], T, None).await == Err(CallError::Busy) {
            busy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(busy, "the third concurrent request is refused as busy");
    for s in sleeps {
        s.await.unwrap().unwrap();
    }
    assert!(a.call("echo", vec![], T, None).await.is_ok());
}

#[tokio::test]
async fn a_timed_out_call_cancels_the_handler() {
    let (a, b, _, _) = pair(8);
    let err = a
        .call(
            "sleep",
            to_body(&60_000u64).unwrap(),
            Duration::from_millis(200),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Timeout(_)));
    // The handler was running when the caller gave up; the Cancel frame stops it.
    for _ in 0..200 {
        if b.in_flight() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the peer's handler is still running after the caller gave up");
}

#[tokio::test]
async fn closing_fails_pending_calls_as_offline() {
    let (a, b, _, _) = pair(8);
    let call = {
        let a = a.clone();
        tokio::spawn(async move { a.call("sleep", to_body(&60_000u64).unwrap(), T, None).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.close("test over");
    let err = call.await.unwrap().unwrap_err();
    assert!(matches!(err, CallError::Offline(_)), "{err:?}");
    assert!(a.closed().await.contains("peer closed"));
    assert!(matches!(
        a.call("echo", vec![], T, None).await,
        Err(CallError::Offline(_))
    ));
}

#[tokio::test]
async fn events_are_delivered_and_acked() {
    let (a, _b, _, hb) = pair(8);
    a.send_event("traffic", Some(7), vec![1]).await.unwrap();
    for _ in 0..200 {
        if !hb.events.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events = hb.events.lock().unwrap();
    assert_eq!(events[0].seq, Some(7));
}

#[tokio::test]
async fn garbage_closes_the_channel_with_a_reason() {
    let ((a_sink, a_stream), (mut raw_sink, _raw_stream)) = memory_pair(8);
    let a = Channel::start(
        a_sink,
        a_stream,
        Arc::new(TestHandler::default()),
        config("a", 1, 8),
    );
    raw_sink.send(vec![0xc1, 0x00, 0xff]).await.unwrap();
    let reason = a.closed().await;
    assert!(reason.contains("malformed frame"), "{reason}");
}

#[tokio::test]
async fn silence_past_the_idle_timeout_closes() {
    let ((a_sink, a_stream), _other) = memory_pair(8);
    let mut cfg = config("a", 1, 8);
    cfg.idle_timeout = Duration::from_millis(100);
    let a = Channel::start(a_sink, a_stream, Arc::new(TestHandler::default()), cfg);
    assert!(a.closed().await.contains("nothing received"));
}

/// A peer that says goodbye (GoAway, or closing its end) is told apart from one that went
/// silent or broke, and from a close of our own.
#[tokio::test]
async fn a_deliberate_close_by_the_peer_is_told_apart() {
    let (a, b, _, _) = pair(8);
    b.go_away(Duration::ZERO, "stopping");
    let reason = a.closed().await;
    assert!(reason.contains("stopping"), "{reason}");
    assert!(a.closed_by_peer(), "a GoAway is a deliberate close");
    assert!(
        !b.closed_by_peer(),
        "the side that closed was not closed by its peer"
    );

    let (a, b, _, _) = pair(8);
    b.close("done");
    a.closed().await;
    assert!(
        a.closed_by_peer(),
        "a cleanly closed transport is a deliberate close"
    );

    let ((a_sink, a_stream), _other) = memory_pair(8);
    let mut cfg = config("a", 1, 8);
    cfg.idle_timeout = Duration::from_millis(100);
    let a = Channel::start(a_sink, a_stream, Arc::new(TestHandler::default()), cfg);
    a.closed().await;
    assert!(!a.closed_by_peer(), "silence is not a goodbye");
}

/// A call error's message leaves out the code, which is stored and shown beside it.
#[tokio::test]
async fn call_error_messages_do_not_repeat_the_code() {
    let (a, b, _, _) = pair(8);
    let err = b.call("fail", vec![], T, None).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message().as_str()),
        ("bad_thing", "it broke")
    );
    let err = a.call("nope", vec![], T, None).await.unwrap_err();
    assert_eq!(err.message(), "unknown method `nope`");
    assert_eq!(CallError::Offline("gone".into()).message(), "gone");
}

// --- streams (protocol 2) ---------------------------------------------------------------

/// Reads streams: `digest` answers the SHA-256 and length of what arrived; `gated` reads one
/// chunk, then waits for the test to open the gate before reading the rest; `watched` hands
/// the stream to a slow reader task of its own that records how reading it ended.
#[derive(Default)]
struct StreamHandler {
    /// Bytes the handlers have read so far.
    read: AtomicU64,
    gate: tokio::sync::Notify,
    /// How the `watched` reader's last read ended.
    ended: Mutex<Option<Result<u64, StreamError>>>,
}

impl StreamHandler {
    /// Digest of `first` (already read) and the rest of `stream`.
    async fn digest(
        &self,
        first: &[u8],
        stream: &mut IncomingStream,
    ) -> Result<Vec<u8>, ErrorBody> {
        use sha2::Digest;
        let mut sha = sha2::Sha256::new();
        sha.update(first);
        let mut len = first.len() as u64;
        while let Some(chunk) = stream
            .next_chunk()
            .await
            .map_err(|e| ErrorBody::internal(e.to_string()))?
        {
            assert!(chunk.len() <= protocol::MAX_CHUNK_BYTES);
            len += chunk.len() as u64;
            self.read.fetch_add(chunk.len() as u64, Ordering::AcqRel);
            sha.update(&chunk);
        }
        to_body(&(len, sha.finalize().to_vec()))
    }
}

impl Handler for Arc<StreamHandler> {
    async fn request(&self, mut call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            "echo" => Ok(call.body),
            "digest" => self.digest(&[], call.stream.as_mut().unwrap()).await,
            "gated" => {
                let stream = call.stream.as_mut().unwrap();
                let first = stream.next_chunk().await.unwrap().unwrap();
                self.read.fetch_add(first.len() as u64, Ordering::AcqRel);
                self.gate.notified().await;
                self.digest(&first, stream).await
            }
            "first_chunk_only" => {
                let chunk = call.stream.as_mut().unwrap().next_chunk().await.unwrap();
                to_body(&chunk.map_or(0, |c| c.len()))
            }
            "watched" => {
                let mut stream = call.stream.take().unwrap();
                let me = self.clone();
                tokio::spawn(async move {
                    let mut read = 0;
                    let ended = loop {
                        match stream.next_chunk().await {
                            Ok(Some(chunk)) => {
                                read += chunk.len() as u64;
                                me.read.fetch_add(chunk.len() as u64, Ordering::AcqRel);
                                // A slow reader: the caller gives up long before the end.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Ok(None) => break Ok(read),
                            Err(e) => break Err(e),
                        }
                    };
                    *me.ended.lock().unwrap() = Some(ended);
                })
                .await
                .unwrap();
                Ok(vec![])
            }
            other => Err(ErrorBody::unsupported(other)),
        }
    }
}

fn stream_pair(version: u32) -> (Channel, Channel, Arc<StreamHandler>) {
    let ((a_sink, a_stream), (b_sink, b_stream)) = memory_pair(64);
    let receiver = Arc::new(StreamHandler::default());
    let mut ca = config("a", 1, 8);
    let mut cb = config("b", 2, 8);
    ca.protocol_version = version;
    cb.protocol_version = version;
    let a = Channel::start(a_sink, a_stream, Arc::new(receiver.clone()), ca);
    let b = Channel::start(b_sink, b_stream, Arc::new(receiver.clone()), cb);
    (a, b, receiver)
}

/// Ten MiB of patterned bytes (not a repeating 64 KiB block, so a chunk out of place or
/// twice changes the digest).
fn ten_mib() -> Bytes {
    (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn digest_of(data: &[u8]) -> (u64, Vec<u8>) {
    use sha2::Digest;
    (data.len() as u64, sha2::Sha256::digest(data).to_vec())
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("still waiting for {what}");
}

/// A 10 MiB stream reaches the handler whole and in order, in chunks no larger than the
/// protocol allows, and both sides forget it afterwards.
#[tokio::test]
async fn a_large_stream_arrives_intact_and_in_order() {
    let (a, b, _) = stream_pair(2);
    let data = ten_mib();
    let answer = a
        .call_with_stream("digest", vec![], data.clone(), T, None)
        .await
        .unwrap();
    assert_eq!(
        from_body::<(u64, Vec<u8>)>(&answer).unwrap(),
        digest_of(&data)
    );
    let empty = a
        .call_with_stream("digest", vec![], Bytes::new(), T, None)
        .await
        .unwrap();
    assert_eq!(from_body::<(u64, Vec<u8>)>(&empty).unwrap(), digest_of(&[]));
    assert!(a.inner.outgoing.lock().unwrap().is_empty());
    wait_for("the receiver to drop the streams", || {
        b.inner.incoming.lock().unwrap().is_empty()
    })
    .await;
}

/// A stream whose length is not a multiple of the credit window arrives whole: the tail
/// beyond the last full window is granted too, however short it is.
#[tokio::test]
async fn a_stream_with_a_short_tail_arrives_whole() {
    let (a, _b, _) = stream_pair(2);
    let all = ten_mib();
    for len in [300 << 10, (1 << 20) + 100, (10 << 20) - 1] {
        let data = all.slice(..len);
        let answer = a
            .call_with_stream("digest", vec![], data.clone(), T, None)
            .await
            .unwrap();
        assert_eq!(
            from_body::<(u64, Vec<u8>)>(&answer).unwrap(),
            digest_of(&data)
        );
    }
}

/// Streams that share a pacer stay under its rate together, and still arrive whole: of two
/// 512 KiB streams at 2 MiB/s, the last chunk can go out only once the 960 KiB before it
/// are paid for (less the pacer's burst).
#[tokio::test]
async fn streams_sharing_a_pacer_keep_to_its_rate_together() {
    let (a, _b, _) = stream_pair(2);
    let pacer = Pacer::new(2 << 20);
    let data = ten_mib().slice(..512 << 10);
    let started = std::time::Instant::now();
    let send = || a.call_with_paced_stream("digest", vec![], data.clone(), Some(&pacer), T, None);
    let (one, two) = tokio::join!(send(), send());
    let took = started.elapsed();
    for answer in [one.unwrap(), two.unwrap()] {
        assert_eq!(
            from_body::<(u64, Vec<u8>)>(&answer).unwrap(),
            digest_of(&data)
        );
    }
    let before_last = Duration::from_secs_f64((1024 - 64) as f64 / 2048.0);
    assert!(
        took >= before_last - Pacer::BURST,
        "1 MiB at 2 MiB/s took only {took:?}"
    );
}

/// While a stream is under way (its reader paused, the sender waiting for credit), another
/// call on the same channel is answered: a stream never holds up the channel.
#[tokio::test]
async fn a_call_during_a_stream_is_answered() {
    let (a, _b, receiver) = stream_pair(2);
    let data = ten_mib();
    let streaming = {
        let (a, data) = (a.clone(), data.clone());
        tokio::spawn(async move { a.call_with_stream("gated", vec![], data, T, None).await })
    };
    wait_for("the first chunk", || {
        receiver.read.load(Ordering::Acquire) > 0
    })
    .await;
    assert_eq!(a.call("echo", vec![42], T, None).await.unwrap(), vec![42]);
    assert!(
        !streaming.is_finished(),
        "the echo was answered while the stream was still being sent"
    );
    assert!(
        (receiver.read.load(Ordering::Acquire) as usize) < data.len(),
        "the stream was not finished when the echo came back"
    );
    receiver.gate.notify_one();
    let answer = streaming.await.unwrap().unwrap();
    assert_eq!(
        from_body::<(u64, Vec<u8>)>(&answer).unwrap(),
        digest_of(&data)
    );
}

/// A handler that reads only part of a stream answers normally; the sender stops sending and
/// the channel goes on working.
#[tokio::test]
async fn a_handler_may_stop_reading_early() {
    let (a, b, _) = stream_pair(2);
    let answer = a
        .call_with_stream("first_chunk_only", vec![], ten_mib(), T, None)
        .await
        .unwrap();
    assert_eq!(
        from_body::<usize>(&answer).unwrap(),
        protocol::MAX_CHUNK_BYTES
    );
    assert_eq!(a.call("echo", vec![1], T, None).await.unwrap(), vec![1]);
    assert!(a.inner.outgoing.lock().unwrap().is_empty());
    assert!(b.inner.incoming.lock().unwrap().is_empty());
}

/// A caller that gives up mid-stream frees both sides: the sender stops, the receiver's
/// handler ends, and its reader is woken with `Cancelled` rather than left waiting.
#[tokio::test]
async fn cancelling_mid_stream_frees_both_sides() {
    let (a, b, receiver) = stream_pair(2);
    let streaming = {
        let a = a.clone();
        tokio::spawn(async move {
            a.call_with_stream("watched", vec![], ten_mib(), T, None)
                .await
        })
    };
    wait_for("the first chunk", || {
        receiver.read.load(Ordering::Acquire) > 0
    })
    .await;
    // The caller gives up: dropping its future cancels the call.
    streaming.abort();
    assert!(streaming.await.unwrap_err().is_cancelled());
    assert!(
        a.inner.outgoing.lock().unwrap().is_empty(),
        "sender forgot it"
    );
    wait_for("the reader to be told", || {
        receiver.ended.lock().unwrap().is_some()
    })
    .await;
    assert_eq!(
        receiver.ended.lock().unwrap().clone(),
        Some(Err(StreamError::Cancelled))
    );
    wait_for("the receiver to drop the stream", || {
        b.inner.incoming.lock().unwrap().is_empty() && b.in_flight() == 0
    })
    .await;
    assert!((receiver.read.load(Ordering::Acquire) as usize) < 10 << 20);
    assert_eq!(a.call("echo", vec![7], T, None).await.unwrap(), vec![7]);
}

/// A peer that speaks protocol 1 is never sent a stream: the call fails as unsupported,
/// saying why, and nothing reaches the peer.
#[tokio::test]
async fn a_protocol_1_channel_refuses_streams() {
    let (a, _b, receiver) = stream_pair(1);
    assert_eq!(a.protocol_version(), 1);
    let err = a
        .call_with_stream("digest", vec![], ten_mib(), T, None)
        .await
        .unwrap_err();
    let CallError::Unsupported(message) = err else {
        panic!("{err:?}")
    };
    assert!(message.contains("protocol 1"), "{message}");
    assert_eq!(receiver.read.load(Ordering::Acquire), 0);
    assert_eq!(a.call("echo", vec![3], T, None).await.unwrap(), vec![3]);
}

/// Frames from a raw peer on a protocol 2 channel: `frames` are sent after a request for
/// `gated` announcing a 1 MiB stream; returns the reason the channel closed.
async fn raw_stream_peer(frames: Vec<Frame>) -> String {
    let ((a_sink, a_stream), (mut raw_sink, _raw_stream)) = memory_pair(64);
    let receiver = Arc::new(StreamHandler::default());
    let a = Channel::start(
        a_sink,
        a_stream,
        Arc::new(receiver.clone()),
        config("a", 1, 8),
    );
    let request = Frame::Request(Request {
        id: 2,
        method: "gated".into(),
        deadline_ms: 60_000,
        idempotency_key: None,
        body: vec![],
        stream_len: Some(1 << 20),
    });
    raw_sink.send(encode(&request)).await.unwrap();
    for frame in frames {
        if raw_sink.send(encode(&frame)).await.is_err() {
            break;
        }
    }
    tokio::time::timeout(T, a.closed()).await.unwrap()
}

fn chunk(offset: u64, len: usize) -> Frame {
    Frame::Chunk {
        id: 2,
        offset,
        data: vec![1; len],
    }
}

/// A peer that sends more than the credit it was given is cut off, and the reason says so;
/// so is one that sends a chunk out of place.
#[tokio::test]
async fn a_peer_that_ignores_credit_is_cut_off() {
    let full = protocol::MAX_CHUNK_BYTES;
    // The handler reads one chunk and waits: the window is all the peer may send.
    let beyond: Vec<Frame> = (0..=(STREAM_WINDOW as usize / full))
        .map(|i| chunk((i * full) as u64, full))
        .collect();
    let reason = raw_stream_peer(beyond).await;
    assert!(reason.contains("beyond the credit"), "{reason}");

    let reason = raw_stream_peer(vec![chunk(0, 10), chunk(20, 10)]).await;
    assert!(reason.contains("at offset 20, expected 10"), "{reason}");
}

/// Chunks of a stream nobody reads (its call ended or never existed) are dropped, and the
/// channel goes on.
#[tokio::test]
async fn chunks_of_an_unknown_stream_are_ignored() {
    let (a, b, _) = stream_pair(2);
    b.send(&Frame::Chunk {
        id: 1000,
        offset: 0,
        data: vec![1; 10],
    })
    .await
    .unwrap();
    assert_eq!(b.call("echo", vec![5], T, None).await.unwrap(), vec![5]);
    assert!(!a.is_closed());
}

/// A stream frame on a protocol 1 channel is a protocol error.
#[tokio::test]
async fn stream_frames_on_a_protocol_1_channel_close_it() {
    let (a, b, _) = stream_pair(1);
    b.send(&Frame::Credit { id: 1, bytes: 10 }).await.unwrap();
    let reason = a.closed().await;
    assert!(reason.contains("protocol 1"), "{reason}");
}
