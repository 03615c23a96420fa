//! How long the watchdog waits before restarting a core that died: 1 s, doubling to 30 s, back
//! to 1 s once a run lasted a minute. No jitter: one agent restarts one local process, there is
//! no herd to spread.

use std::time::Duration;

const BASE: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(30);
/// A run this long proves the config and host are fine; the next crash starts over at `BASE`.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct RestartBackoff {
    next: Duration,
}

impl Default for RestartBackoff {
    fn default() -> Self {
        Self { next: BASE }
    }
}

impl RestartBackoff {
    /// Records how long the run that just ended lasted.
    pub fn run_ended(&mut self, lasted: Duration) {
        if lasted >= HEALTHY_AFTER {
            self.reset();
        }
    }

    /// The wait before the next restart; the one after doubles.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(CAP);
        delay
    }

    /// An explicit start or restart begins a fresh sequence.
    pub fn reset(&mut self) {
        self.next = BASE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets_after_a_healthy_run() {
        let mut b = RestartBackoff::default();
        let secs: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        b.run_ended(Duration::from_secs(59));
        assert_eq!(b.next_delay(), CAP);
        b.run_ended(HEALTHY_AFTER);
        assert_eq!(b.next_delay(), BASE);
    }
}
