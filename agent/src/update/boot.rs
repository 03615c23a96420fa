//! What `xfleet-agent run` does before anything else: finish a failed trial, then run the
//! committed update if this is not it. Also the `exec` every switch of binary goes through.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::marker::{Marker, MarkerState, UpdateFiles};

/// Called first thing by `run`. A trial marker found by any binary other than the trial
/// means the trial died before it was committed (exited at start, crashed, was killed):
/// the trial is removed and the marker says so. Then, if a committed update exists and this
/// process is not running it, it is exec'd with the same arguments (it does not return).
pub fn boot(data_dir: &Path) {
    let files = UpdateFiles::new(data_dir);
    let me = current_exe();
    if let Some(mut marker) = Marker::read(&files.marker) {
        if marker.state == MarkerState::Trial && is(&me, &files.trial) {
            // This is the trial: it runs as it is until it commits or rolls back.
            return;
        }
        if marker.state == MarkerState::Trial {
            let why = format!(
                "the new agent {} stopped before it connected to the controller; {} runs again",
                marker.version, marker.from_version
            );
            tracing::warn!(%why, "rolling back the agent update");
            finish_rollback(&files, &mut marker, why);
        }
    }
    if files.committed.is_file() && !is(&me, &files.committed) {
        // Systemd starts the installed binary; the update lives in the data directory.
        let error = exec(&files.committed, &args());
        tracing::error!(
            binary = %files.committed.display(),
            %error,
            "cannot run the committed agent update; running the installed binary"
        );
    }
}

/// Records a rollback in the marker and removes the trial binary.
pub fn finish_rollback(files: &UpdateFiles, marker: &mut Marker, why: String) {
    marker.roll_back(why);
    if let Err(e) = marker.write(&files.marker) {
        tracing::error!(error = %e, "cannot record the rollback in the update marker");
    }
    let _ = std::fs::remove_file(&files.trial);
}

/// Replaces this process with `binary`, same PID, the given arguments (program name first).
/// Returns only on failure.
pub fn exec(binary: &Path, argv: &[OsString]) -> std::io::Error {
    let mut cmd = Command::new(binary);
    if let Some((program, rest)) = argv.split_first() {
        cmd.arg0(program).args(rest);
    }
    cmd.exec()
}

/// This process's arguments, program name first.
pub fn args() -> Vec<OsString> {
    std::env::args_os().collect()
}

/// The binary this process runs, as the kernel sees it (symlinks resolved; follows a rename).
pub fn current_exe() -> Option<PathBuf> {
    std::fs::read_link("/proc/self/exe").ok()
}

/// Whether the running binary `me` is `path` (compared with the directory's symlinks
/// resolved, as `/proc/self/exe` reports it).
pub fn is(me: &Option<PathBuf>, path: &Path) -> bool {
    let Some(me) = me else { return false };
    let resolved = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir).map(|d| d.join(name)),
        _ => return false,
    };
    resolved.is_ok_and(|p| &p == me)
}
