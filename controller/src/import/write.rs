//! The import's writes, in one transaction: inbounds matched by tag, clients by email,
//! attachments by pair; counters and address records only where none were recorded.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use sqlx::AnyConnection;
use xfleet_common::state::InboundSpec;
use xfleet_common::time::now_ms;
use xfleet_common::xray::{self, Flavour};

use super::clients::{self, describe_client, key, key_name};
use super::source::{Snapshot, XuiInbound};
use super::{template, ImportError, ImportReport};
use crate::model::{InboundInput, Problems};
use crate::store::fleet_write;
use crate::store::{ClientRow, NewClient, NewInbound, ServerRow, Store};

/// Protocols whose clients are client rows (attached to the inbound).
const WITH_CLIENTS: &[&str] = &[
    "vmess",
    "vless",
    "trojan",
    "shadowsocks",
    "hysteria",
    "hysteria2",
];

/// An inbound already on the server.
#[derive(sqlx::FromRow)]
struct Present {
    id: i64,
    tag: String,
    port: i64,
    listen: String,
    protocol: String,
}

/// A client handled earlier in this run.
pub(super) enum Seen {
    /// With the secrets it is stored with.
    Stored {
        id: i64,
        client: Box<NewClient>,
    },
    Refused,
}

pub(super) struct Run<'a> {
    pub server: &'a ServerRow,
    pub data: &'a Snapshot,
    flavour: Flavour,
    present: Vec<Present>,
    pub seen: HashMap<String, Seen>,
    /// The first spelling of each email met, by its lower case: the core keys clients by
    /// lower-case email, so a second spelling is not imported.
    spellings: HashMap<String, String>,
    /// Clients whose counters were looked at.
    counted: HashSet<String>,
    /// Emails mended to fit xfleet's rules: 3x-ui's spelling to the one stored.
    pub renamed: HashMap<String, String>,
    pub now: i64,
}

/// What [`apply`] does with the core template.
pub(super) enum Template {
    /// Stores it in the transaction, untested (the controller is not running).
    Unchecked,
    /// Leaves it to the caller, which has the cores test it.
    Later,
}

pub(super) async fn apply(
    store: &Store,
    server: &ServerRow,
    data: &Snapshot,
    report: &mut ImportReport,
    template: Template,
) -> Result<(), ImportError> {
    let now = now_ms();
    let mut tx = store.pool().begin().await?;
    // Write first: on SQLite a transaction that has read cannot become the writer once
    // another connection has written, so take the write lock before reading anything.
    let touched = sqlx::query("UPDATE servers SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(server.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if touched == 0 {
        return Err(crate::store::StoreError::NotFound("server").into());
    }
    let present: Vec<Present> = sqlx::query_as(
        "SELECT id, tag, port, listen, protocol FROM inbounds WHERE server_id = $1 ORDER BY id",
    )
    .bind(server.id)
    .fetch_all(&mut *tx)
    .await?;
    let mut run = Run {
        server,
        data,
        flavour: crate::model::host::flavour(server),
        present,
        seen: HashMap::new(),
        spellings: HashMap::new(),
        counted: HashSet::new(),
        renamed: HashMap::new(),
        now,
    };
    for inbound in &data.inbounds {
        run.inbound(&mut tx, inbound, report).await?;
    }
    for email in &data.unattached {
        report.skip(format!("client `{email}`"), "it is attached to no inbound");
    }
    run.ips(&mut tx, report).await?;
    run.settings(&mut tx, report).await?;
    run.admin(&mut tx, report).await?;
    run.outbound_counters(&mut tx, report).await?;
    let mut assigned = false;
    if let (Template::Unchecked, Some(text)) = (template, data.template()) {
        let outcome = match template::plan(&mut tx, server, text).await? {
            template::Step::Done(outcome) => outcome,
            template::Step::Apply(plan) => {
                template::store_unchecked(&mut tx, server, plan, now).await?
            }
        };
        assigned = matches!(outcome.action.as_str(), "fleet" | "server");
        template::record(report, outcome);
    }
    if report.changes_state() || assigned {
        // With the data, so the server's new state is never lost, controller running or not.
        let (revision,): (i64,) = sqlx::query_as(
            "UPDATE servers SET revision = revision + 1 WHERE id = $1 RETURNING revision",
        )
        .bind(server.id)
        .fetch_one(&mut *tx)
        .await?;
        report.revision = Some(revision);
    }
    tx.commit().await?;
    Ok(())
}

impl Run<'_> {
    /// 3x-ui's outbound counters (`outbound_traffics`), where this server has none for the
    /// tag yet: a second import, or one after the agent counted, adds nothing.
    async fn outbound_counters(
        &mut self,
        c: &mut AnyConnection,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        for o in &self.data.outbounds {
            let n = sqlx::query(
                "INSERT INTO outbound_traffic (server_id, tag, up, down) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (server_id, tag) DO NOTHING",
            )
            .bind(self.server.id)
            .bind(&o.tag)
            .bind(o.up)
            .bind(o.down)
            .execute(&mut *c)
            .await?
            .rows_affected();
            if n > 0 {
                report.imported.outbound_counters += 1;
            } else {
                report.unchanged.outbound_counters += 1;
            }
        }
        Ok(())
    }
}

/// Parses one of an inbound's JSON columns; empty is an absent object.
fn json_column(name: &str, text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| format!("invalid JSON in `{name}`: {e}"))
}

/// Whether two listen addresses can collide on one port.
fn shared(a: &str, b: &str) -> bool {
    let any = |l: &str| matches!(l, "" | "0.0.0.0" | "::");
    a == b || any(a) || any(b)
}

impl Run<'_> {
    async fn inbound(
        &mut self,
        c: &mut AnyConnection,
        x: &XuiInbound,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        let label = format!("inbound `{}` ({}, port {})", x.tag, x.protocol, x.port);
        let raw_clients = match self.prepare_inbound(x) {
            Ok((input, raw_clients)) => Some((input, raw_clients)),
            Err(reason) => {
                report.skip(&label, reason);
                None
            }
        };
        let Some((input, raw_clients)) = raw_clients else {
            self.skip_clients_of(x, report);
            return Ok(());
        };
        let tag = input.effective_tag();
        let port = input.port;
        let existing = self.present.iter().find(|p| p.tag == tag);
        let inbound_id = match existing {
            Some(p) if p.port == port && p.protocol == input.protocol => Some(p.id),
            Some(p) => {
                report.skip(
                    &label,
                    format!(
                        "this server already has a different inbound tagged `{tag}` ({}, port {})",
                        p.protocol, p.port
                    ),
                );
                self.skip_clients_of(x, report);
                return Ok(());
            }
            None => {
                let clash = self
                    .present
                    .iter()
                    .find(|p| p.port == port && shared(&p.listen, input.listen.trim()));
                if let Some(p) = clash {
                    report.skip(
                        &label,
                        format!(
                            "port {port} is already used by inbound `{}` on this server",
                            p.tag
                        ),
                    );
                    self.skip_clients_of(x, report);
                    return Ok(());
                }
                None
            }
        };

        let plan = self.plan_clients(c, &input, &raw_clients, report).await?;
        let inbound_id = match inbound_id {
            Some(id) => {
                report.unchanged.inbounds += 1;
                id
            }
            None => {
                if let Err(reason) = self.renders(&input, &plan) {
                    report.skip(&label, reason);
                    self.skip_clients_of(x, report);
                    return Ok(());
                }
                let row = fleet_write::insert_inbound(c, &self.new_inbound(&input)).await?;
                sqlx::query("UPDATE inbounds SET last_traffic_reset_time = $1 WHERE id = $2")
                    .bind(x.last_traffic_reset_time)
                    .bind(row.id)
                    .execute(&mut *c)
                    .await?;
                self.present.push(Present {
                    id: row.id,
                    tag: row.tag.clone(),
                    port: row.port,
                    listen: row.listen.clone(),
                    protocol: row.protocol.clone(),
                });
                report.imported.inbounds += 1;
                report.items.push(format!(
                    "{label} with {} client(s){}",
                    plan.len(),
                    if x.enable { "" } else { ", disabled" }
                ));
                row.id
            }
        };
        let counters = sqlx::query(
            "INSERT INTO inbound_traffic (server_id, tag, up, down, all_time) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_id, tag) DO NOTHING",
        )
        .bind(self.server.id)
        .bind(&tag)
        .bind(x.up)
        .bind(x.down)
        .bind(x.all_time.max(x.up + x.down))
        .execute(&mut *c)
        .await?
        .rows_affected();
        if counters > 0 {
            report.imported.inbound_counters += 1;
        } else {
            report.unchanged.inbound_counters += 1;
        }
        for p in plan {
            self.store_client(c, inbound_id, p, report).await?;
        }
        Ok(())
    }

    /// The inbound as the model takes it, and the JSON of its clients.
    fn prepare_inbound(&self, x: &XuiInbound) -> Result<(InboundInput, Vec<Value>), String> {
        if let Some(node) = x.node_id {
            return Err(format!(
                "it runs on node {node} of a 3x-ui multi-node panel; import that node's \
                 database into its own server"
            ));
        }
        let settings = json_column("settings", &x.settings)?;
        let stream_settings = json_column("stream_settings", &x.stream_settings)?;
        let sniffing = json_column("sniffing", &x.sniffing)?;
        let raw_clients = if self.data.v3 {
            self.data.clients_of.get(&x.id).cloned().unwrap_or_default()
        } else {
            match settings.get("clients") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list.clone(),
                Some(_) => return Err("`settings.clients` is not a list".into()),
            }
        };
        let input = InboundInput {
            remark: x.remark.clone(),
            enable: x.enable,
            listen: x.listen.trim().to_owned(),
            port: x.port,
            protocol: x.protocol.clone(),
            settings,
            stream_settings,
            sniffing,
            tag: x.tag.clone(),
            total: x.total,
            expiry_time: x.expiry_time,
            traffic_reset: if x.traffic_reset.is_empty() {
                "never".into()
            } else {
                x.traffic_reset.clone()
            },
        };
        let mut p = Problems::default();
        input.check(&mut p);
        p.finish().map_err(|e| e.to_string())?;
        Ok((input, raw_clients))
    }

    fn new_inbound(&self, input: &InboundInput) -> NewInbound {
        NewInbound {
            server_id: self.server.id,
            remark: input.remark.clone(),
            enable: input.enable,
            listen: input.listen.clone(),
            port: input.port as u16,
            protocol: input.protocol.clone(),
            settings: Value::Object(input.settings_without_clients()),
            stream_settings: input.stream_settings.clone(),
            sniffing: input.sniffing.clone(),
            tag: input.effective_tag(),
            total: input.total,
            expiry_time: input.expiry_time,
            traffic_reset: input.traffic_reset.clone(),
        }
    }

    /// Renders the inbound as the agent will, with its clients, so nothing is stored that
    /// the core would refuse.
    fn renders(&self, input: &InboundInput, plan: &[Planned]) -> Result<(), String> {
        let mut settings: Map<String, Value> = input.settings_without_clients();
        if !plan.is_empty() {
            let list = plan
                .iter()
                .map(|p| {
                    crate::fleet::desired::client_json(
                        &input.protocol,
                        &ClientRow::preview(&p.client),
                    )
                })
                .collect();
            settings.insert("clients".into(), Value::Array(list));
        }
        let spec = InboundSpec {
            id: 0,
            tag: input.effective_tag(),
            enable: true,
            listen: input.listen.clone(),
            port: input.port as u16,
            protocol: input.protocol.clone(),
            settings: Value::Object(settings),
            stream_settings: input.stream_settings.clone(),
            sniffing: input.sniffing.clone(),
        };
        xray::render_inbound(&spec, self.flavour)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Clients of an inbound that was not imported.
    fn skip_clients_of(&self, x: &XuiInbound, report: &mut ImportReport) {
        let emails: Vec<String> = if self.data.v3 {
            self.data
                .clients_of
                .get(&x.id)
                .into_iter()
                .flatten()
                .filter_map(|c| c["email"].as_str().map(str::to_owned))
                .collect()
        } else {
            serde_json::from_str::<Value>(&x.settings)
                .ok()
                .and_then(|s| s.get("clients").and_then(Value::as_array).cloned())
                .into_iter()
                .flatten()
                .filter_map(|c| c["email"].as_str().map(str::to_owned))
                .collect()
        };
        for email in emails {
            report.skip(
                format!("client `{email}`"),
                format!("not attached to inbound `{}`, which was skipped", x.tag),
            );
        }
    }
}

/// A client that will be attached to the inbound being imported.
struct Planned {
    client: NewClient,
    /// Already stored: earlier in this run, or in xfleet before it (with its secrets then).
    existing: Option<(i64, Option<NewClient>)>,
    /// Its email in the 3x-ui database, which keys its traffic there (the client's own may
    /// have been mended to fit xfleet's rules).
    source_email: String,
}

impl Run<'_> {
    async fn plan_clients(
        &mut self,
        c: &mut AnyConnection,
        input: &InboundInput,
        raw: &[Value],
        report: &mut ImportReport,
    ) -> Result<Vec<Planned>, ImportError> {
        let protocol = input.protocol.as_str();
        let method = input
            .settings
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut plan: Vec<Planned> = Vec::new();
        if !WITH_CLIENTS.contains(&protocol) {
            // v3 lists WireGuard peers as clients; xfleet keeps them in the inbound.
            for raw in raw {
                let email = raw.get("email").and_then(Value::as_str).unwrap_or("?");
                report.skip(
                    format!("client `{email}`"),
                    format!(
                        "not attached to inbound `{}`: {protocol} inbounds keep their accounts \
                         in their own settings",
                        input.tag
                    ),
                );
            }
            return Ok(plan);
        }
        for (i, raw) in raw.iter().enumerate() {
            let email = raw
                .get("email")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or("");
            // Escaped: a name may hold what the report must not print as is (line breaks,
            // bidirectional overrides).
            let item = if email.is_empty() {
                format!("client #{} of inbound `{}`", i + 1, input.tag)
            } else {
                format!("client `{}`", email.escape_debug())
            };
            if matches!(self.seen.get(email), Some(Seen::Refused)) {
                continue;
            }
            if plan.iter().any(|p| p.source_email == email) {
                report.skip(
                    &item,
                    format!("it appears twice in inbound `{}`", input.tag),
                );
                continue;
            }
            let prepared = match clients::prepare(protocol, method, raw) {
                Ok(p) => p,
                Err(reason) => {
                    report.skip(&item, reason);
                    if !email.is_empty() {
                        self.seen.insert(email.to_owned(), Seen::Refused);
                    }
                    continue;
                }
            };
            let mut client = prepared.client;
            let first = self
                .spellings
                .entry(client.email.to_lowercase())
                .or_insert_with(|| client.email.clone());
            if *first != client.email {
                report.skip(
                    &item,
                    format!(
                        "its email differs only in letter case from client `{first}`, which came \
                         earlier in this database; the core keys clients by lower-case email and \
                         would take the two for one, so it is not imported: rename one of them \
                         in 3x-ui and import again"
                    ),
                );
                self.seen.insert(client.email.clone(), Seen::Refused);
                continue;
            }
            for note in prepared.notes {
                report.notes.push(format!("{item}: {note}"));
            }
            // 3x-ui switches a depleted client off in its traffic row, not in its JSON.
            let traffic = self.data.traffic.get(email);
            client.enable = client.enable && traffic.is_none_or(|t| t.enable);
            let existing = match self.seen.get(&client.email) {
                Some(Seen::Refused) => continue,
                Some(Seen::Stored { id, client: known }) => {
                    if key(protocol, known) != key(protocol, &client) {
                        report.skip(
                            &item,
                            format!(
                                "a client with this email and a different {} came earlier in \
                                 this database",
                                key_name(protocol)
                            ),
                        );
                        continue;
                    }
                    Some((*id, None))
                }
                None => match find_client(c, &client.email).await? {
                    Some((id, theirs)) if key(protocol, &theirs) == key(protocol, &client) => {
                        Some((id, Some(theirs)))
                    }
                    Some(_) => {
                        report.skip(
                            &item,
                            format!(
                                "xfleet already has a client with this email and a different \
                                 {}; rename one of them and import again",
                                key_name(protocol)
                            ),
                        );
                        self.seen.insert(client.email.clone(), Seen::Refused);
                        continue;
                    }
                    None => match other_spelling(c, &client.email).await? {
                        Some(theirs) => {
                            report.skip(
                                &item,
                                format!(
                                    "xfleet already has client `{theirs}`, whose email differs \
                                     only in letter case; the core keys clients by lower-case \
                                     email and would take the two for one, so it is not \
                                     imported: rename one of them and import again"
                                ),
                            );
                            self.seen.insert(client.email.clone(), Seen::Refused);
                            continue;
                        }
                        None => None,
                    },
                },
            };
            if client.email != email {
                self.renamed.insert(email.to_owned(), client.email.clone());
            }
            plan.push(Planned {
                client,
                existing,
                source_email: email.to_owned(),
            });
        }
        Ok(plan)
    }

    async fn store_client(
        &mut self,
        c: &mut AnyConnection,
        inbound_id: i64,
        p: Planned,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        let email = p.client.email.clone();
        let (id, stored) = match p.existing {
            Some((id, Some(theirs))) => {
                report.unchanged.clients += 1;
                (id, theirs)
            }
            Some((id, None)) => match self.seen.remove(&email) {
                Some(Seen::Stored { client, .. }) => (id, *client),
                _ => (id, p.client),
            },
            None => {
                let row = fleet_write::insert_client(c, &p.client).await?;
                report.imported.clients += 1;
                report.items.push(describe_client(&p.client));
                (row.id, p.client)
            }
        };
        self.seen.insert(
            email.clone(),
            Seen::Stored {
                id,
                client: Box::new(stored),
            },
        );
        let attached = sqlx::query(
            "INSERT INTO client_inbounds (client_id, inbound_id) VALUES ($1, $2) \
             ON CONFLICT (client_id, inbound_id) DO NOTHING",
        )
        .bind(id)
        .bind(inbound_id)
        .execute(&mut *c)
        .await?
        .rows_affected();
        if attached > 0 {
            report.imported.attachments += 1;
        } else {
            report.unchanged.attachments += 1;
        }
        // Once per client (a v3 client may come through several inbounds).
        let Some(t) = self.data.traffic.get(&p.source_email) else {
            return Ok(());
        };
        if !self.counted.insert(email.clone()) {
            return Ok(());
        }
        let n = sqlx::query(
            "INSERT INTO client_traffic (server_id, email, up, down, all_time, last_online) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (server_id, email) DO NOTHING",
        )
        .bind(self.server.id)
        .bind(&email)
        .bind(t.up)
        .bind(t.down)
        .bind(t.all_time.max(t.up + t.down))
        .bind(t.last_online)
        .execute(&mut *c)
        .await?
        .rows_affected();
        if n > 0 {
            report.imported.client_counters += 1;
        } else {
            report.unchanged.client_counters += 1;
        }
        Ok(())
    }
}

/// The email of a stored client that equals `email` in other letter case.
async fn other_spelling(c: &mut AnyConnection, email: &str) -> Result<Option<String>, ImportError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT email FROM clients WHERE LOWER(email) = LOWER($1)")
            .bind(email)
            .fetch_all(c)
            .await?;
    let folded = email.to_lowercase();
    Ok(rows
        .into_iter()
        .map(|(e,)| e)
        .find(|e| e != email && e.to_lowercase() == folded))
}

/// The client stored under `email`: its id and secrets.
async fn find_client(
    c: &mut AnyConnection,
    email: &str,
) -> Result<Option<(i64, NewClient)>, ImportError> {
    let row: Option<(i64, String, String, String)> =
        sqlx::query_as("SELECT id, uuid, password, auth FROM clients WHERE email = $1")
            .bind(email)
            .fetch_optional(c)
            .await?;
    Ok(row.map(|(id, uuid, password, auth)| {
        (
            id,
            NewClient {
                email: email.to_owned(),
                uuid,
                password,
                auth,
                ..Default::default()
            },
        )
    }))
}
