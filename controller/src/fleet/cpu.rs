//! Each server's CPU over the last hours, from the heartbeats its agent sends: one sample
//! per heartbeat (the agent's average since its previous one), kept in memory by the
//! controller that holds the agent's channel, and averaged into buckets for charts the way
//! 3x-ui's `cpuHistory` answers (the bucket's start, empty buckets left out).

use std::collections::VecDeque;

use serde::Serialize;

/// How far back samples are kept: 3x-ui's coarsest chart, 60 buckets of 5 minutes.
pub const KEPT_SECS: i64 = 60 * 300;
/// Samples per server at most, whatever the heartbeat interval (3x-ui keeps as many).
const MAX_SAMPLES: usize = 9_000;

/// One server's samples, oldest first: Unix seconds and percent. Eight bytes a sample, so a
/// server on the default 25 s heartbeat costs under 6 KiB once the window is full.
#[derive(Debug, Default)]
pub struct CpuSamples(VecDeque<(u32, f32)>);

/// One bucket of a chart: its start (Unix seconds) and the average CPU in it (percent).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CpuPoint {
    pub t: i64,
    pub cpu: f64,
}

impl CpuSamples {
    /// Records a sample taken at `at_secs`; drops what fell out of the window.
    pub fn push(&mut self, at_secs: i64, percent: f32) {
        let percent = if percent.is_finite() {
            percent.clamp(0.0, 100.0)
        } else {
            0.0
        };
        // A clock that stepped back must not leave samples out of order.
        while self.0.back().is_some_and(|(t, _)| i64::from(*t) > at_secs) {
            self.0.pop_back();
        }
        self.0
            .push_back((at_secs.clamp(0, u32::MAX.into()) as u32, percent));
        let oldest = at_secs - KEPT_SECS;
        while self.0.len() > MAX_SAMPLES
            || self.0.front().is_some_and(|(t, _)| i64::from(*t) < oldest)
        {
            self.0.pop_front();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The last `points` buckets of `bucket_secs` up to `now_secs`, oldest first: each the
    /// average of its samples, stamped with its start; buckets without a sample are absent.
    pub fn buckets(&self, bucket_secs: i64, points: usize, now_secs: i64) -> Vec<CpuPoint> {
        let bucket_secs = bucket_secs.max(1);
        let since = now_secs - bucket_secs * points as i64;
        let mut out: Vec<CpuPoint> = Vec::new();
        let mut current: Option<(i64, f64, u32)> = None;
        for &(t, cpu) in self.0.iter().filter(|(t, _)| i64::from(*t) >= since) {
            let start = i64::from(t) / bucket_secs * bucket_secs;
            match &mut current {
                Some((s, sum, n)) if *s == start => {
                    *sum += f64::from(cpu);
                    *n += 1;
                }
                _ => {
                    if let Some((s, sum, n)) = current.take() {
                        out.push(average(s, sum, n));
                    }
                    current = Some((start, f64::from(cpu), 1));
                }
            }
        }
        if let Some((s, sum, n)) = current {
            out.push(average(s, sum, n));
        }
        let skip = out.len().saturating_sub(points);
        out.drain(..skip);
        out
    }
}

/// Two decimals are all a chart shows.
fn average(start: i64, sum: f64, count: u32) -> CpuPoint {
    CpuPoint {
        t: start,
        cpu: (sum / f64::from(count) * 100.0).round() / 100.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_average_into_the_buckets_they_start_in() {
        let mut s = CpuSamples::default();
        for (t, cpu) in [(1_000, 10.0), (1_010, 30.0), (1_031, 50.0), (1_095, 5.0)] {
            s.push(t, cpu);
        }
        assert_eq!(
            s.buckets(30, 60, 1_100),
            [
                CpuPoint { t: 990, cpu: 20.0 },
                CpuPoint {
                    t: 1_020,
                    cpu: 50.0
                },
                CpuPoint { t: 1_080, cpu: 5.0 },
            ]
        );
        // The window is `points` buckets back from now; older samples are not charted.
        assert_eq!(s.buckets(30, 2, 1_100), [CpuPoint { t: 1_080, cpu: 5.0 }]);
        assert_eq!(s.buckets(2, 3, 1_100), [CpuPoint { t: 1_094, cpu: 5.0 }]);
        assert_eq!(s.buckets(2, 60, 1_100).len(), 4, "one bucket per sample");
    }

    #[test]
    fn at_most_the_last_points_buckets_are_answered() {
        let mut s = CpuSamples::default();
        for t in 0..100 {
            s.push(10_000 + t * 2, t as f32);
        }
        let points = s.buckets(2, 60, 10_200);
        assert_eq!(points.len(), 60);
        assert_eq!(
            points.last().unwrap(),
            &CpuPoint {
                t: 10_198,
                cpu: 99.0
            }
        );
    }

    #[test]
    fn old_samples_go_and_odd_values_are_bounded() {
        let mut s = CpuSamples::default();
        s.push(100, 20.0);
        s.push(100 + KEPT_SECS + 1, f32::NAN);
        s.push(100 + KEPT_SECS + 2, 250.0);
        assert_eq!(s.0.len(), 2, "the sample older than the window is gone");
        assert_eq!(s.0[0].1, 0.0);
        assert_eq!(s.0[1].1, 100.0);
        // A clock that went back replaces what now looks like the future.
        s.push(100 + KEPT_SECS, 7.0);
        assert_eq!(s.0.back(), Some(&((100 + KEPT_SECS) as u32, 7.0)));
        assert_eq!(s.0.len(), 1);
    }

    #[test]
    fn the_sample_count_is_capped() {
        let mut s = CpuSamples::default();
        for t in 0..(MAX_SAMPLES as i64 + 10) {
            s.push(t, 1.0);
        }
        assert_eq!(s.0.len(), MAX_SAMPLES);
    }
}
