//! Operator commands on the controller host. They act through the running controller's API,
//! authenticated by the local credential it writes to the data directory at start.

use std::path::Path;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::RunInfo;

/// The running controller's API, as seen from its own host.
pub struct LocalApi {
    pub base: String,
    pub token: String,
}

impl LocalApi {
    pub fn from_data_dir(dir: &Path) -> anyhow::Result<Self> {
        let run = std::fs::read(dir.join("run.json")).with_context(|| {
            format!(
                "no running controller found in {} (start it with `xfleet run`, or pass --data-dir)",
                dir.display()
            )
        })?;
        let run: RunInfo = serde_json::from_slice(&run).context("run.json is damaged")?;
        let token = std::fs::read_to_string(dir.join("cli.token")).context(
            "cannot read the local CLI credential (cli.token); run as the controller's user",
        )?;
        Ok(Self {
            base: run.panel_url,
            token: token.trim().to_owned(),
        })
    }

    /// Calls the native API; returns `data` or fails with the API's error message.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let auth = format!("Bearer {}", self.token);
        let (status, bytes) = request(&self.base, method, path, &[("authorization", &auth)], body)
            .await
            .with_context(|| format!("cannot reach the controller at {}", self.base))?;
        let envelope: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("unexpected answer (HTTP {status})"))?;
        if envelope["success"] == json!(true) {
            Ok(envelope["data"].clone())
        } else {
            bail!(
                "{} ({})",
                envelope["error"]["message"]
                    .as_str()
                    .unwrap_or("request failed"),
                envelope["error"]["code"].as_str().unwrap_or("error")
            )
        }
    }
}

/// One plain HTTP/1.1 request with an optional JSON body; returns status and body.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> anyhow::Result<(u16, Bytes)> {
    let authority = base
        .strip_prefix("http://")
        .context("only http:// URLs are supported here")?
        .trim_end_matches('/');
    let tcp = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let payload = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(&b)?)
        }
        None => Bytes::new(),
    };
    let resp = sender.send_request(req.body(Full::new(payload))?).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

pub async fn server_add(
    api: &LocalApi,
    name: &str,
    region: &str,
    tags: &[String],
) -> anyhow::Result<()> {
    let s = api
        .call(
            "POST",
            "/api/v1/servers",
            Some(json!({"name": name, "region": region, "tags": tags})),
        )
        .await?;
    println!(
        "Added server {} (id {}).",
        s["name"].as_str().unwrap_or(name),
        s["id"]
    );
    println!("Next: xfleet token create --server {name}");
    Ok(())
}

pub async fn server_list(api: &LocalApi) -> anyhow::Result<()> {
    let servers = api.call("GET", "/api/v1/servers", None).await?;
    println!(
        "{:<5} {:<24} {:<10} {:<8} {:<14} LAST ERROR",
        "ID", "NAME", "REGION", "STATUS", "VERSION"
    );
    for s in servers.as_array().into_iter().flatten() {
        println!(
            "{:<5} {:<24} {:<10} {:<8} {:<14} {}",
            s["id"],
            s["name"].as_str().unwrap_or(""),
            s["region"].as_str().unwrap_or(""),
            s["status"].as_str().unwrap_or(""),
            s["version"].as_str().unwrap_or("-"),
            s["last_error"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

pub async fn server_revoke(api: &LocalApi, name: &str) -> anyhow::Result<()> {
    let r = api
        .call(
            "POST",
            &format!("/api/v1/servers/{}/revoke", encode(name)),
            None,
        )
        .await?;
    println!(
        "Revoked {} certificate(s) of {name}{}.",
        r["certificates_revoked"],
        if r["disconnected"] == json!(true) {
            "; its live connection was closed"
        } else {
            ""
        }
    );
    Ok(())
}

pub async fn server_remove(api: &LocalApi, name: &str) -> anyhow::Result<()> {
    api.call("DELETE", &format!("/api/v1/servers/{}", encode(name)), None)
        .await?;
    println!("Removed server {name}.");
    Ok(())
}

pub async fn token_create(api: &LocalApi, server: &str, ttl: Option<u64>) -> anyhow::Result<()> {
    let body = ttl.map(|t| json!({"ttl_secs": t}));
    let t = api
        .call(
            "POST",
            &format!("/api/v1/servers/{}/enrollment-tokens", encode(server)),
            body,
        )
        .await?;
    eprintln!("Run this on the VPN host (the token works once, until it expires):");
    println!("{}", t["command"].as_str().unwrap_or_default());
    Ok(())
}

pub async fn healthcheck(dir: &Path) -> anyhow::Result<()> {
    let api = LocalApi::from_data_dir(dir)?;
    let (status, body) = request(&api.base, "GET", "/api/v1/health", &[], None).await?;
    if status != 200 {
        bail!("controller answered HTTP {status}");
    }
    let v: Value = serde_json::from_slice(&body)?;
    println!(
        "ok: xfleet {} with {} agent(s) connected",
        v["data"]["version"].as_str().unwrap_or("?"),
        v["data"]["agents_connected"]
    );
    Ok(())
}

/// Percent-encodes a path segment (server names are plain, but be safe).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
