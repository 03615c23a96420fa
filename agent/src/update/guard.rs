//! `xfleet-agent update-guard`: started (detached, in its own process group) by an agent
//! that is about to exec a trial binary when no service manager will restart it. It waits
//! for the trial to settle. If the trial process dies first, or outlives its deadline by
//! [`OVERDUE`] without settling, it kills what is left, records the rollback and starts the
//! previous binary again with the original arguments. Under systemd no guard is started:
//! `Restart=always` starts the installed binary, whose [`super::boot`] rolls back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use std::os::unix::process::CommandExt;
use xfleet_common::time::now_ms;

use super::boot::finish_rollback;
use super::marker::{process_start, Marker, MarkerState, UpdateFiles};

const POLL: Duration = Duration::from_millis(200);
/// How long past its deadline a trial that neither committed nor rolled back itself may
/// run before the guard ends it.
const OVERDUE: Duration = Duration::from_secs(30);

/// Runs the guard for the marker in `data_dir` until the trial settles.
pub fn run(data_dir: &Path) -> Result<(), String> {
    let files = UpdateFiles::new(data_dir);
    loop {
        let Some(mut marker) = Marker::read(&files.marker) else {
            return Ok(());
        };
        if marker.state != MarkerState::Trial {
            return Ok(());
        }
        let alive = process_start(marker.pid) == Some(marker.pid_start);
        let overdue = now_ms() > marker.deadline_ms + OVERDUE.as_millis() as i64;
        if alive && !overdue {
            std::thread::sleep(POLL);
            continue;
        }
        let why = if alive {
            let _ = Command::new("kill")
                .args(["-KILL", &marker.pid.to_string()])
                .status();
            format!(
                "the new agent {} neither connected nor rolled back by its deadline and was \
                 killed; {} runs again",
                marker.version, marker.from_version
            )
        } else {
            format!(
                "the new agent {} exited before it connected to the controller; {} runs again",
                marker.version, marker.from_version
            )
        };
        eprintln!("xfleet-agent update-guard: {why}");
        finish_rollback(&files, &mut marker, why);
        let Some((program, rest)) = marker.argv.split_first() else {
            return Err("the update marker holds no arguments to restart with".into());
        };
        Command::new(&marker.previous)
            .arg0(program)
            .args(rest)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", marker.previous.display()))?;
        return Ok(());
    }
}
