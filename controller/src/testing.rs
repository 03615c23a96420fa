//! Whole controllers for tests of the jobs and the model: a store on each backend (see
//! `store::testing`), a CA and the task queue, without listeners. States queued for servers
//! stay pending, since no agent is connected.

use std::time::Duration;

use serde_json::json;

use crate::config::Config;
use crate::gateway::GatewayLimits;
use crate::limit::PerIpWindow;
use crate::store::testing::test_stores;
use crate::store::{ClientRow, InboundRow, NewClient, NewInbound, NewServer, Store};
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
        let ca = crate::ca::Ca::load(&store, dir.path())
            .await
            .expect("test CA");
        let ca_key = ca.key_pem().to_owned();
        let ctl = Controller {
            gateway_limits: GatewayLimits::new(&config),
            transfers: crate::dist::Transfers::new(config.transfer_mib_per_sec),
            login_limit: PerIpWindow::new(10, Duration::from_secs(60)),
            login_throttle: crate::front::auth::LoginThrottle::new(
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
            listeners: Vec::new(),
            ca,
            config,
            store,
            fleet: Default::default(),
            tasks: Default::default(),
            cluster: std::sync::Arc::new(crate::cluster::Cluster::alone()),
            agents: Default::default(),
            rollouts: crate::fleet::Rollouts::new(&ca_key),
            events: Default::default(),
            gateway_url: "https://127.0.0.1:2054".into(),
            gateway_key_pin: String::new(),
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

/// A server named `name`, with nothing else set.
pub(crate) async fn add_server(s: &Store, name: &str) -> i64 {
    s.create_server(&NewServer {
        name: name.into(),
        region: String::new(),
        tags: vec![],
        notes: String::new(),
        public_address: String::new(),
    })
    .await
    .unwrap()
    .id
}

/// An enabled VLESS inbound on `port` over TCP, without quota, expiry or resets; callers
/// change what they need with `..new_inbound(server_id, port)`.
pub(crate) fn new_inbound(server_id: i64, port: u16) -> NewInbound {
    NewInbound {
        server_id,
        remark: String::new(),
        enable: true,
        listen: String::new(),
        port,
        protocol: "vless".into(),
        settings: json!({"decryption": "none"}),
        stream_settings: json!({"network": "tcp"}),
        sniffing: json!({}),
        tag: format!("inbound-{port}"),
        total: 0,
        expiry_time: 0,
        traffic_reset: "never".into(),
    }
}

/// An enabled client `email` (with `new`'s other fields) attached to `inbounds`.
pub(crate) async fn add_client(
    s: &Store,
    email: &str,
    new: NewClient,
    inbounds: &[&InboundRow],
) -> ClientRow {
    let row = s
        .create_client(&NewClient {
            email: email.into(),
            sub_id: format!("sub-{email}"),
            uuid: uuid::Uuid::new_v4().to_string(),
            enable: true,
            ..new
        })
        .await
        .unwrap();
    for i in inbounds {
        s.attach_client(row.id, i.id).await.unwrap();
    }
    row
}
