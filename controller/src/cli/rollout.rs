//! `xfleet agent rollout` and `xfleet agent rollouts`: agent self-updates through the running
//! controller's API, with progress until the rollout finishes or pauses.

use std::time::Duration;

use serde_json::{json, Value};

use super::LocalApi;

/// What `xfleet agent rollout` asks for.
pub struct RolloutArgs {
    pub version: Option<String>,
    pub servers: Vec<String>,
    pub tag: Option<String>,
    pub canary: Option<i64>,
    pub batch: Option<i64>,
    /// Print the rollout and return instead of following it.
    pub detach: bool,
}

pub async fn rollout(api: &LocalApi, args: RolloutArgs) -> anyhow::Result<()> {
    let mut body = json!({});
    if let Some(v) = &args.version {
        body["version"] = json!(v);
    }
    if !args.servers.is_empty() {
        body["servers"] = json!(args.servers);
    }
    if let Some(t) = &args.tag {
        body["tag"] = json!(t);
    }
    if let Some(c) = args.canary {
        body["canary"] = json!(c);
    }
    if let Some(b) = args.batch {
        body["batch"] = json!(b);
    }
    let r = api
        .call("POST", "/api/v1/agent/rollouts", Some(body))
        .await?;
    let id = r["id"].as_i64().unwrap_or_default();
    println!(
        "Rollout {id}: agent {} to {} server(s), canary {}, batches of {}.",
        r["version"].as_str().unwrap_or("?"),
        r["servers"].as_array().map_or(0, Vec::len),
        r["canary"],
        r["batch_size"]
    );
    if args.detach {
        println!("Follow it with: xfleet agent rollouts --id {id}");
        return Ok(());
    }
    follow(api, id).await
}

/// Prints the counts whenever they change, then each server's outcome once the rollout is
/// no longer running.
async fn follow(api: &LocalApi, id: i64) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let r = api
            .call("GET", &format!("/api/v1/agent/rollouts/{id}"), None)
            .await?;
        let line = format!("{}: {}", r["state"].as_str().unwrap_or("?"), counts(&r));
        if line != last {
            println!("{line}");
            last = line;
        }
        if r["state"] != json!("running") {
            print_servers(&r);
            if let Some(why) = r["message"].as_str() {
                println!("{why}");
            }
            if r["state"] == json!("paused") {
                println!(
                    "Paused. Resume with `POST /api/v1/agent/rollouts/{id}/resume`, or cancel it."
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn counts(r: &Value) -> String {
    let counts = r["counts"].as_object().cloned().unwrap_or_default();
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    parts.join(", ")
}

fn print_servers(r: &Value) {
    println!(
        "{:<5} {:<24} {:<12} {:<12} MESSAGE",
        "ID", "SERVER", "FROM", "STATE"
    );
    for s in r["servers"].as_array().into_iter().flatten() {
        println!(
            "{:<5} {:<24} {:<12} {:<12} {}",
            s["server_id"],
            s["server_name"].as_str().unwrap_or(""),
            s["from_version"].as_str().unwrap_or("-"),
            s["state"].as_str().unwrap_or(""),
            s["message"].as_str().unwrap_or("")
        );
    }
}

/// The recent rollouts, or one with its servers.
pub async fn rollouts(api: &LocalApi, id: Option<i64>) -> anyhow::Result<()> {
    if let Some(id) = id {
        let r = api
            .call("GET", &format!("/api/v1/agent/rollouts/{id}"), None)
            .await?;
        println!(
            "Rollout {id}: agent {}, {} ({})",
            r["version"].as_str().unwrap_or("?"),
            r["state"].as_str().unwrap_or("?"),
            counts(&r)
        );
        if let Some(why) = r["message"].as_str() {
            println!("{why}");
        }
        print_servers(&r);
        return Ok(());
    }
    let list = api.call("GET", "/api/v1/agent/rollouts", None).await?;
    println!(
        "{:<5} {:<14} {:<10} {:<20} MESSAGE",
        "ID", "VERSION", "STATE", "BY"
    );
    for r in list.as_array().into_iter().flatten() {
        println!(
            "{:<5} {:<14} {:<10} {:<20} {}",
            r["id"],
            r["version"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or(""),
            r["created_by"].as_str().unwrap_or(""),
            r["message"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
