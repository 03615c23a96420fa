//! `cpuHistory/{bucket}` (v2.8+) and v3's `history/cpu/{bucket}`: the picked server's CPU as
//! its agent's heartbeats report it (`fleet::cpu`), one sample per heartbeat, averaged into
//! at most 60 buckets. Other metrics of v3's `history` are not kept and say so.

use axum::extract::{Path, Query};
use axum::Json;
use serde_json::json;
use xfleet_common::channel::CallError;

use super::agent_error;
use crate::compat::{pick_server, ServerParam, XuiCall};
use crate::fleet::CpuPoint;
use crate::front::{done, failed, reply, Call, Msg};
use crate::Controller;

/// 3x-ui's bucket sizes, in seconds.
const BUCKETS: [i64; 6] = [2, 30, 60, 120, 180, 300];
/// Points a chart gets at most.
const POINTS: usize = 60;
const ACTION: &str = "Failed to get the CPU history";

const OTHER_METRICS: &str = "xfleet keeps the CPU history of a server only (from its \
    heartbeats): ask for history/cpu/{bucket}; a server's hourly traffic is at GET \
    /api/v1/servers/{id}/history";

/// `[{t, cpu}]`, oldest first, `t` the bucket's start in Unix seconds.
pub async fn cpu_history(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path(bucket): Path<String>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    match points(&ctl, &bucket, &q).await {
        Ok((points, said)) => done(said, points),
        Err(e) => e,
    }
}

/// v3's uniform shape, `[{t, v}]`; only the `cpu` metric is kept.
pub async fn metric_history(
    XuiCall(Call { ctl, .. }): XuiCall,
    Path((metric, bucket)): Path<(String, String)>,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    if metric != "cpu" {
        return failed(
            "Not available",
            format!("no history of `{metric}`: {OTHER_METRICS}"),
        );
    }
    match points(&ctl, &bucket, &q).await {
        Ok((points, said)) => {
            let points: Vec<_> = points
                .into_iter()
                .map(|p| json!({"t": p.t, "v": p.cpu}))
                .collect();
            done(said, points)
        }
        Err(e) => e,
    }
}

/// The picked server's buckets and a line saying where they come from; a bucket 3x-ui does
/// not offer, an unknown server, or one this controller has no sample of is refused.
async fn points(
    ctl: &Controller,
    bucket: &str,
    q: &ServerParam,
) -> Result<(Vec<CpuPoint>, String), Json<Msg>> {
    let bucket = parse_bucket(bucket).map_err(|e| failed(ACTION, e))?;
    let server = pick_server(ctl, q)
        .await
        .map_err(|e| reply::<()>(ACTION, Err(e)))?;
    let every = ctl.config.heartbeat_secs.max(1);
    let mut here = ctl.fleet.cpu_history(server.id, bucket, POINTS);
    if here.is_none() && ctl.cluster.is_shared() {
        // Held by another controller, which keeps its heartbeats.
        here = (ctl
            .cluster
            .cpu_elsewhere(&ctl.store, server.id, bucket, POINTS)
            .await)
            .and_then(|v| serde_json::from_value(v).ok());
    }
    match here {
        Some(points) => Ok((
            points,
            format!(
                "CPU of {} from its agent's heartbeats, one sample every {every} s",
                server.name
            ),
        )),
        // Connected but not heard from yet: nothing to chart, which is the truth.
        None if crate::fleet::reachable(ctl, server.id).await => {
            Ok((Vec::new(), format!("no heartbeat from {} yet", server.name)))
        }
        None => Err(reply::<()>(
            ACTION,
            Err(agent_error(&server, CallError::Offline(String::new()))),
        )),
    }
}

fn parse_bucket(raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|b| BUCKETS.contains(b))
        .ok_or_else(|| {
            let allowed: Vec<String> = BUCKETS.iter().map(i64::to_string).collect();
            format!(
                "`{raw}` is not a bucket; use one of {} (seconds)",
                allowed.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_3x_uis_buckets_are_taken() {
        for b in BUCKETS {
            assert_eq!(parse_bucket(&b.to_string()), Ok(b));
        }
        for bad in ["0", "5", "-2", "two", "", "3600"] {
            let e = parse_bucket(bad).unwrap_err();
            assert!(e.contains("2, 30, 60, 120, 180, 300"), "{bad}: {e}");
        }
    }
}
