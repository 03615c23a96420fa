//! Scheduled backups: every minute, [`backup::schedule::run_if_due`] writes an archive when
//! the settings ask for one and it is due. Of several controllers, the leader writes them
//! (into its own `backupDir`).

use std::sync::Arc;
use std::time::Duration;

use xfleet_common::time::now_ms;

use crate::backup;
use crate::Controller;

/// How often the job looks whether a backup is due.
const LOOK_EVERY: Duration = Duration::from_secs(60);

pub async fn backup_job(ctl: Arc<Controller>) {
    loop {
        if ctl.cluster.is_leader() {
            if let Err(e) =
                backup::schedule::run_if_due(&ctl.store, &ctl.config.data_dir, now_ms()).await
            {
                tracing::warn!(error = %e, "scheduled backup could not run; will retry");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = ctl.shutdown.cancelled() => return,
        }
    }
}
