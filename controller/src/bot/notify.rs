//! What the bot says without being asked, every few seconds from what the fleet shows:
//!
//! - a server offline for longer than `tgOfflineGrace` seconds (`node.down`), and back online
//!   (`node.up`): one message per incident, however many heartbeats it misses;
//! - a core that keeps failing to run (`xray.crash`), a certificate renewal that failed
//!   (`cert.failed`), a task that failed (`task.failed`): once per alert, again only after it
//!   cleared;
//! - CPU or memory over `tgCpu`/`tgMemory` percent on a server (`cpu.high`, `memory.high`),
//!   once until it falls back 5 points below;
//! - logins, successful or not, from the audit log (`login.attempt` and `tgBotLoginNotify`;
//!   the log never holds the password);
//! - the report on `tgRunTime`: the fleet, the clients near their limits, each client user's
//!   own warning, and the backup when `tgBotBackup` is on.
//!
//! What alerts were there when the bot started is taken as known, so a restart repeats
//! nothing. Messages go through a per-chat outbox: at most a burst of 5, then one every 3
//! seconds; what waits is sent together in one message, never dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use xfleet_common::time::now_ms;

use super::report;
use crate::i18n::Language;
use crate::jobs::periods::Zone;
use crate::links::remark::traffic;
use crate::model::alerts;
use crate::schedule::Schedule;
use crate::telegram::{self, BotSettings, SendError, Telegram};
use crate::Controller;

/// How often the fleet is looked at.
const ROUND: Duration = Duration::from_secs(3);
/// Not a form setting: when the last periodic report went out (epoch ms).
pub const LAST_REPORT: &str = "tgLastReport";
/// Messages a chat may get at once, and the pause that earns another.
const BURST: f64 = 5.0;
const REFILL: Duration = Duration::from_secs(3);
/// Percentage points below a threshold before its alarm is armed again.
const HYSTERESIS: f32 = 5.0;

pub async fn run(ctl: Arc<Controller>, tg: Telegram, stop: CancellationToken) {
    let mut watch = Watch {
        audit_cursor: ctl.store.last_audit_id().await.unwrap_or(0),
        ..Default::default()
    };
    let mut outbox = Outbox::default();
    // The last problem logged: the same one again is not logged every round.
    let mut last_problem = String::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(ROUND) => {}
        }
        let settings = match BotSettings::read(&ctl.store).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the bot could not read its settings");
                continue;
            }
        };
        match watch.round(&ctl, &tg, &settings, &mut outbox).await {
            Err(e) if e != last_problem => {
                tracing::warn!(error = %e, "the bot's notifications could not be prepared");
                last_problem = e;
            }
            Err(_) => {}
            Ok(()) => last_problem.clear(),
        }
        outbox.flush(&tg).await;
    }
}

/// What the notifier has seen and said.
#[derive(Default)]
struct Watch {
    seeded: bool,
    /// When each offline server was first seen offline.
    offline_since: HashMap<i64, i64>,
    /// Servers whose going offline was told.
    down_told: HashSet<i64>,
    /// Alerts already told: kind, server, subject.
    alerts: HashSet<(String, i64, String)>,
    cpu_high: HashSet<i64>,
    memory_high: HashSet<i64>,
    audit_cursor: i64,
}

impl Watch {
    async fn round(
        &mut self,
        ctl: &Arc<Controller>,
        tg: &Telegram,
        settings: &BotSettings,
        outbox: &mut Outbox,
    ) -> Result<(), String> {
        let lang = settings.language();
        let now = now_ms();
        let zone =
            Zone::from_setting(Some(&settings.time_location)).unwrap_or_else(|_| Zone::utc());
        let views = report::fleet_views(ctl).await?;
        let sources = alerts::sources(ctl, now).await.map_err(|e| e.to_string())?;
        let current = alerts::collect(&views, sources, now);
        let mut say = |event: &str, text: String| {
            if self.seeded && settings.wants(event) {
                for chat in &settings.admins {
                    outbox.push(*chat, text.clone());
                }
            }
        };

        // Servers offline and back.
        for s in &views {
            let offline = s.enabled && !s.connected && s.status == "offline";
            if offline {
                let since = *self.offline_since.entry(s.id).or_insert(now);
                if !self.seeded {
                    // Offline before the bot started: its return is news, its loss is not.
                    self.down_told.insert(s.id);
                } else if now - since >= settings.offline_grace_s * 1000
                    && self.down_told.insert(s.id)
                {
                    let reason = s.last_error.as_deref().unwrap_or("");
                    say(
                        telegram::NODE_DOWN,
                        lang.bot_fill(
                            "notify.offline",
                            &[
                                ("server", &s.name),
                                ("time", &report::duration_text((now - since) / 1000, lang)),
                                ("reason", reason),
                            ],
                        )
                        .trim_end()
                        .to_owned(),
                    );
                }
            } else if s.connected {
                let since = self.offline_since.remove(&s.id);
                if self.down_told.remove(&s.id) {
                    let away = since.map_or_else(String::new, |since| {
                        report::duration_text((now - since) / 1000, lang)
                    });
                    say(
                        telegram::NODE_UP,
                        lang.bot_fill("notify.online", &[("server", &s.name), ("time", &away)]),
                    );
                }
            }
        }

        // Alerts: crash loops, renewals, failed tasks.
        let mut present = HashSet::new();
        for a in &current {
            let event = match a.kind {
                "core_error" => telegram::CORE_CRASH,
                "certificate" => telegram::CERT_FAILED,
                "task_failed" | "task_expired" => telegram::TASK_FAILED,
                _ => continue,
            };
            let key = (
                a.kind.to_owned(),
                a.server_id,
                a.subject.clone().unwrap_or_default(),
            );
            present.insert(key.clone());
            if self.alerts.contains(&key) {
                continue;
            }
            let what = match &a.operation {
                Some(op) => format!("{} ({op})", a.text),
                None => a.text.clone(),
            };
            say(
                event,
                lang.bot_fill(
                    &format!("notify.{}", a.kind),
                    &[
                        ("server", &a.server),
                        ("text", &what),
                        ("reason", &a.reason),
                    ],
                ),
            );
        }
        self.alerts = present;

        // CPU and memory.
        for s in views.iter().filter(|s| s.connected) {
            let Some(beat) = s.live.as_ref().and_then(|l| l.heartbeat.as_ref()) else {
                continue;
            };
            let memory = if beat.mem_total > 0 {
                beat.mem_used as f32 * 100.0 / beat.mem_total as f32
            } else {
                0.0
            };
            for (value, limit, high, event, key) in [
                (
                    beat.cpu_percent,
                    settings.cpu,
                    &mut self.cpu_high,
                    telegram::CPU_HIGH,
                    "notify.cpu",
                ),
                (
                    memory,
                    settings.memory,
                    &mut self.memory_high,
                    telegram::MEMORY_HIGH,
                    "notify.memory",
                ),
            ] {
                if limit == 0 {
                    continue;
                }
                let limit = f32::from(limit);
                if value > limit && high.insert(s.id) {
                    let text = lang.bot_fill(
                        key,
                        &[
                            ("server", &s.name),
                            ("value", &format!("{value:.0}")),
                            ("limit", &format!("{limit:.0}")),
                        ],
                    );
                    if self.seeded && settings.wants(event) {
                        for chat in &settings.admins {
                            outbox.push(*chat, text.clone());
                        }
                    }
                } else if value < limit - HYSTERESIS {
                    high.remove(&s.id);
                }
            }
        }

        // Logins.
        let logins = ctl
            .store
            .audit_after(self.audit_cursor, "auth.login", 100)
            .await
            .map_err(|e| e.to_string())?;
        for entry in logins {
            self.audit_cursor = entry.id;
            if !(settings.login_notify && settings.wants(telegram::LOGIN)) {
                continue;
            }
            let key = if entry.result == "ok" {
                "notify.login_ok"
            } else {
                "notify.login_failed"
            };
            let text = lang.bot_fill(
                key,
                &[
                    ("user", &entry.actor),
                    ("ip", &entry.source_ip),
                    ("time", &when(entry.at, &zone)),
                    ("host", &crate::util::hostname()),
                    ("reason", &entry.result),
                ],
            );
            for chat in &settings.admins {
                outbox.push(*chat, text.clone());
            }
        }
        self.seeded = true;

        // The periodic report.
        periodic(ctl, tg, settings, lang, &zone, now, outbox).await
    }
}

/// The report on `tgRunTime`, once per firing across restarts and controllers.
async fn periodic(
    ctl: &Arc<Controller>,
    tg: &Telegram,
    settings: &BotSettings,
    lang: &'static Language,
    zone: &Zone,
    now: i64,
    outbox: &mut Outbox,
) -> Result<(), String> {
    let schedule = Schedule::parse(&settings.run_time).map_err(|e| format!("tgRunTime: {e}"))?;
    let last = ctl
        .store
        .setting(LAST_REPORT)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|v| v.parse::<i64>().ok());
    let Some(last) = last else {
        // First start: the next firing is the first report.
        return ctl
            .store
            .set_setting(LAST_REPORT, &now.to_string())
            .await
            .map_err(|e| e.to_string());
    };
    let due = schedule
        .latest(now, last, |unix| zone.offset(unix))
        .is_some_and(|at| at > last);
    if !due {
        return Ok(());
    }
    ctl.store
        .set_setting(LAST_REPORT, &now.to_string())
        .await
        .map_err(|e| e.to_string())?;
    let fleet = report::fleet_text(ctl, lang).await?;
    let deplete = report::deplete_soon(
        ctl,
        lang,
        settings.expire_diff_days,
        settings.traffic_diff_gb,
    )
    .await?;
    for chat in &settings.admins {
        outbox.push(
            *chat,
            format!("{}\n\n{fleet}\n\n{deplete}", lang.bot_text("notify.report")),
        );
    }
    // Each client user's own warning.
    let clients = ctl.store.all_clients().await.map_err(|e| e.to_string())?;
    let totals = ctl.store.client_totals().await.map_err(|e| e.to_string())?;
    for c in clients.iter().filter(|c| c.tg_id > 0) {
        let used = totals.get(&c.email).map_or(0, |t| t.up + t.down);
        if report::depleting(
            c,
            used,
            now,
            settings.expire_diff_days,
            settings.traffic_diff_gb,
        )
        .is_some()
        {
            let text = lang.bot_fill(
                "notify.client_warning",
                &[
                    ("limits", &report::client_limits(c, used, now, lang)),
                    ("used", &traffic(used)),
                ],
            );
            outbox.push(c.tg_id, text);
        }
    }
    if settings.backup {
        // The outbox goes first, so the report comes before its backup.
        outbox.flush(tg).await;
        if let Err(e) =
            telegram::document::send_backup_with(&ctl.store, &ctl.config.data_dir, tg, settings)
                .await
        {
            tracing::warn!(error = %e, "the scheduled backup was not sent");
        }
    }
    Ok(())
}

/// `2026-12-07 10:17` in the zone.
fn when(ms: i64, zone: &Zone) -> String {
    let s = ms / 1000;
    time::OffsetDateTime::from_unix_timestamp(s + zone.offset(s))
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

/// Messages waiting per chat, sent within each chat's rate.
#[derive(Default)]
struct Outbox {
    queued: HashMap<i64, VecDeque<String>>,
    buckets: HashMap<i64, (f64, Instant)>,
}

impl Outbox {
    fn push(&mut self, chat: i64, text: String) {
        self.queued.entry(chat).or_default().push_back(text);
    }

    /// Sends what each chat's rate allows; what waits is joined into one message. A chat
    /// Telegram refuses (the user blocked the bot) is dropped with a warning; an unreachable
    /// Telegram keeps everything for the next round.
    async fn flush(&mut self, tg: &Telegram) {
        let chats: Vec<i64> = self.queued.keys().copied().collect();
        for chat in chats {
            let (tokens, at) = self.buckets.entry(chat).or_insert((BURST, Instant::now()));
            let earned = at.elapsed().as_secs_f64() / REFILL.as_secs_f64();
            *tokens = (*tokens + earned).min(BURST);
            *at = Instant::now();
            let Some(queue) = self.queued.get_mut(&chat) else {
                continue;
            };
            while *tokens >= 1.0 && !queue.is_empty() {
                // Within the burst, one message each; once it runs low, everything waiting
                // in one.
                let text = if *tokens >= 2.0 {
                    queue.pop_front().unwrap_or_default()
                } else {
                    queue.drain(..).collect::<Vec<_>>().join("\n\n")
                };
                match tg.send_text(chat, &text, None).await {
                    Ok(_) => *tokens -= 1.0,
                    Err(SendError::Refused(e)) => {
                        tracing::warn!(chat, error = %e, "a notification was refused");
                        *tokens -= 1.0;
                    }
                    Err(e) => {
                        tracing::warn!(chat, error = %e, "a notification waits for Telegram");
                        queue.push_front(text);
                        return;
                    }
                }
            }
            if queue.is_empty() {
                self.queued.remove(&chat);
            }
        }
    }
}
