//! The Prometheus listener (`metrics_listen`, off by default): `GET /metrics` in Prometheus'
//! text format, anything else 404. Plain HTTP for a private network, with basic auth when
//! `metrics_user` is set. A scrape adds to what [`crate::telemetry`] recorded what is read at
//! that moment: each server's status and last heartbeat, traffic per server and per inbound
//! (never per client: one series per client would not scale), the task queue by state and
//! the agents connected to this controller.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE as PROMETHEUS_TEXT;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use xfleet_common::time::now_ms;

use crate::config::Config;
use crate::store::{InboundBytes, ServerGauge, StoreError, TaskStateCount};
use crate::util::constant_time_eq;
use crate::{https, telemetry, Controller};

/// The credential a scrape must give. `Debug` shows the user only.
#[derive(Clone)]
pub struct Credential {
    user: String,
    password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The listener and its credential when `metrics_listen` is set; `None` when it is not.
/// A user without a password file (or the other way round), an empty password or an
/// address that cannot be bound stop the start with the reason.
pub async fn bind(config: &Config) -> anyhow::Result<Option<(TcpListener, Option<Credential>)>> {
    let addr = config.metrics_listen.trim();
    if addr.is_empty() {
        return Ok(None);
    }
    let credential = credential(config)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind the metrics listener on {addr}"))?;
    Ok(Some((listener, credential)))
}

fn credential(config: &Config) -> anyhow::Result<Option<Credential>> {
    let user = config.metrics_user.trim();
    let file = config.metrics_password_file.trim();
    match (user.is_empty(), file.is_empty()) {
        (true, true) => Ok(None),
        (false, true) => anyhow::bail!(
            "metrics_user is set but metrics_password_file is not: name the file that holds \
             its password"
        ),
        (true, false) => anyhow::bail!(
            "metrics_password_file is set but metrics_user is not: set the user name scrapes \
             give"
        ),
        (false, false) => Ok(Some(Credential {
            user: user.to_owned(),
            password: read_password(Path::new(file))?,
        })),
    }
}

fn read_password(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the metrics password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or("").trim().to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "the metrics password file {} is empty: put the password on its first line",
        path.display()
    );
    Ok(password)
}

/// Serves scrapes until the controller stops.
pub async fn serve(ctl: Arc<Controller>, listener: TcpListener, credential: Option<Credential>) {
    let shutdown = ctl.shutdown.clone();
    https::serve(listener, router(ctl, credential), None, shutdown, "metrics").await;
}

pub fn router(ctl: Arc<Controller>, credential: Option<Credential>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found; metrics are at /metrics\n",
            )
        })
        .with_state((ctl, credential.map(Arc::new)))
}

type ScrapeState = (Arc<Controller>, Option<Arc<Credential>>);

async fn scrape(State((ctl, credential)): State<ScrapeState>, headers: HeaderMap) -> Response {
    if let Some(credential) = &credential {
        if !authorized(&headers, credential) {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "a scrape needs the metrics credential\n",
            )
                .into_response();
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"xfleet metrics\", charset=\"UTF-8\""),
            );
            return r;
        }
    }
    let snapshot = match Snapshot::read(&ctl).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "metrics scrape could not read the database");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the database could not be read: {e}\n"),
            )
                .into_response();
        }
    };
    let mut text = String::with_capacity(16 * 1024);
    let mut registry = Registry::with_prefix(telemetry::PREFIX);
    registry.register_collector(Box::new(snapshot));
    let encoded = telemetry::global()
        .encode(&mut text)
        .and_then(|()| prometheus_client::encoding::prometheus_text::encode(&mut text, &registry));
    if encoded.is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be encoded\n",
        )
            .into_response();
    }
    ([(CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response()
}

/// Whether the request carries `Authorization: Basic` with the user and password.
fn authorized(headers: &HeaderMap, credential: &Credential) -> bool {
    let Some(encoded) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    // Both compared whatever the first gives, so the time taken tells nothing.
    let user_ok = constant_time_eq(user, credential.user.as_bytes());
    let password_ok = constant_time_eq(password, credential.password.as_bytes());
    user_ok & password_ok
}

/// The states every scrape lists, with 0 when no task is in them.
const TASK_STATES: &[&str] = &["pending", "running", "completed", "failed", "expired"];

/// What one scrape read from the database and the live fleet.
#[derive(Debug)]
struct Snapshot {
    now_ms: i64,
    servers: Vec<ServerGauge>,
    /// Heartbeats this controller received and has not yet written, by server.
    unflushed: HashMap<i64, i64>,
    inbounds: Vec<InboundBytes>,
    tasks: Vec<TaskStateCount>,
    agents_connected: usize,
}

impl Snapshot {
    async fn read(ctl: &Controller) -> Result<Self, StoreError> {
        Ok(Self {
            servers: ctl.store.scrape_servers().await?,
            inbounds: ctl.store.scrape_inbound_bytes().await?,
            tasks: ctl.store.scrape_task_states().await?,
            unflushed: ctl.fleet.unflushed_heartbeats(),
            agents_connected: ctl.fleet.connected_count(),
            now_ms: now_ms(),
        })
    }

    /// Each server's labels, by id.
    fn labels(&self) -> HashMap<i64, [(&'static str, String); 2]> {
        self.servers
            .iter()
            .map(|s| {
                (
                    s.id,
                    [("server", s.name.clone()), ("server_id", s.id.to_string())],
                )
            })
            .collect()
    }
}

fn seconds(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let labels = self.labels();
        {
            let mut up = encoder.encode_descriptor(
                "server_up",
                "1 when the server is online (its agent holds a channel to a controller), 0 \
                 otherwise",
                None,
                MetricType::Gauge,
            )?;
            for s in &self.servers {
                let value = i64::from(s.status == "online");
                ConstGauge::new(value).encode(up.encode_family(&labels[&s.id])?)?;
            }
        }
        {
            let mut age = encoder.encode_descriptor(
                "server_heartbeat_age_seconds",
                "Seconds since the server's last heartbeat (absent before its first)",
                None,
                MetricType::Gauge,
            )?;
            for s in &self.servers {
                let last = s.last_seen.max(self.unflushed.get(&s.id).copied());
                if let Some(last) = last {
                    let value = seconds(self.now_ms - last);
                    ConstGauge::new(value).encode(age.encode_family(&labels[&s.id])?)?;
                }
            }
        }
        self.encode_traffic(&mut encoder, &labels)?;
        ConstGauge::new(self.agents_connected as i64).encode(encoder.encode_descriptor(
            "agents_connected",
            "Agents holding a channel to this controller",
            None,
            MetricType::Gauge,
        )?)?;
        self.encode_tasks(&mut encoder)
    }
}

impl Snapshot {
    fn encode_traffic(
        &self,
        encoder: &mut DescriptorEncoder,
        labels: &HashMap<i64, [(&'static str, String); 2]>,
    ) -> std::fmt::Result {
        let mut per_server: HashMap<i64, (i64, i64)> = HashMap::new();
        for i in &self.inbounds {
            let total = per_server.entry(i.server_id).or_default();
            total.0 = total.0.saturating_add(i.up);
            total.1 = total.1.saturating_add(i.down);
        }
        {
            let mut bytes = encoder.encode_descriptor(
                "server_traffic_bytes",
                "Bytes through the server's inbounds since their last reset, by direction \
                 (up: from clients, down: to clients)",
                None,
                MetricType::Counter,
            )?;
            for s in &self.servers {
                let (up, down) = per_server.get(&s.id).copied().unwrap_or_default();
                for (direction, value) in [("up", up), ("down", down)] {
                    let [server, id] = &labels[&s.id];
                    let set = [server.clone(), id.clone(), ("direction", direction.into())];
                    ConstCounter::new(value.max(0) as u64).encode(bytes.encode_family(&set)?)?;
                }
            }
        }
        let mut bytes = encoder.encode_descriptor(
            "inbound_traffic_bytes",
            "Bytes through one inbound (by tag) since its last reset, by direction",
            None,
            MetricType::Counter,
        )?;
        for i in &self.inbounds {
            // Counters of a removed server stay in the table until it is cleaned up.
            let Some([server, id]) = labels.get(&i.server_id) else {
                continue;
            };
            for (direction, value) in [("up", i.up), ("down", i.down)] {
                let set = [
                    server.clone(),
                    id.clone(),
                    ("inbound", i.tag.clone()),
                    ("direction", direction.into()),
                ];
                ConstCounter::new(value.max(0) as u64).encode(bytes.encode_family(&set)?)?;
            }
        }
        Ok(())
    }

    fn encode_tasks(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let by_state: HashMap<&str, &TaskStateCount> =
            self.tasks.iter().map(|t| (t.status.as_str(), t)).collect();
        let mut states: Vec<&str> = TASK_STATES.to_vec();
        // A state written by a newer controller still shows.
        states.extend(
            self.tasks
                .iter()
                .map(|t| t.status.as_str())
                .filter(|s| !TASK_STATES.contains(s)),
        );
        {
            let mut depth = encoder.encode_descriptor(
                "tasks",
                "Tasks in the queue table, by state (pending: waiting for delivery)",
                None,
                MetricType::Gauge,
            )?;
            for state in &states {
                let n = by_state.get(state).map_or(0, |t| t.count);
                ConstGauge::new(n).encode(depth.encode_family(&[("state", *state)])?)?;
            }
        }
        let mut oldest = encoder.encode_descriptor(
            "task_oldest_age_seconds",
            "Age of the oldest task in each state (absent when the state has none)",
            None,
            MetricType::Gauge,
        )?;
        for state in &states {
            if let Some(t) = by_state.get(state) {
                let value = seconds(self.now_ms - t.oldest_created_at);
                ConstGauge::new(value).encode(oldest.encode_family(&[("state", *state)])?)?;
            }
        }
        Ok(())
    }
}

/// For the log line at start: where scrapes go, and whether they need the credential.
pub fn describe(addr: std::net::SocketAddr, credential: &Option<Credential>) -> String {
    let mut s = format!("http://{addr}/metrics");
    if let Some(c) = credential {
        let _ = write!(s, " (basic auth as {})", c.user);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(user: &str, file: &str) -> Config {
        Config {
            metrics_user: user.into(),
            metrics_password_file: file.into(),
            ..Config::default()
        }
    }

    /// A user needs a password file and the other way round; an empty file is refused; the
    /// password is read from the first line and shown nowhere (`Debug` names the user only).
    #[test]
    fn the_credential_is_all_or_nothing() {
        assert!(credential(&config("", "")).unwrap().is_none());
        let err = credential(&config("prometheus", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("metrics_password_file"), "{err}");
        let err = credential(&config("", "/x")).unwrap_err().to_string();
        assert!(err.contains("metrics_user"), "{err}");
        let dir = crate::util::TempDir::new("metrics");
        let file = dir.path().join("password");
        std::fs::write(&file, "\n").unwrap();
        let path = file.to_str().unwrap();
        let err = credential(&config("prometheus", path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty"), "{err}");
        std::fs::write(&file, "s3cret-Value\nignored\n").unwrap();
        let c = credential(&config("prometheus", path)).unwrap().unwrap();
        assert_eq!(c.password, "s3cret-Value");
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = credential(&config("prometheus", "/nonexistent/metrics.password")).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/metrics.password"),
            "{err:#}"
        );
    }

    /// Basic auth passes with the exact user and password only.
    #[test]
    fn only_the_exact_credential_passes() {
        let c = Credential {
            user: "prometheus".into(),
            password: "pa:ss".into(),
        };
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                axum::http::header::AUTHORIZATION,
                HeaderValue::from_str(value).unwrap(),
            );
            h
        };
        let basic = |pair: &str| {
            with(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        };
        assert!(authorized(&basic("prometheus:pa:ss"), &c));
        assert!(!authorized(&basic("prometheus:pa"), &c));
        assert!(!authorized(&basic("other:pa:ss"), &c));
        assert!(!authorized(&basic("prometheus"), &c));
        assert!(!authorized(&with("Bearer pa:ss"), &c));
        assert!(!authorized(&with("Basic !!!"), &c));
        assert!(!authorized(&HeaderMap::new(), &c));
    }
}
