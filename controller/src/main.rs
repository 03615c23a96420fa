//! `xfleet`: the controller binary.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use xfleet_controller::cli::admin::{self, NewPassword};
use xfleet_controller::cli::{self, data_dir, LocalApi};
use xfleet_controller::config::Config;

#[derive(Parser)]
#[command(
    name = "xfleet",
    version,
    about = "Control plane for fleets of Xray VPN servers"
)]
struct Cli {
    /// Data directory of the controller (also where the CLI finds the running controller).
    /// Other commands than `run` look in ./xfleet-data and /var/lib/xfleet (the systemd
    /// unit's) when it is not given, the one a controller runs from first.
    #[arg(long, global = true, env = "XFLEET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Run(RunArgs),
    /// Manage servers.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Manage enrollment tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Update agents over their channels.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Xray releases the controller holds and sends to agents with `core.install`.
    #[command(subcommand)]
    Core(CoreCommand),
    /// Exit 0 if the controller in the data directory answers.
    Healthcheck,
    /// Write one archive of every table and the CA (keep it private: it holds the CA key).
    /// Works while the controller runs: the tables are read from one snapshot.
    Backup {
        /// The archive to write (a zip, owner-only).
        file: PathBuf,
        /// TOML configuration file, to find a PostgreSQL database.
        #[arg(long, env = "XFLEET_CONFIG")]
        config: Option<PathBuf>,
        /// The database, when it is PostgreSQL (default: SQLite in the data directory).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Restore an archive of `xfleet backup` into an empty database of either backend (SQLite
    /// in the data directory, or PostgreSQL) and the CA into the data directory. The
    /// controller must be stopped. A damaged or foreign file is refused before anything is
    /// written.
    Restore {
        file: PathBuf,
        /// Replace everything in a database that is not empty.
        #[arg(long)]
        force: bool,
        /// TOML configuration file, to find a PostgreSQL database.
        #[arg(long, env = "XFLEET_CONFIG")]
        config: Option<PathBuf>,
        /// The database to restore into, when it is PostgreSQL (default: SQLite in the data
        /// directory).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Import a 3x-ui database (x-ui.db): inbounds, clients with their usage and limits,
    /// IP records, settings and the admin account. Safe to run again.
    #[command(name = "import-3xui")]
    Import3xui {
        /// The 3x-ui database file (usually /etc/x-ui/x-ui.db); it is only read.
        path: PathBuf,
        /// Server to import into, by name or id (all digits are always an id; default: the
        /// local server).
        #[arg(long)]
        server: Option<String>,
        /// TOML configuration file, to find the database when the controller is not running.
        #[arg(long, env = "XFLEET_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// TOML configuration file.
    #[arg(long, env = "XFLEET_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long)]
    panel_listen: Option<String>,
    #[arg(long)]
    gateway_listen: Option<String>,
    /// Public URL agents dial (goes into enrollment tokens).
    #[arg(long)]
    gateway_url: Option<String>,
    /// Name or address for the gateway certificate; repeat for several.
    #[arg(long = "gateway-san")]
    gateway_sans: Vec<String>,
    /// Do not run this host as the "Local server" (single-server mode); manage remote agents
    /// only. Same as `local_server = false`.
    #[arg(long)]
    no_local_server: bool,
    /// First start only: take the admin password from this file, or, when it does not
    /// exist, write the generated one there (owner-only) instead of printing it. Same as
    /// `admin_password_file` (`XFLEET_ADMIN_PASSWORD_FILE`).
    #[arg(long)]
    admin_password_file: Option<PathBuf>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, plain HTTP for a private
    /// network. Same as `metrics_listen` (`XFLEET_METRICS_LISTEN`); off when not set.
    #[arg(long)]
    metrics_listen: Option<String>,
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Add a server to the fleet.
    Add {
        /// 1–64 letters, digits, `-`, `_` or `.`; not all digits (those name an id).
        name: String,
        #[arg(long, default_value = "")]
        region: String,
        /// Comma-separated tags.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
    },
    /// List servers and their status.
    List,
    /// Revoke a server's certificates and cut its connection.
    Revoke {
        /// The server's name or id (all digits are always an id).
        name: String,
    },
    /// Remove a server.
    Remove {
        /// The server's name or id (all digits are always an id).
        name: String,
    },
}

#[derive(Subcommand)]
enum CoreCommand {
    /// Store an Xray release zip (as published, e.g. `Xray-linux-64.zip`) so agents get it
    /// from the controller. The version cannot be read from the zip (its `xray` may be built
    /// for another architecture than this host's), so it comes from `--version` or from the
    /// file name (`Xray-v25.3.6-linux-64.zip`); the architecture from `--arch` or the file
    /// name (`linux-64`: x86_64, `arm64-v8a`: aarch64), else this host's.
    Upload {
        file: PathBuf,
        /// Release version, e.g. 25.3.6.
        #[arg(long)]
        version: Option<String>,
        /// `x86_64` or `aarch64`.
        #[arg(long)]
        arch: Option<String>,
    },
    /// List the releases the controller holds.
    List,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Set a new password for an admin account, whether or not the controller runs; the
    /// account's sessions end and the audit log records it. The password is read from
    /// standard input (asked twice, hidden, on a terminal) unless a flag says otherwise.
    ResetPassword {
        /// The account (default: the first one, created at first start).
        #[arg(long)]
        username: Option<String>,
        /// Read the new password from the first line of this file.
        #[arg(long, conflicts_with = "generate")]
        password_file: Option<PathBuf>,
        /// Generate a new password and print it once.
        #[arg(long)]
        generate: bool,
        /// TOML configuration file, to find a PostgreSQL database.
        #[arg(long, env = "XFLEET_CONFIG")]
        config: Option<PathBuf>,
        /// The database, when it is PostgreSQL (default: SQLite in the data directory).
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Push an agent version to servers: a canary first, then batches; the first failure
    /// pauses the rollout. Follows its progress until it ends or pauses.
    Rollout {
        /// The version to install (default: the newest the controller carries).
        #[arg(long)]
        version: Option<String>,
        /// A server's name or id; repeat for several (default: every server not on it).
        #[arg(long = "server")]
        servers: Vec<String>,
        /// Only servers with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Servers updated first, alone (default 1).
        #[arg(long)]
        canary: Option<i64>,
        /// Servers updated at once after the canary (default 10).
        #[arg(long)]
        batch: Option<i64>,
        /// Start it and return without following it.
        #[arg(long)]
        detach: bool,
    },
    /// List agent rollouts, or show one with each server's state.
    Rollouts {
        #[arg(long)]
        id: Option<i64>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a one-time enrollment token and print the agent command.
    Create {
        /// The server's name or id (all digits are always an id).
        #[arg(long)]
        server: String,
        /// Lifetime in seconds (default 3600).
        #[arg(long)]
        ttl: Option<u64>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let data_dir = || data_dir::find(cli.data_dir.clone());
    match cli.command {
        Command::Run(args) => run(args, cli.data_dir).await,
        Command::Healthcheck => cli::healthcheck(&data_dir()?).await,
        Command::Server(cmd) => {
            let api = LocalApi::from_data_dir(&data_dir()?)?;
            match cmd {
                ServerCommand::Add { name, region, tags } => {
                    cli::server_add(&api, &name, &region, &tags).await
                }
                ServerCommand::List => cli::server_list(&api).await,
                ServerCommand::Revoke { name } => cli::server_revoke(&api, &name).await,
                ServerCommand::Remove { name } => cli::server_remove(&api, &name).await,
            }
        }
        Command::Import3xui {
            path,
            server,
            config,
        } => {
            let config = command_config(config.as_deref(), cli.data_dir, None)?;
            cli::import_3xui(&config, &path, server.as_deref()).await
        }
        Command::Backup {
            file,
            config,
            database_url,
        } => {
            let config = command_config(config.as_deref(), cli.data_dir, database_url)?;
            cli::backup::backup(&config, &file).await
        }
        Command::Restore {
            file,
            force,
            config,
            database_url,
        } => {
            let mut config = Config::load(config.as_deref(), std::env::vars())?;
            if let Some(url) = database_url {
                config.database_url = url;
            }
            // A restore may fill a data directory that does not exist yet.
            if let Some(dir) = cli.data_dir {
                config.data_dir = dir;
            } else if config.data_dir == Config::default().data_dir {
                config.data_dir = data_dir::find(None)?;
            }
            cli::backup::restore(&config, &file, force).await
        }
        Command::Admin(AdminCommand::ResetPassword {
            username,
            password_file,
            generate,
            config,
            database_url,
        }) => {
            let config = command_config(config.as_deref(), cli.data_dir, database_url)?;
            let source = match (password_file, generate) {
                (Some(file), _) => NewPassword::File(file),
                (None, true) => NewPassword::Generate,
                (None, false) => NewPassword::Stdin,
            };
            admin::reset_password(&config, username.as_deref(), source).await
        }
        Command::Core(cmd) => {
            let api = LocalApi::from_data_dir(&data_dir()?)?;
            match cmd {
                CoreCommand::Upload {
                    file,
                    version,
                    arch,
                } => cli::core_upload(&api, &file, version, arch).await,
                CoreCommand::List => cli::core_list(&api).await,
            }
        }
        Command::Agent(cmd) => {
            let api = LocalApi::from_data_dir(&data_dir()?)?;
            match cmd {
                AgentCommand::Rollout {
                    version,
                    servers,
                    tag,
                    canary,
                    batch,
                    detach,
                } => {
                    let args = cli::rollout::RolloutArgs {
                        version,
                        servers,
                        tag,
                        canary,
                        batch,
                        detach,
                    };
                    cli::rollout::rollout(&api, args).await
                }
                AgentCommand::Rollouts { id } => cli::rollout::rollouts(&api, id).await,
            }
        }
        Command::Token(TokenCommand::Create { server, ttl }) => {
            let api = LocalApi::from_data_dir(&data_dir()?)?;
            cli::token_create(&api, &server, ttl).await
        }
    }
}

/// The configuration a command that opens the database uses: the file and `XFLEET_*`
/// variables, the data directory as given, set there, or found ([`data_dir::find`]).
fn command_config(
    file: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
) -> anyhow::Result<Config> {
    let mut config = Config::load(file, std::env::vars())?;
    if let Some(url) = database_url {
        config.database_url = url;
    }
    config.data_dir = match data_dir {
        Some(dir) => dir,
        None if config.data_dir != Config::default().data_dir => config.data_dir,
        None => match data_dir::find(None) {
            Ok(dir) => dir,
            // PostgreSQL needs no data directory to be opened.
            Err(_) if !config.database_url.is_empty() => config.data_dir,
            Err(e) => return Err(e),
        },
    };
    Ok(config)
}

async fn run(args: RunArgs, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    if let Some(v) = args.database_url {
        config.database_url = v;
    }
    if let Some(v) = args.panel_listen {
        config.panel_listen = v;
    }
    if let Some(v) = args.gateway_listen {
        config.gateway_listen = v;
    }
    if let Some(v) = args.gateway_url {
        config.gateway_url = v;
    }
    if !args.gateway_sans.is_empty() {
        config.gateway_sans = args.gateway_sans;
    }
    if args.no_local_server {
        config.local_server = false;
    }
    if let Some(path) = args.admin_password_file {
        config.admin_password_file = path.display().to_string();
    }
    if let Some(v) = args.metrics_listen {
        config.metrics_listen = v;
    }
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // No colour codes in journald, log files or pipes.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        // The same lines, kept for the panel's log viewer.
        let recent = tracing_subscriber::fmt::layer()
            .with_writer(xfleet_controller::log_ring::RingWriter)
            .with_ansi(false);
        tracing_subscriber::registry()
            .with(filter)
            .with(stderr)
            .with(recent)
            .init();
    }
    tracing::debug!(?config, "configuration");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        stop.cancel();
    });
    xfleet_controller::run(config, shutdown).await
}
