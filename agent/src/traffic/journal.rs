//! The traffic journal (DESIGN §5): every batch is on disk, fsync'd, with its sequence number
//! before it is sent; it stays until the controller acknowledges that sequence.
//!
//! Layout in `<data_dir>/journal/`: one `<seq>.batch` file per unacknowledged batch (msgpack
//! of [`Entry`], written atomically), and `acked`, the baseline and sequence of the newest
//! acknowledged batch. A batch file carries the counter baseline after it, so the newest file
//! (or `acked`) always tells where counting stands, whatever was interrupted.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xfleet_common::traffic::TrafficBatch;

use super::delta::Baseline;
use crate::fsutil::{self, PUBLIC};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    batch: TrafficBatch,
    baseline: Baseline,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Acked {
    seq: u64,
    baseline: Baseline,
    #[serde(default)]
    epoch: String,
}

pub struct Journal {
    dir: PathBuf,
    epoch: String,
    pending: BTreeMap<u64, TrafficBatch>,
    acked: u64,
    next_seq: u64,
    baseline: Baseline,
}

impl Journal {
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let acked: Acked = match std::fs::read(dir.join("acked")) {
            Ok(bytes) => rmp_serde::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Acked::default(),
            Err(e) => return Err(e),
        };
        let mut acked = acked;
        if acked.epoch.is_empty() {
            // A new journal: name it, durably, before any batch carries the name.
            acked.epoch = format!("{:016x}", rand::random::<u64>());
            let bytes = rmp_serde::to_vec_named(&acked).expect("acked serializes");
            fsutil::write_atomic(&dir.join("acked"), &bytes, PUBLIC)?;
        }
        let mut journal = Self {
            dir: dir.to_owned(),
            epoch: acked.epoch,
            pending: BTreeMap::new(),
            acked: acked.seq,
            next_seq: acked.seq + 1,
            baseline: acked.baseline,
        };
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if fsutil::is_temp_name(&name) {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".batch")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if seq <= journal.acked {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let e: Entry = rmp_serde::from_slice(&std::fs::read(entry.path())?)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if seq >= journal.next_seq {
                journal.next_seq = seq + 1;
                journal.baseline = e.baseline;
            }
            journal.pending.insert(seq, e.batch);
        }
        Ok(journal)
    }

    /// Counters as of the newest journaled batch.
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// Numbers the batch, makes it durable together with the new baseline, and returns it.
    pub fn append(
        &mut self,
        mut batch: TrafficBatch,
        baseline: Baseline,
    ) -> io::Result<TrafficBatch> {
        batch.seq = self.next_seq;
        batch.epoch = self.epoch.clone();
        let entry = Entry { batch, baseline };
        let bytes = rmp_serde::to_vec_named(&entry).expect("entry serializes");
        fsutil::write_atomic(&self.path(entry.batch.seq), &bytes, PUBLIC)?;
        self.next_seq += 1;
        self.baseline = entry.baseline;
        self.pending.insert(entry.batch.seq, entry.batch.clone());
        Ok(entry.batch)
    }

    /// Records the baseline without a batch (a poll with no traffic); not durable on its own,
    /// which is fine: an unchanged counter yields no delta either way.
    pub fn advance_baseline(&mut self, baseline: Baseline) {
        self.baseline = baseline;
    }

    /// The controller has applied everything up to `seq`.
    pub fn ack(&mut self, seq: u64) -> io::Result<()> {
        if seq <= self.acked {
            return Ok(());
        }
        let newest_acked_is_newest = seq + 1 >= self.next_seq;
        let acked = Acked {
            epoch: self.epoch.clone(),
            seq: seq.min(self.next_seq.saturating_sub(1)),
            // The newest baseline is only safe to keep here when nothing newer is pending.
            baseline: if newest_acked_is_newest {
                self.baseline.clone()
            } else {
                self.read_baseline(seq).unwrap_or_default()
            },
        };
        let bytes = rmp_serde::to_vec_named(&acked).expect("acked serializes");
        fsutil::write_atomic(&self.dir.join("acked"), &bytes, PUBLIC)?;
        self.acked = acked.seq;
        let done: Vec<u64> = self.pending.range(..=seq).map(|(s, _)| *s).collect();
        for s in done {
            self.pending.remove(&s);
            let _ = std::fs::remove_file(self.path(s));
        }
        Ok(())
    }

    /// Unacknowledged batches, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &TrafficBatch> {
        self.pending.values()
    }

    pub fn lowest_unacked(&self) -> Option<u64> {
        self.pending.keys().next().copied()
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.batch"))
    }

    fn read_baseline(&self, seq: u64) -> Option<Baseline> {
        let bytes = std::fs::read(self.path(seq)).ok()?;
        rmp_serde::from_slice::<Entry>(&bytes)
            .ok()
            .map(|e| e.baseline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfleet_common::traffic::Delta;

    fn batch(up: u64) -> TrafficBatch {
        TrafficBatch {
            users: vec![Delta {
                name: "a".into(),
                up,
                down: 0,
            }],
            ..Default::default()
        }
    }

    fn base(v: u64) -> Baseline {
        Baseline {
            core_instance: "c".into(),
            counters: [("user>>>a>>>traffic>>>uplink".to_string(), v)].into(),
        }
    }

    #[test]
    fn survives_a_restart_and_drops_only_acked_batches() {
        let dir = crate::testutil::TempDir::new("journal");
        let mut j = Journal::open(dir.path()).unwrap();
        let first = j.append(batch(1), base(1)).unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(first.epoch.len(), 16, "batches carry the journal's name");
        assert_eq!(j.append(batch(2), base(3)).unwrap().seq, 2);
        assert_eq!(j.append(batch(3), base(6)).unwrap().seq, 3);
        j.ack(1).unwrap();
        drop(j);

        let mut j = Journal::open(dir.path()).unwrap();
        let pending: Vec<u64> = j.pending().map(|b| b.seq).collect();
        assert_eq!(pending, vec![2, 3]);
        assert_eq!(j.baseline(), &base(6), "the newest batch's baseline wins");
        assert_eq!(j.lowest_unacked(), Some(2));
        let fourth = j.append(batch(4), base(10)).unwrap();
        assert_eq!(fourth.seq, 4, "numbering continues");
        assert_eq!(fourth.epoch, first.epoch, "in the same journal");
        j.ack(4).unwrap();
        j.ack(2).unwrap(); // a late, older ack changes nothing
        assert_eq!(j.pending().count(), 0);
        drop(j);

        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(
            j.baseline(),
            &base(10),
            "the baseline survives with nothing pending"
        );
        assert_eq!(j.lowest_unacked(), None);
        let mut j = j;
        assert_eq!(j.append(batch(5), base(15)).unwrap().seq, 5);
    }

    #[test]
    fn acking_part_of_the_queue_keeps_that_point_s_baseline() {
        let dir = crate::testutil::TempDir::new("journal");
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(batch(1), base(1)).unwrap();
        j.append(batch(2), base(3)).unwrap();
        j.ack(1).unwrap();
        // Batch 2's file goes missing (disk trouble); reopening falls back to ack 1's baseline.
        std::fs::remove_file(dir.path().join(format!("{:020}.batch", 2))).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.baseline(), &base(1));
    }
}
