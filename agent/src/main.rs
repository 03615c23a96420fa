//! `xfleet-agent`: enroll this host with a controller, run the agent, or report its state.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use xfleet_agent::config::{AgentConfig, DEFAULT_CONFIG_DIR, DEFAULT_DATA_DIR};
use xfleet_agent::status;
use xfleet_common::time::now_ms;

#[derive(Parser)]
#[command(
    name = "xfleet-agent",
    version = xfleet_agent::update::version::current(),
    about = "xfleet agent: dials out to the controller"
)]
struct Cli {
    /// Directory holding agent.toml, agent.key, agent.pem and ca.pem.
    #[arg(long, global = true, env = "XFLEET_AGENT_CONFIG_DIR", default_value = DEFAULT_CONFIG_DIR)]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll this host with a one-time token from the controller.
    Enroll {
        /// The token shown by the panel or `xfleet token create` (starts with `xft1_`).
        #[arg(long)]
        token: String,
        /// Where the agent keeps task results and its status file.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Replace an existing enrollment.
        #[arg(long)]
        force: bool,
    },
    /// Connect to the controller and serve it until SIGTERM or SIGINT.
    Run,
    /// Print whether this host is enrolled and connected.
    Status,
    /// Exit 0 only if enrolled, connected and the status is fresh.
    Healthcheck,
    /// Watches an agent update on trial and restarts the previous agent if the new one dies
    /// before it connects (started by the agent itself).
    #[command(hide = true)]
    UpdateGuard {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status => {
            for line in status::report(&cli.config_dir, now_ms()) {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck => match status::healthcheck(&cli.config_dir, now_ms()) {
            Ok(line) => {
                println!("healthy: {line}");
                Ok(ExitCode::SUCCESS)
            }
            Err(why) => {
                println!("unhealthy: {why}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Enroll {
            token,
            data_dir,
            force,
        } => {
            runtime().and_then(|rt| rt.block_on(enroll(&cli.config_dir, &token, &data_dir, force)))
        }
        Command::Run => run(&cli.config_dir),
        Command::UpdateGuard { data_dir } => xfleet_agent::update::guard::run(&data_dir)
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::msg),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes in journald or log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn enroll(
    config_dir: &std::path::Path,
    token: &str,
    data_dir: &std::path::Path,
    force: bool,
) -> anyhow::Result<ExitCode> {
    init_logging("info");
    let config = xfleet_agent::enroll::enroll(token, config_dir, data_dir, force).await?;
    let files = config.files();
    println!(
        "enrolled as server {} with {}",
        config.server_id, config.controller_url
    );
    for path in [&files.key, &files.cert, &files.ca, &files.config] {
        println!("  wrote {}", path.display());
    }
    let dir_flag = if config_dir == std::path::Path::new(DEFAULT_CONFIG_DIR) {
        String::new()
    } else {
        format!(" --config-dir {}", config_dir.display())
    };
    println!("start the agent with: xfleet-agent run{dir_flag}");
    Ok(ExitCode::SUCCESS)
}

fn run(config_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = AgentConfig::load(config_dir)?;
    init_logging(&config.log);
    // Before anything else: settle an update that failed, run the committed one.
    xfleet_agent::update::boot(&config.data_dir);
    runtime()?.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        xfleet_agent::run(config, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
}
