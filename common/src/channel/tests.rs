use super::*;
use crate::protocol::{from_body, to_body};

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
