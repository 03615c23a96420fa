use xfleet_common::channel::{memory_pair, CallError, Channel, ChannelConfig};
use xfleet_common::methods::{agent, SystemStats};
use xfleet_common::protocol::to_body;

use super::*;
use crate::testutil::TempDir;

/// A controller-side channel talking to an `AgentHandler` over memory.
fn connect(handler: Arc<AgentHandler>) -> (Channel, Channel) {
    struct Nobody;
    impl Handler for Nobody {
        async fn request(&self, call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
            Err(ErrorBody::unsupported(&call.method))
        }
    }
    let config = |name: &str, first| ChannelConfig {
        name: name.into(),
        max_in_flight: 16,
        send_queue: 16,
        idle_timeout: Duration::from_secs(60),
        first_request_id: first,
    };
    let ((a_sink, a_stream), (b_sink, b_stream)) = memory_pair(16);
    let agent = Channel::start(b_sink, b_stream, handler, config("agent", 2));
    let ctl = Channel::start(a_sink, a_stream, Arc::new(Nobody), config("controller", 1));
    (ctl, agent)
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn methods_answer_over_a_channel() {
    let dir = TempDir::new("handler");
    let (ctl, _agent) = connect(Arc::new(AgentHandler::new(dir.path()).unwrap()));

    let info: AgentInfo =
        from_body(&ctl.call(agent::INFO, vec![], T, None).await.unwrap()).unwrap();
    assert_eq!(info.version, xfleet_common::VERSION);
    assert_eq!(info.pid, std::process::id());
    assert!(!info.arch.is_empty());

    let stats: SystemStats = from_body(
        &ctl.call(agent::SYSTEM_STATS, vec![], T, None)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(stats.mem.total > 0);

    assert_eq!(
        ctl.call(agent::ECHO, vec![1, 2, 3], T, None).await.unwrap(),
        vec![1, 2, 3]
    );
    let slept = ctl
        .call(agent::SLEEP, to_body(&Sleep { ms: 1 }).unwrap(), T, None)
        .await
        .unwrap();
    assert_eq!(from_body::<u64>(&slept).unwrap(), 1);

    let err = ctl.call("teleport", vec![], T, None).await.unwrap_err();
    assert!(matches!(err, CallError::Unsupported(_)), "{err}");
    let err = ctl
        .call(agent::SLEEP, vec![0xc1], T, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), code::INVALID_REQUEST);
    assert!(!ctl.is_closed());
}

#[tokio::test]
async fn a_task_key_runs_once_and_a_bad_key_is_refused() {
    let dir = TempDir::new("handler-task");
    let (ctl, _agent) = connect(Arc::new(AgentHandler::new(dir.path()).unwrap()));
    let key = Some("task-77".to_owned());
    let first = ctl
        .call(agent::ECHO, vec![5], T, key.clone())
        .await
        .unwrap();
    // Same key, different body: the cached answer wins, proving nothing ran again.
    let second = ctl.call(agent::ECHO, vec![6], T, key).await.unwrap();
    assert_eq!((first, second), (vec![5], vec![5]));
    assert!(dir.path().join("tasks/task-77.done").exists());

    let err = ctl
        .call(agent::ECHO, vec![], T, Some("no/slashes".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), code::INVALID_REQUEST);
}

#[tokio::test]
async fn a_cancelled_sleep_stops() {
    let dir = TempDir::new("handler-cancel");
    let handler = Arc::new(AgentHandler::new(dir.path()).unwrap());
    let (ctl, agent) = connect(handler);
    // The caller gives up after 50 ms; the agent must not keep sleeping for an hour.
    let body = to_body(&Sleep { ms: 3_600_000 }).unwrap();
    let err = ctl
        .call(agent::SLEEP, body, Duration::from_millis(50), None)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Timeout(_)));
    // The cancel reaches the agent and its handler stops (no fixed sleep: poll a deadline).
    let deadline = tokio::time::Instant::now() + T;
    while agent.in_flight() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sleep was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        ctl.call(agent::ECHO, vec![1], T, None).await.unwrap(),
        vec![1]
    );
}
