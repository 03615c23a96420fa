use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::testutil::TempDir;

fn cache(dir: &TempDir) -> TaskCache {
    TaskCache::open(dir.path().join("tasks")).unwrap()
}

#[tokio::test]
async fn a_completed_task_is_answered_from_the_cache_without_running_again() {
    let dir = TempDir::new("tasks-done");
    let cache = cache(&dir);
    let runs = AtomicUsize::new(0);
    let work = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok(vec![7, 8, 9])
    };
    assert_eq!(
        cache.run("task-1", "echo", work()).await.unwrap(),
        vec![7, 8, 9]
    );
    assert_eq!(
        cache.run("task-1", "echo", work()).await.unwrap(),
        vec![7, 8, 9]
    );
    // A fresh cache over the same directory (an agent restart) answers it too.
    let reopened = TaskCache::open(cache.dir().to_owned()).unwrap();
    assert_eq!(
        reopened.run("task-1", "echo", work()).await.unwrap(),
        vec![7, 8, 9]
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Failures are outcomes too.
    let fail = || async { Err(ErrorBody::new("bad_thing", "it broke")) };
    assert_eq!(
        cache.run("task-2", "x", fail()).await.unwrap_err().code,
        "bad_thing"
    );
    let again = cache.run("task-2", "x", work()).await.unwrap_err();
    assert_eq!(again.code, "bad_thing");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_task_started_but_never_finished_is_interrupted_not_rerun() {
    let dir = TempDir::new("tasks-started");
    let cache = cache(&dir);
    cache.mark_started("task-9", "core.restart").unwrap();
    let err = cache
        .run("task-9", "core.restart", async { panic!("must not run") })
        .await
        .unwrap_err();
    assert_eq!(err.code, code::INTERRUPTED);
    assert!(!err.retryable);
    assert!(err.message.contains("unknown"), "{}", err.message);
}

#[tokio::test]
async fn a_cancelled_task_leaves_only_its_marker() {
    let dir = TempDir::new("tasks-cancel");
    let cache = cache(&dir);
    let marker = cache.started_path("task-c");
    tokio::select! {
        _ = cache.run("task-c", "sleep", std::future::pending()) => panic!("finished"),
        _ = wait_for(|| marker.exists()) => {}
    }
    assert!(matches!(
        cache.lookup("task-c").unwrap(),
        Lookup::Interrupted { .. }
    ));
    // The claim was released with the dropped future.
    let err = cache
        .run("task-c", "sleep", async { Ok(vec![]) })
        .await
        .unwrap_err();
    assert_eq!(err.code, code::INTERRUPTED);
}

#[tokio::test]
async fn a_concurrent_redelivery_is_told_to_retry() {
    let dir = TempDir::new("tasks-busy");
    let cache = cache(&dir);
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let first = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .run("task-b", "sleep", async {
                    let _ = wait.await;
                    Ok(vec![1])
                })
                .await
        })
    };
    let marker = cache.started_path("task-b");
    wait_for(|| marker.exists()).await;
    let err = cache
        .run("task-b", "sleep", async { Ok(vec![2]) })
        .await
        .unwrap_err();
    assert_eq!(err.code, code::BUSY);
    assert!(err.retryable);
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap(), vec![1]);
    assert_eq!(
        cache
            .run("task-b", "sleep", async { Ok(vec![2]) })
            .await
            .unwrap(),
        vec![1]
    );
}

#[tokio::test]
async fn bad_keys_are_refused() {
    let dir = TempDir::new("tasks-keys");
    let cache = cache(&dir);
    for key in ["", "../etc/passwd", "a_b", "a.b", "ключ", &"k".repeat(65)] {
        let err = cache
            .run(key, "echo", async { Ok(vec![]) })
            .await
            .unwrap_err();
        assert_eq!(err.code, code::INVALID_REQUEST, "{key}");
    }
    assert!(validate_key(&"k".repeat(64)).is_ok());
    assert!(validate_key("0b9e-42-Task").is_ok());
}

#[test]
fn pruning_drops_old_entries_then_the_oldest_beyond_the_limit() {
    let dir = TempDir::new("tasks-prune");
    let cache = cache(&dir);
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let age = |key: &str, days: u32| {
        for path in [cache.started_path(key), cache.done_path(key)] {
            if let Ok(file) = std::fs::File::options().write(true).open(&path) {
                file.set_modified(now - day * days).unwrap();
            }
        }
    };
    for (i, days) in [10u32, 8, 3, 2, 1, 0].into_iter().enumerate() {
        let key = format!("t{i}");
        cache.mark_started(&key, "echo").unwrap();
        if i % 2 == 0 {
            cache.record(&key, "echo", &Outcome::Ok(vec![])).unwrap();
        }
        age(&key, days);
    }
    std::fs::write(cache.dir().join(".t9.done.1.0.tmp"), b"x").unwrap();
    age_file(&cache.dir().join(".t9.done.1.0.tmp"), now - day);

    assert_eq!(cache.prune(now, MAX_AGE, MAX_ENTRIES).unwrap(), 2);
    assert_eq!(cache.lookup("t0").unwrap(), Lookup::New);
    assert_eq!(cache.lookup("t1").unwrap(), Lookup::New);
    assert!(!cache.dir().join(".t9.done.1.0.tmp").exists());
    assert_eq!(
        cache.lookup("t2").unwrap(),
        Lookup::Completed(Outcome::Ok(vec![]))
    );

    // Over the entry limit, the oldest go first.
    assert_eq!(cache.prune(now, MAX_AGE, 2).unwrap(), 2);
    assert_eq!(cache.lookup("t3").unwrap(), Lookup::New);
    assert!(matches!(
        cache.lookup("t5").unwrap(),
        Lookup::Interrupted { .. }
    ));
    assert_eq!(
        cache.lookup("t4").unwrap(),
        Lookup::Completed(Outcome::Ok(vec![]))
    );
}

fn age_file(path: &Path, to: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(to)
        .unwrap();
}

/// Polls a condition with a deadline instead of sleeping a fixed time.
async fn wait_for(cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
