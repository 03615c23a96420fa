//! Each server's CPU and memory a minute at a time, for the charts of its page. A minute's
//! heartbeats are summed here; when the minute is over its average waits for the next flush,
//! which writes the ended minutes of the whole fleet in one statement (never a write per
//! heartbeat). The minute under way stays in memory.

use std::collections::HashMap;

use xfleet_common::methods::Heartbeat;

use crate::store::ServerSample;

pub const MINUTE_MS: i64 = 60_000;

/// The heartbeats of one server in one minute, summed.
#[derive(Debug, Clone, Copy)]
struct Minute {
    start_ms: i64,
    cpu: f64,
    mem_used: u128,
    mem_total: u64,
    count: u32,
}

impl Minute {
    fn add(&mut self, heartbeat: &Heartbeat) {
        let cpu = heartbeat.cpu_percent;
        self.cpu += if cpu.is_finite() {
            f64::from(cpu.clamp(0.0, 100.0))
        } else {
            0.0
        };
        self.mem_used += u128::from(heartbeat.mem_used);
        self.mem_total = heartbeat.mem_total;
        self.count += 1;
    }

    fn average(&self) -> ServerSample {
        let n = self.count.max(1);
        let clamp = |v: u128| i64::try_from(v).unwrap_or(i64::MAX);
        ServerSample {
            t: self.start_ms,
            cpu_tenths: (self.cpu / f64::from(n) * 10.0).round() as i64,
            mem_used: clamp(self.mem_used / u128::from(n)),
            mem_total: clamp(u128::from(self.mem_total)),
        }
    }
}

/// The fleet's minutes: the one under way per server and those ended, not yet written.
#[derive(Debug, Default)]
pub struct Samples {
    open: HashMap<i64, Minute>,
    ended: Vec<(i64, ServerSample)>,
}

impl Samples {
    /// Adds a heartbeat received at `at_ms`.
    pub fn record(&mut self, server_id: i64, at_ms: i64, heartbeat: &Heartbeat) {
        let start_ms = at_ms - at_ms.rem_euclid(MINUTE_MS);
        let minute = self.open.entry(server_id).or_insert(Minute {
            start_ms,
            cpu: 0.0,
            mem_used: 0,
            mem_total: 0,
            count: 0,
        });
        if minute.start_ms != start_ms {
            self.ended.push((server_id, minute.average()));
            *minute = Minute {
                start_ms,
                cpu: 0.0,
                mem_used: 0,
                mem_total: 0,
                count: 0,
            };
        }
        minute.add(heartbeat);
    }

    /// The minutes that ended before `now_ms`, each server's once (a clock that stepped
    /// back could give one twice; the later wins); the minutes under way stay.
    pub fn take_ended(&mut self, now_ms: i64) -> Vec<(i64, ServerSample)> {
        let current = now_ms - now_ms.rem_euclid(MINUTE_MS);
        let done: Vec<i64> = self
            .open
            .iter()
            .filter(|(_, m)| m.start_ms < current)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(m) = self.open.remove(&id) {
                self.ended.push((id, m.average()));
            }
        }
        let mut ended = std::mem::take(&mut self.ended);
        // Stable: of two rows for one minute, the later recorded stays last, and is kept.
        ended.sort_by_key(|(id, s)| (*id, s.t));
        let mut out: Vec<(i64, ServerSample)> = Vec::with_capacity(ended.len());
        for row in ended {
            match out.last_mut() {
                Some(last) if (last.0, last.1.t) == (row.0, row.1.t) => *last = row,
                _ => out.push(row),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(cpu: f32, mem_used: u64) -> Heartbeat {
        Heartbeat {
            cpu_percent: cpu,
            mem_used,
            mem_total: 1000,
            ..Heartbeat::default()
        }
    }

    #[test]
    fn a_minute_is_the_average_of_its_heartbeats_and_written_once_it_ended() {
        let mut s = Samples::default();
        let t0 = 10 * MINUTE_MS;
        s.record(1, t0 + 1_000, &beat(10.0, 100));
        s.record(1, t0 + 30_000, &beat(20.0, 300));
        s.record(2, t0 + 5_000, &beat(f32::NAN, 50));
        // The minute is under way: nothing to write yet.
        assert!(s.take_ended(t0 + 59_000).is_empty());
        let ended = s.take_ended(t0 + MINUTE_MS);
        assert_eq!(
            ended,
            vec![
                (
                    1,
                    ServerSample {
                        t: t0,
                        cpu_tenths: 150,
                        mem_used: 200,
                        mem_total: 1000
                    }
                ),
                (
                    2,
                    ServerSample {
                        t: t0,
                        cpu_tenths: 0,
                        mem_used: 50,
                        mem_total: 1000
                    }
                ),
            ]
        );
        assert!(s.take_ended(t0 + 2 * MINUTE_MS).is_empty(), "written once");
    }

    #[test]
    fn a_new_minute_ends_the_last_and_a_clock_stepping_back_leaves_one_row_a_minute() {
        let mut s = Samples::default();
        let t0 = 10 * MINUTE_MS;
        s.record(1, t0, &beat(50.0, 1));
        s.record(1, t0 + MINUTE_MS, &beat(70.0, 1));
        s.record(1, t0 + 2_000, &beat(30.0, 1));
        s.record(1, t0 + MINUTE_MS + 1, &beat(90.0, 1));
        let ended = s.take_ended(t0 + 2 * MINUTE_MS);
        let minutes: Vec<(i64, i64)> = ended.iter().map(|(_, m)| (m.t, m.cpu_tenths)).collect();
        assert_eq!(minutes, vec![(t0, 300), (t0 + MINUTE_MS, 900)]);
    }
}
