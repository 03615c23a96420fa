//! Composition (the top of DESIGN §11): one router from the front ends' routes, the
//! listeners (panel, agent gateway, subscriptions) and the jobs of one run, started and
//! stopped together. [`run`] restarts them in place when the panel asks.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ca::{self, Ca};
use crate::cluster::{self, Cluster};
use crate::config::{self, place, Config};
use crate::fleet::{self, Fleet};
use crate::front::auth::{check_new_password, hash_password, LoginThrottle};
use crate::front::routes::{self, route, Route};
use crate::front::ApiError;
use crate::gateway::{self, GatewayLimits};
use crate::limit::PerIpWindow;
use crate::store::Store;
use crate::tasks::{self, TaskQueue};
use crate::Controller;
use crate::{api, compat, dist, https, import, jobs, links, local, panel, subscription, util};

/// Name of the API token the local CLI uses; replaced at every start.
pub const CLI_TOKEN_NAME: &str = "local-cli";

/// The native API's route table as the front ends fill it, with the OpenAPI document of it.
pub fn api_routes() -> Vec<Route> {
    let mut all = api::routes();
    all.push(route("GET", "/openapi.json", "This document", get(openapi)).public());
    all.extend(panel::api_routes());
    all.extend(import::routes());
    all
}

async fn openapi() -> Json<Value> {
    Json(routes::document(&api_routes()))
}

/// Everything the panel listener serves: the native API under `/api/v1`, the 3x-ui
/// compatible API and the panel's pages under the base path.
pub fn router(ctl: Arc<Controller>) -> Router {
    let mut v1 = Router::new();
    for r in api_routes() {
        v1 = v1.route(r.path, r.handler);
    }
    let v1 = v1.fallback(|| async { ApiError::NotFound("route") });
    Router::new()
        .nest("/api/v1", v1)
        .merge(compat::router(ctl.clone()))
        .merge(panel::router(&ctl))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(ctl)
}

/// Where a running controller can be reached; also written to `<data_dir>/run.json` for the
/// CLI and for scripts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub pid: u32,
    pub panel_url: String,
    pub gateway_addr: SocketAddr,
    pub gateway_url: String,
    /// The subscription listener (`http(s)://addr:port`), when it runs.
    #[serde(default)]
    pub sub_url: Option<String>,
    /// SHA-256 (hex) of the certificate the panel serves when it is HTTPS: what the local
    /// CLI trusts, as it dials loopback where the certificate's names do not apply.
    #[serde(default)]
    pub panel_cert_sha256: Option<String>,
}

pub struct Running {
    pub info: RunInfo,
    pub controller: Arc<Controller>,
    tasks: tokio::task::JoinSet<()>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Stopped,
    /// [`Controller::restart`] asked for a new run.
    Restart,
}

impl Running {
    /// Waits for shutdown, then asks agents to come back later and flushes state.
    pub async fn wait(mut self) -> Ended {
        let ctl = self.controller.clone();
        ctl.shutdown.cancelled().await;
        ctl.fleet
            .go_away_all(Duration::from_secs(2), "controller shutting down");
        fleet::flush_last_seen(&ctl).await;
        fleet::flush_samples(&ctl).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        ctl.store.close().await;
        if ctl.restart.load(Ordering::SeqCst) {
            Ended::Restart
        } else {
            Ended::Stopped
        }
    }
}

/// Runs the controller until `shutdown`, starting it again in place whenever the panel asks
/// for a restart. A start that fails ends the loop with its error.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        let running = start(config.clone(), shutdown.clone()).await?;
        if running.wait().await == Ended::Stopped || shutdown.is_cancelled() {
            return Ok(());
        }
        tracing::info!("restarting to apply the panel settings");
    }
}

/// Opens the data directory and database, binds the listeners and starts serving.
pub async fn start(mut config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    // A restart ends this run only; the caller's token ends them all.
    let shutdown = shutdown.child_token();
    create_private_dir(&config.data_dir)?;
    let store = Store::open(&config.database_url())
        .await
        .with_context(|| format!("open database {}", config::mask_url(&config.database_url())))?;
    ensure_admin(&store, &config).await?;
    let mut panel_place = place::resolve(&mut config, &store).await?;
    // Before anything else can add a server, so a fresh database gives it id 1.
    let local_server = if config.local_server {
        Some(local::ensure_server(&store).await?)
    } else {
        local::mark_off(&store).await?;
        None
    };
    let trust_key = Some(config.trust_key_file.trim())
        .filter(|f| !f.is_empty())
        .map(ca::TrustKey::from_file)
        .transpose()?;
    let ca = Ca::load_sealed(&store, &config.data_dir, trust_key.as_ref()).await?;
    let agents = dist::AgentCatalog::from_config(&config.agent_binaries_dir)?;
    tracing::info!(
        binaries = agents.list().len(),
        searched = ?agents.searched(),
        "agent binaries to hand out"
    );

    let sans = if config.gateway_sans.is_empty() {
        vec![util::hostname(), "localhost".into(), "127.0.0.1".into()]
    } else {
        config.gateway_sans.clone()
    };
    let tls = gateway::tls_config(&ca, &sans)?;
    let gateway_listener = TcpListener::bind(&config.gateway_listen)
        .await
        .with_context(|| format!("bind agent gateway on {}", config.gateway_listen))?;
    let gateway_addr = gateway_listener.local_addr()?;
    // Before binding: a panel asked to serve HTTPS never comes up in plain HTTP.
    let panel_files = place::panel_tls_files(&config, &store).await?;
    let panel_tls = match &panel_files {
        Some(files) => Some(https::server_tls(files).context("panel TLS")?),
        None => None,
    };
    let panel_listener = place::bind(&mut config, &mut panel_place).await?;
    let panel_addr = panel_listener.local_addr()?;
    let gateway_url = if config.gateway_url.is_empty() {
        let host = &sans[0];
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        format!("https://{host}:{}", gateway_addr.port())
    } else {
        config.gateway_url.trim_end_matches('/').to_owned()
    };

    let (sub_socket, sub_tls) = bind_subscriptions(&config, &store).await?;
    let metrics_socket = crate::metrics::bind(&config).await?;
    let sub_listener = sub_socket.as_ref().and_then(|l| {
        Some(links::SubListener {
            addr: l.local_addr().ok()?,
            tls: sub_tls.is_some(),
        })
    });

    let task_queue = TaskQueue::default();
    task_queue.resume_after(store.highest_task_seq().await?);

    let rollouts = crate::fleet::Rollouts::new(ca.key_pem());
    let panel_url = format!(
        "{}://{}",
        if panel_tls.is_some() { "https" } else { "http" },
        loopback_for(panel_addr)
    );
    let membership = cluster::Membership {
        gateway_url: gateway_url.clone(),
        panel_url: panel_url.clone(),
    };
    let cluster = Arc::new(
        Cluster::join(&store, &ca, &config.data_dir, membership)
            .await
            .context("join the fleet's controllers")?,
    );
    let lease_since = xfleet_common::time::now_ms() - cluster::LEASE.as_millis() as i64;
    let requeued = (store)
        .requeue_running_tasks_left_by(&cluster.id, lease_since)
        .await?;
    if requeued > 0 {
        tracing::info!(
            count = requeued,
            "tasks interrupted by the last stop are queued again"
        );
    }
    let ctl = Arc::new(Controller {
        transfers: crate::dist::Transfers::new(config.transfer_mib_per_sec),
        gateway_limits: GatewayLimits::new(&config),
        login_limit: PerIpWindow::new(10, Duration::from_secs(60)),
        login_throttle: LoginThrottle::new(
            5,
            Duration::from_secs(5 * 60),
            Duration::from_secs(15 * 60),
        ),
        dummy_hash: hash_password(&util::random_secret(16)),
        sub_limit: PerIpWindow::new(config.sub_requests_per_minute, Duration::from_secs(60)),
        sub_listener,
        panel_tls: panel_files,
        panel_place,
        restart: AtomicBool::new(false),
        started_at: xfleet_common::time::now_ms(),
        listeners: [
            ("panel", Some(panel_addr)),
            ("agent gateway", Some(gateway_addr)),
        ]
        .into_iter()
        .chain([("subscriptions", sub_listener.map(|l| l.addr))])
        .chain([(
            "metrics",
            metrics_socket
                .as_ref()
                .and_then(|(l, _)| l.local_addr().ok()),
        )])
        .filter_map(|(name, addr)| Some((name, addr?)))
        .collect(),
        config,
        store,
        ca,
        fleet: Fleet::default(),
        tasks: task_queue,
        cluster: cluster.clone(),
        agents,
        rollouts,
        events: Default::default(),
        gateway_url: gateway_url.clone(),
        gateway_key_pin: tls.key_pin.clone(),
        shutdown,
    });

    // Servers the last run saw online get the grace period to come back before going offline.
    for id in (ctl.store)
        .online_servers_left_by(&cluster.id, lease_since)
        .await?
    {
        fleet::schedule_startup_check(ctl.clone(), id);
    }

    let info = RunInfo {
        pid: std::process::id(),
        panel_url,
        gateway_addr,
        gateway_url,
        sub_url: sub_listener.map(|l| {
            let scheme = if l.tls { "https" } else { "http" };
            format!("{scheme}://{}", loopback_for(l.addr))
        }),
        panel_cert_sha256: panel_tls.as_ref().map(|t| t.leaf_sha256.clone()),
    };
    write_local_credentials(&ctl, &info).await?;

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(gateway::serve(ctl.clone(), gateway_listener, tls.config));
    tasks.spawn(https::serve(
        panel_listener,
        router(ctl.clone()),
        panel_tls.map(|t| t.config),
        ctl.shutdown.clone(),
        "panel",
    ));
    if let Some(listener) = sub_socket {
        tasks.spawn(subscription::serve(ctl.clone(), listener, sub_tls));
    }
    if let Some((listener, credential)) = metrics_socket {
        if let Ok(addr) = listener.local_addr() {
            let at = crate::metrics::describe(addr, &credential);
            tracing::info!(metrics = %at, "serving Prometheus metrics");
        }
        tasks.spawn(crate::metrics::serve(ctl.clone(), listener, credential));
    }
    if let Some(id) = local_server {
        tasks.spawn(local::run(ctl.clone(), id));
    }
    tasks.spawn(
        cluster
            .clone()
            .keep_lease(ctl.store.clone(), ctl.shutdown.clone()),
    );
    let wakes = ctl.clone();
    tasks.spawn(cluster::listen_for_tasks(
        ctl.store.clone(),
        move |server_id| wakes.tasks.notify(server_id),
        ctl.shutdown.clone(),
    ));
    tasks.spawn(orphans_job(ctl.clone()));
    tasks.spawn(fleet::announce_controllers_job(ctl.clone()));
    tasks.spawn(tasks::expiry_job(ctl.clone()));
    tasks.spawn(jobs::limits_job(ctl.clone()));
    tasks.spawn(jobs::history_job(ctl.clone()));
    tasks.spawn(jobs::backups::backup_job(ctl.clone()));
    tasks.spawn(crate::fleet::rollout::run_job(ctl.clone()));
    tasks.spawn(panel::events_job(ctl.clone()));
    tasks.spawn(crate::bot::run(ctl.clone()));
    let flush = ctl.clone();
    tasks.spawn(async move {
        let every = Duration::from_secs(flush.config.last_seen_flush_secs.max(1));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    fleet::flush_last_seen(&flush).await;
                    fleet::flush_samples(&flush).await;
                }
                _ = flush.shutdown.cancelled() => return,
            }
        }
    });
    tracing::info!(
        panel = %info.panel_url,
        gateway = %gateway_addr,
        url = %info.gateway_url,
        subscriptions = info.sub_url.as_deref().unwrap_or("off"),
        "xfleet controller running"
    );
    Ok(Running {
        info,
        controller: ctl,
        tasks,
    })
}

/// Servers whose controller died (its lease ran out) and that no other controller took over
/// within the grace period go offline; rows of controllers gone a day are forgotten. Run by
/// the leader, every few seconds.
async fn orphans_job(ctl: Arc<Controller>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(cluster::RENEW) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
        if !ctl.cluster.is_shared() || !ctl.cluster.is_leader() {
            continue;
        }
        let now = xfleet_common::time::now_ms();
        let lease_since = now - cluster::LEASE.as_millis() as i64;
        let grace = Duration::from_secs(ctl.config.offline_grace_secs).max(cluster::LEASE);
        let seen_since = now - grace.as_millis() as i64;
        let orphans = match ctl.store.orphaned_servers(lease_since, seen_since).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for servers of stopped controllers");
                continue;
            }
        };
        for id in orphans {
            let reason = "its controller stopped and the agent has not connected to another";
            match ctl.store.mark_orphan_offline(id, reason, lease_since).await {
                Ok(true) => tracing::info!(server_id = id, reason, "server offline"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(server_id = id, error = %e, "could not mark server offline")
                }
            }
        }
        let _ = ctl.store.forget_controllers(now - 86_400_000).await;
    }
}

/// Binds the subscription listener when `subEnable` is on. A port taken by something else
/// or unusable TLS files are logged and the rest of the controller runs: the files are set
/// from the panel, which must stay up to fix them, and falling back to plain HTTP would send
/// the links in the clear where TLS was asked for.
async fn bind_subscriptions(
    config: &Config,
    store: &Store,
) -> anyhow::Result<(Option<TcpListener>, Option<Arc<rustls::ServerConfig>>)> {
    let settings = links::SubSettings::load(store).await?;
    if !settings.enable {
        return Ok((None, None));
    }
    let tls = if settings.tls() {
        match settings.server_tls() {
            Ok(tls) => Some(tls.config),
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "subscription server not started: its TLS files cannot be used"
                );
                return Ok((None, None));
            }
        }
    } else {
        None
    };
    let addr = settings.bind_address(config);
    match TcpListener::bind(&addr).await {
        Ok(listener) => Ok((Some(listener), tls)),
        Err(e) => {
            tracing::error!(%addr, error = %e, "subscription server not started: cannot bind");
            Ok((None, None))
        }
    }
}

/// Creates the first admin account. Its password is the operator's when
/// `admin_password_file` names a file that exists; otherwise it is generated, marked as one
/// to change, and written to that file (owner-only) or, without one, printed once.
async fn ensure_admin(store: &Store, config: &Config) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    let file = Some(config.admin_password_file.trim())
        .filter(|f| !f.is_empty())
        .map(std::path::PathBuf::from);
    let given = match &file {
        Some(path) if path.exists() => Some(read_admin_password(path)?),
        _ => None,
    };
    let generated = given.is_none();
    let password = given.unwrap_or_else(|| util::random_secret(12));
    if let (true, Some(path)) = (generated, &file) {
        // Written before the account exists: a start that fails here leaves no account
        // whose password nobody has.
        util::write_private(path, format!("{password}\n").as_bytes())
            .with_context(|| format!("write the admin password to {}", path.display()))?;
    }
    let id = store
        .create_user("admin", &hash_password(&password))
        .await?;
    match (&file, generated) {
        (Some(path), false) => println!(
            "Created the admin account. Username: admin, with the password from {}",
            path.display()
        ),
        (Some(path), true) => println!(
            "Created the admin account. Username: admin; its generated password is in {} \
             (readable only by this user). Change it after the first login.",
            path.display()
        ),
        (None, _) => {
            println!("Created the admin account. Username: admin  Password: {password}");
            println!("This password is shown only once. Change it after the first login.");
        }
    }
    if generated {
        store.require_password_change(id).await?;
    }
    Ok(())
}

/// The operator's first admin password: the file's first line, held to the rules of any
/// new password.
fn read_admin_password(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the admin password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or("").to_owned();
    check_new_password(&password)
        .map_err(|e| anyhow::anyhow!("the admin password in {}: {e}", path.display()))?;
    Ok(password)
}

/// `run.json` and a fresh API token for the local CLI, readable only by the owner.
async fn write_local_credentials(ctl: &Controller, info: &RunInfo) -> anyhow::Result<()> {
    let admin = ctl.store.first_user().await?.context("no admin account")?;
    let dir = &ctl.config.data_dir;
    if ctl.cluster.is_shared() {
        // Only this controller's own, named by its data directory's credential: another
        // controller's start must not end the CLI of this one.
        if let Ok(old) = std::fs::read_to_string(dir.join("cli.token")) {
            let hash = xfleet_common::enrollment::sha256_hex(old.trim().as_bytes());
            ctl.store.delete_api_token_with_hash(&hash).await?;
        }
    } else {
        ctl.store.delete_api_tokens_named(CLI_TOKEN_NAME).await?;
    }
    let secret = format!("xfa_{}", util::random_secret(32));
    ctl.store
        .create_api_token(
            CLI_TOKEN_NAME,
            &xfleet_common::enrollment::sha256_hex(secret.as_bytes()),
            "admin",
            admin.id,
        )
        .await?;
    util::write_private(&dir.join("cli.token"), secret.as_bytes())?;
    util::write_private(&dir.join("run.json"), &serde_json::to_vec_pretty(info)?)?;
    Ok(())
}

/// Creates the data directory owner-only. One that already exists keeps its mode, as the
/// operator set it; when others may enter it, the operator is told (the files in it are
/// created owner-only either way).
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create data directory {}", dir.display()))?;
    if let Some(mode) = util::open_to_others(dir)
        .with_context(|| format!("read the mode of data directory {}", dir.display()))?
    {
        tracing::warn!(
            "the data directory {} has mode {mode:04o}: it is open to other users of this \
             host, who may see what is in it and read what is not owner-only (the database, \
             the CA key and the credentials are owner-only). Run `chmod 700 {}`",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

/// An address the local CLI can dial: the wildcard becomes loopback.
fn loopback_for(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}
