use xfleet_common::channel::CallError;
use xfleet_common::methods::{agent, core_methods, SystemStats};
use xfleet_common::protocol::to_body;

use super::*;
use crate::testutil::{connect_handler as connect, no_core, TempDir};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn methods_answer_over_a_channel() {
    let dir = TempDir::new("handler");
    let (ctl, _agent) = connect(Arc::new(AgentHandler::new(dir.path(), no_core()).unwrap()));

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
    let (ctl, _agent) = connect(Arc::new(AgentHandler::new(dir.path(), no_core()).unwrap()));
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
    let handler = Arc::new(AgentHandler::new(dir.path(), no_core()).unwrap());
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

#[tokio::test]
async fn without_a_core_core_calls_say_why_and_stats_report_it() {
    let dir = TempDir::new("handler-nocore");
    let core = Core::Missing("no core found: install Xray".into());
    let (ctl, _agent) = connect(Arc::new(AgentHandler::new(dir.path(), core).unwrap()));
    for method in [
        core_methods::START,
        core_methods::VERSION,
        core_methods::LOGS,
    ] {
        let err = ctl.call(method, vec![], T, None).await.unwrap_err();
        assert_eq!(err.code(), code::CORE_UNAVAILABLE, "{method}");
        assert!(err.to_string().contains("install Xray"), "{err}");
    }
    let err = ctl
        .call("core.teleport", vec![], T, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), code::UNSUPPORTED);
    let stats: SystemStats = from_body(
        &ctl.call(agent::SYSTEM_STATS, vec![], T, None)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats.xray.state, "error");
    assert!(stats.xray.error_msg.contains("install Xray"));
}
