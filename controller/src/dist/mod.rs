//! Software the controller hands out to its agents (DESIGN §12): agent binaries, the
//! signatures that let an agent trust an update, core releases and geo files.

pub mod sign;
