//! Import of a 3x-ui database (`x-ui.db`, v2 or v3) into one server: its inbounds, clients
//! with their counters, limits and address records, its outbounds' traffic counters, its core
//! template (`template`), the settings xfleet has a use for, and the admin account. Anything that would be refused is skipped with the reason; what is
//! already there is left alone, so running it again changes nothing. Reached from the
//! native API ([`routes`]) and, with the controller stopped, from `xfleet import-3xui`.

mod clients;
mod panel;
mod route;
mod settings;
mod source;
mod template;
mod write;

pub use route::routes;
pub use template::{Named, TemplateOutcome};

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fleet::desired;
use crate::store::{ServerRow, Store, StoreError};
use crate::util::TempDir;
use crate::Controller;

use source::Source;

/// Largest database the API takes (3x-ui databases with tens of thousands of clients stay
/// well below it).
pub const MAX_DB_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the file as an SQLite database: {0}")]
    Unreadable(String),
    #[error("not a 3x-ui database: it has no `inbounds` table")]
    NotXui,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

/// How many rows of each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub inbounds: u64,
    pub clients: u64,
    /// Client ↔ inbound attachments.
    pub attachments: u64,
    /// Inbounds whose traffic counters were set from 3x-ui's.
    pub inbound_counters: u64,
    /// Clients whose traffic counters on this server were set from 3x-ui's.
    pub client_counters: u64,
    pub ip_records: u64,
    /// Outbounds whose traffic counters on this server were set from 3x-ui's.
    #[serde(default)]
    pub outbound_counters: u64,
    /// The core template (see [`ImportReport::template`]).
    #[serde(default)]
    pub templates: u64,
    pub settings: u64,
    pub admin_accounts: u64,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `2 inbounds, 5 clients, …`, leaving out what is zero.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |n: u64, one: &str, many: &str| {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        add(self.inbounds, "inbound", "inbounds");
        add(self.clients, "client", "clients");
        add(self.attachments, "attachment", "attachments");
        add(
            self.inbound_counters,
            "inbound's traffic counters",
            "inbounds' traffic counters",
        );
        add(
            self.client_counters,
            "client's traffic counters",
            "clients' traffic counters",
        );
        add(self.ip_records, "IP record", "IP records");
        add(
            self.outbound_counters,
            "outbound's traffic counters",
            "outbounds' traffic counters",
        );
        add(self.templates, "core template", "core templates");
        add(self.settings, "setting", "settings");
        add(self.admin_accounts, "admin account", "admin accounts");
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Something left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub item: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportReport {
    pub server_id: i64,
    pub server_name: String,
    /// `3x-ui v2` (clients inside inbounds) or `3x-ui v3` (a `clients` table).
    pub source: String,
    /// Rows created (counters are set only where a row was created).
    pub imported: Counts,
    /// Rows that were already there and were left as they are.
    pub unchanged: Counts,
    /// One line per imported inbound, client and account.
    pub items: Vec<String>,
    pub skipped: Vec<Skip>,
    /// Things the operator should know (e.g. the admin password changed).
    pub notes: Vec<String>,
    /// The server's new revision when the import changed its desired state.
    pub revision: Option<i64>,
    /// What became of the core template (`xrayTemplateConfig`), when the database has one.
    #[serde(default)]
    pub template: Option<TemplateOutcome>,
}

impl ImportReport {
    fn skip(&mut self, item: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skip {
            item: item.into(),
            reason: reason.into(),
        });
    }

    /// Whether the server's desired state (inbounds, attachments, usage) changed.
    pub fn changes_state(&self) -> bool {
        let n = &self.imported;
        n.inbounds + n.attachments + n.client_counters > 0
    }
}

/// Reads the database at `db` (never writing to it) and imports it into `server`, in one
/// transaction that also gives the server a new revision when its state changed: an agent
/// behind it gets the state on its next connection. No core can test the core template here,
/// so it is stored untested (`template::store_unchecked`). [`import_and_push`] is the
/// import on the running controller.
pub async fn import_3xui(
    store: &Store,
    db: &Path,
    server: &ServerRow,
) -> Result<ImportReport, ImportError> {
    let data = read(db).await?;
    let mut report = ImportReport::new(server, &data);
    write::apply(
        store,
        server,
        &data,
        &mut report,
        write::Template::Unchecked,
    )
    .await?;
    Ok(report)
}

/// The import on the running controller: the rows in one transaction, then the core template
/// through the model (tested by the server's core first, pushed to the servers it reaches),
/// then the server's new state is queued (at a revision of its own, as every change is).
pub async fn import_and_push(
    ctl: &Controller,
    db: &Path,
    server: &ServerRow,
    actor: &str,
) -> Result<ImportReport, ImportError> {
    let data = read(db).await?;
    let mut report = ImportReport::new(server, &data);
    write::apply(
        &ctl.store,
        server,
        &data,
        &mut report,
        write::Template::Later,
    )
    .await?;
    let mut pushed = false;
    if let Some(text) = data.template() {
        let mut c = ctl.store.pool().acquire().await?;
        let step = template::plan(&mut c, server, text).await?;
        drop(c);
        let outcome = match step {
            template::Step::Done(outcome) => outcome,
            template::Step::Apply(plan) => {
                template::apply_checked(ctl, server, plan, actor).await?
            }
        };
        pushed = matches!(outcome.action.as_str(), "fleet" | "server")
            && outcome.servers.iter().any(|s| s.id == server.id);
        template::record(&mut report, outcome);
    }
    if report.changes_state() && !pushed {
        let task = desired::push(ctl, server.id, actor).await?;
        tracing::info!(server = server.id, task = %task.id, "3x-ui import queued the server's new state");
    }
    if report.changes_state() || pushed {
        report.revision = Some(ctl.store.server(server.id).await?.revision);
    }
    Ok(report)
}

async fn read(db: &Path) -> Result<source::Snapshot, ImportError> {
    let mut source = Source::open(db).await?;
    let data = source::Snapshot::read(&mut source).await;
    source.close().await;
    data
}

impl ImportReport {
    fn new(server: &ServerRow, data: &source::Snapshot) -> Self {
        Self {
            server_id: server.id,
            server_name: server.name.clone(),
            source: if data.v3 { "3x-ui v3" } else { "3x-ui v2" }.into(),
            ..Default::default()
        }
    }
}

/// A temporary directory only this user can enter, for copies of x-ui.db (it holds secrets).
pub fn private_temp_dir() -> std::io::Result<TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("import");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

#[cfg(test)]
mod tests;
