//! A call's latency while a large stream shares its channel (protocol 2, `Chunk`/`Credit`).
//!
//! Two channel engines over one real loopback TLS 1.3 WebSocket, as between controller and
//! agent: the caller measures `echo` round trips (64-byte body, one at a time) while the
//! channel is idle, then while a `call_with_stream` of `mib` MiB runs on the same channel
//! (the receiver reads every chunk, as `core.install` or an agent update does). Rounds
//! alternate idle and streaming so both see the same machine state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use xfleet_common::channel::{Bytes, Channel, ChannelConfig, Handler, IncomingCall};
use xfleet_common::protocol::{to_body, ErrorBody, PROTOCOL_VERSION};

use super::{ms, percentile, raw_echo_client, self_signed_acceptor};

/// Answers `echo`, and `sink` by reading its whole stream.
struct Receiver;

impl Handler for Receiver {
    async fn request(&self, mut call: IncomingCall) -> Result<Vec<u8>, ErrorBody> {
        match call.method.as_str() {
            "echo" => Ok(call.body),
            "sink" => {
                let stream = call
                    .stream
                    .as_mut()
                    .ok_or(ErrorBody::invalid("no stream"))?;
                let mut read = 0u64;
                while let Some(chunk) = stream
                    .next_chunk()
                    .await
                    .map_err(|e| ErrorBody::internal(e.to_string()))?
                {
                    read += chunk.len() as u64;
                }
                to_body(&read)
            }
            other => Err(ErrorBody::unsupported(other)),
        }
    }
}

/// The channel engine over a WebSocket, either end.
fn channel<S>(ws: WebSocketStream<S>, name: &str, first_request_id: u64) -> Channel
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = ChannelConfig {
        name: name.into(),
        max_in_flight: 256,
        send_queue: 64,
        idle_timeout: Duration::from_secs(60),
        first_request_id,
        protocol_version: PROTOCOL_VERSION,
    };
    xfleet_tests::raw::ws_channel(ws, Arc::new(Receiver), config)
}

async fn echo(caller: &Channel) -> anyhow::Result<Duration> {
    let t = Instant::now();
    caller
        .call("echo", vec![7; 64], Duration::from_secs(10), None)
        .await?;
    Ok(t.elapsed())
}

pub async fn run(mib: usize, rounds: usize) -> anyhow::Result<()> {
    println!(
        "# xfleet stream benchmark: echo latency during a {mib} MiB stream on the same channel"
    );
    println!(
        "machine: {} cores; two channel engines over one loopback TLS 1.3 WebSocket",
        std::thread::available_parallelism()?.get()
    );
    let acceptor = self_signed_acceptor()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let accepted = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let tls = acceptor.accept(tcp).await?;
        let ws = tokio_tungstenite::accept_async(tls).await?;
        anyhow::Ok(channel(ws, "receiver", 2))
    });
    let caller = channel(raw_echo_client(port).await?, "caller", 1);
    let _receiver = accepted.await?.context("accept")?;

    let data = Bytes::from(vec![0x5a; mib << 20]);
    for _ in 0..100 {
        echo(&caller).await?; // warm up
    }
    println!(
        "\n| round | idle p50 | idle p99 | during p50 | during p99 | calls during | stream took |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (mut all_idle, mut all_during) = (Vec::new(), Vec::new());
    let mut took_all = Vec::new();
    for round in 1..=rounds {
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(echo(&caller).await?);
        }
        let started = Instant::now();
        let streaming = {
            let (caller, data) = (caller.clone(), data.clone());
            tokio::spawn(async move {
                let answer = caller
                    .call_with_stream("sink", vec![], data, Duration::from_secs(120), None)
                    .await;
                (answer, started.elapsed())
            })
        };
        let mut during = Vec::new();
        while !streaming.is_finished() {
            during.push(echo(&caller).await?);
        }
        let (answer, took) = streaming.await?;
        let read: u64 = rmp_serde::from_slice(&answer?)?;
        anyhow::ensure!(read == data.len() as u64, "the receiver read {read} bytes");
        // The last echo may have started after the stream ended; it still counts as during.
        idle.sort();
        during.sort();
        println!(
            "| {round} | {} | {} | {} | {} | {} | {} |",
            ms(percentile(&idle, 0.5)),
            ms(percentile(&idle, 0.99)),
            ms(percentile(&during, 0.5)),
            ms(percentile(&during, 0.99)),
            during.len(),
            ms(took)
        );
        all_idle.extend(idle);
        all_during.extend(during);
        took_all.push(took);
    }
    all_idle.sort();
    all_during.sort();
    took_all.sort();
    let (idle99, during99) = (percentile(&all_idle, 0.99), percentile(&all_during, 0.99));
    println!(
        "| all | {} | {} | {} | {} | {} | median {} ({:.0} MiB/s) |",
        ms(percentile(&all_idle, 0.5)),
        ms(idle99),
        ms(percentile(&all_during, 0.5)),
        ms(during99),
        all_during.len(),
        ms(percentile(&took_all, 0.5)),
        mib as f64 / percentile(&took_all, 0.5).as_secs_f64()
    );
    println!(
        "\np99 during the stream / idle p99: {:.2}×",
        during99.as_secs_f64() / idle99.as_secs_f64()
    );
    Ok(())
}
