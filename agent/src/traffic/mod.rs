//! Exactly-once traffic accounting on the agent side: counter deltas ([`delta`]) journaled
//! on disk ([`journal`]) until the controller acknowledges them.

pub mod access_entries;
pub mod access_log;
pub mod delta;
pub mod journal;

pub use delta::{compute, Baseline};
pub use journal::Journal;
