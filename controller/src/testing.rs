//! Whole controllers for tests of the jobs and the model: a store on each backend (see
//! `store::testing`), a CA and the task queue, without listeners. States queued for servers
//! stay pending, since no agent is connected.

use std::time::Duration;

use crate::config::Config;
use crate::gateway::limit::PerIpWindow;
use crate::gateway::GatewayLimits;
use crate::store::testing::test_stores;
use crate::util::TempDir;
use crate::Controller;

pub(crate) struct TestController {
    pub ctl: Controller,
    pub label: &'static str,
    _dirs: (TempDir, Option<TempDir>),
}

pub(crate) async fn test_controllers() -> Vec<TestController> {
    let mut out = Vec::new();
    for t in test_stores().await {
        let (store, label, store_dir) = t.into_parts();
        let dir = TempDir::new("ctl");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let ctl = Controller {
            gateway_limits: GatewayLimits::new(&config),
            login_limit: PerIpWindow::new(10, Duration::from_secs(60)),
            login_throttle: crate::api::LoginThrottle::new(
                5,
                Duration::from_secs(5 * 60),
                Duration::from_secs(15 * 60),
            ),
            dummy_hash: String::new(),
            sub_limit: PerIpWindow::new(60, Duration::from_secs(60)),
            sub_listener: None,
            panel_tls: None,
            panel_place: Default::default(),
            restart: Default::default(),
            started_at: 0,
            ca: crate::ca::Ca::load_or_create(dir.path()).expect("test CA"),
            config,
            store,
            fleet: Default::default(),
            tasks: Default::default(),
            events: Default::default(),
            gateway_url: "https://127.0.0.1:2054".into(),
            shutdown: Default::default(),
        };
        out.push(TestController {
            ctl,
            label,
            _dirs: (dir, store_dir),
        });
    }
    out
}
