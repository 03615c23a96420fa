//! Closing the open connections of clients taken out of the core. `RemoveUser` (and
//! `RemoveInbound`) stop new connections of a user but leave the open ones running, so a
//! disabled client could keep a download going for hours. 3x-ui restarts the core after
//! disabling clients (`restartXrayOnClientDisable`); the agent does the same, but only when a
//! user who was online was taken out, and debounced: requests are coalesced until none came
//! for `quiet`, at most `min_interval` after the first, and restarts are at least
//! `min_interval` apart. A restart for any other reason in the meantime closes the
//! connections as well and settles the requests made before it.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::config::SessionCutConfig;

/// Who was online lately, from traffic counters and the core's online list.
#[derive(Debug, Default)]
pub struct Activity {
    last: HashMap<String, Instant>,
}

impl Activity {
    pub fn saw(&mut self, email: &str, at: Instant) {
        self.last.insert(email.to_owned(), at);
    }

    /// The emails among `emails` seen within `window` before `now`; forgets older entries.
    pub fn online_among(
        &mut self,
        emails: &BTreeSet<String>,
        window: Duration,
        now: Instant,
    ) -> BTreeSet<String> {
        self.last
            .retain(|_, seen| now.saturating_duration_since(*seen) <= window);
        emails
            .iter()
            .filter(|e| self.last.contains_key(*e))
            .cloned()
            .collect()
    }
}

#[derive(Debug)]
pub struct CutSchedule {
    quiet: Duration,
    min_interval: Duration,
    /// First and latest request of the pending restart.
    pending: Option<(Instant, Instant)>,
    emails: BTreeSet<String>,
    last_restart: Option<Instant>,
}

impl CutSchedule {
    pub fn new(config: &SessionCutConfig) -> Self {
        Self {
            quiet: Duration::from_millis(config.quiet_ms),
            min_interval: Duration::from_millis(config.min_interval_ms),
            pending: None,
            emails: BTreeSet::new(),
            last_restart: None,
        }
    }

    /// Online users in `emails` were taken out at `now`.
    pub fn request(&mut self, emails: BTreeSet<String>, now: Instant) {
        if emails.is_empty() {
            return;
        }
        self.pending = Some(match self.pending {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
        self.emails.extend(emails);
    }

    /// When the pending restart should happen, if one is pending.
    pub fn due(&self) -> Option<Instant> {
        let (first, last) = self.pending?;
        let settled = (last + self.quiet).min(first + self.quiet.max(self.min_interval));
        Some(match self.last_restart {
            Some(at) => settled.max(at + self.min_interval),
            None => settled,
        })
    }

    /// The emails to restart for, if the restart is due at `now`; the caller restarts.
    pub fn take(&mut self, now: Instant) -> Option<BTreeSet<String>> {
        if self.due()? > now {
            return None;
        }
        self.pending = None;
        self.last_restart = Some(now);
        Some(std::mem::take(&mut self.emails))
    }

    /// The core restarted for another reason at `now`: pending requests are settled.
    pub fn core_restarted(&mut self, now: Instant) {
        if self.pending.is_some_and(|(_, last)| last <= now) {
            self.pending = None;
            self.emails.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> CutSchedule {
        CutSchedule::new(&SessionCutConfig {
            quiet_ms: 3_000,
            min_interval_ms: 10_000,
            online_window_ms: 60_000,
        })
    }

    fn set(emails: &[&str]) -> BTreeSet<String> {
        emails.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_burst_costs_one_restart() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut s = schedule();
        assert_eq!(s.due(), None);
        s.request(BTreeSet::new(), t0);
        assert_eq!(s.due(), None, "nobody online: nothing to do");
        for (i, at) in [0, 500, 1_000, 2_500].into_iter().enumerate() {
            s.request(set(&[&format!("user-{i}")]), ms(at));
        }
        assert_eq!(s.due(), Some(ms(5_500)), "quiet after the last change");
        assert_eq!(s.take(ms(5_499)), None);
        assert_eq!(s.take(ms(5_500)).unwrap().len(), 4);
        assert_eq!(s.take(ms(6_000)), None, "one restart for the burst");

        // The next one waits for the minimum interval since the last restart.
        s.request(set(&["late"]), ms(6_000));
        assert_eq!(s.due(), Some(ms(15_500)));
        assert_eq!(s.take(ms(15_500)), Some(set(&["late"])));
    }

    #[test]
    fn a_steady_stream_cannot_postpone_it_forever() {
        let t0 = Instant::now();
        let mut s = schedule();
        for n in 0..30 {
            s.request(set(&["a"]), t0 + Duration::from_secs(n));
        }
        assert_eq!(s.due(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn another_restart_settles_earlier_requests() {
        let t0 = Instant::now();
        let mut s = schedule();
        s.request(set(&["a"]), t0);
        s.core_restarted(t0 + Duration::from_millis(10));
        assert_eq!(s.due(), None);
        s.request(set(&["b"]), t0 + Duration::from_millis(20));
        s.core_restarted(t0 + Duration::from_millis(15));
        assert!(
            s.due().is_some(),
            "a request after that restart still stands"
        );
    }

    #[test]
    fn only_recently_active_users_count() {
        let t0 = Instant::now();
        let mut a = Activity::default();
        a.saw("old", t0);
        a.saw("new", t0 + Duration::from_secs(50));
        let online = a.online_among(
            &set(&["old", "new", "never"]),
            Duration::from_secs(30),
            t0 + Duration::from_secs(60),
        );
        assert_eq!(online, set(&["new"]));
    }
}
