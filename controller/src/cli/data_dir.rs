//! Where the operator commands find the controller's data directory: `--data-dir` or
//! `XFLEET_DATA_DIR` when given; else `./xfleet-data` (what `xfleet run` uses by default) or
//! `/var/lib/xfleet` (the shipped systemd unit's), the one a controller is running from first.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::app::RunInfo;

/// `xfleet run`'s default, relative to the directory it was started in.
pub const LOCAL: &str = "./xfleet-data";
/// Where `systemd/xfleet.service` keeps it (`--data-dir /var/lib/xfleet`).
pub const SYSTEM: &str = "/var/lib/xfleet";

/// The data directory the command acts on: `given` as it is, else the first of
/// [`LOCAL`] and [`SYSTEM`] a controller runs from, else the first that exists.
pub fn find(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    find_in(given, &[PathBuf::from(LOCAL), PathBuf::from(SYSTEM)])
}

/// [`find`] among `candidates`, in order; the error names each place looked at and why it
/// was passed over.
pub fn find_in(given: Option<PathBuf>, candidates: &[PathBuf]) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    if let Some(dir) = candidates.iter().find(|d| running_pid(d).is_some()) {
        return Ok(dir.clone());
    }
    let mut passed_over = Vec::new();
    for dir in candidates {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => return Ok(dir.clone()),
            Ok(_) => passed_over.push(format!("{} (not a directory)", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => passed_over.push(
                format!("{} (permission denied: run as root)", dir.display()),
            ),
            Err(_) => passed_over.push(format!("{} (absent)", dir.display())),
        }
    }
    bail!(
        "no controller data directory found; looked in {}. Pass --data-dir DIR or set \
         XFLEET_DATA_DIR (the systemd unit keeps it in {SYSTEM})",
        passed_over.join(", ")
    )
}

/// The process id of the controller running from `dir`, if one is.
pub fn running_pid(dir: &Path) -> Option<u32> {
    let run = std::fs::read(dir.join("run.json")).ok()?;
    let run: RunInfo = serde_json::from_slice(&run).ok()?;
    Path::new(&format!("/proc/{}", run.pid))
        .exists()
        .then_some(run.pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::TempDir;

    fn write_run_json(dir: &Path, pid: u32) {
        let info = serde_json::json!({
            "pid": pid, "panel_url": "http://127.0.0.1:1", "gateway_addr": "127.0.0.1:2",
            "gateway_url": "https://127.0.0.1:2",
        });
        std::fs::write(dir.join("run.json"), info.to_string()).unwrap();
    }

    #[test]
    fn the_given_directory_wins_then_a_running_one_then_one_that_exists() {
        let root = TempDir::new("data-dir");
        let local = root.path().join("xfleet-data");
        let system = root.path().join("var-lib-xfleet");
        let candidates = [local.clone(), system.clone()];

        let err = find_in(None, &candidates).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} (absent)", local.display()))
                && err.contains(&format!("{} (absent)", system.display()))
                && err.contains("--data-dir"),
            "{err}"
        );

        std::fs::create_dir(&system).unwrap();
        assert_eq!(find_in(None, &candidates).unwrap(), system);
        std::fs::create_dir(&local).unwrap();
        assert_eq!(
            find_in(None, &candidates).unwrap(),
            local,
            "the first that exists"
        );

        // A controller running from the second one beats a leftover first one.
        write_run_json(&system, std::process::id());
        assert_eq!(find_in(None, &candidates).unwrap(), system);
        // A run.json whose process is gone does not count as running.
        write_run_json(&system, u32::MAX);
        assert_eq!(find_in(None, &candidates).unwrap(), local);

        let given = root.path().join("elsewhere");
        assert_eq!(find_in(Some(given.clone()), &candidates).unwrap(), given);
    }
}
