//! The public 3x-ui SDKs (py3xui, x3ui from PyPI), driven against a real controller.
//!
//! `.ci/run` installs them into a virtualenv at `target/sdk-venv` from
//! `tests/python/requirements.txt`; `XFLEET_TEST_PYTHON` names another interpreter that has
//! them. Each script in `tests/python/` prints one JSON object per line (`{"step": …, "ok": …}`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The interpreter with the SDKs, or `None` (and a note) when they are not installed here;
/// under CI they must be.
pub fn sdk_python() -> Option<PathBuf> {
    let python = match std::env::var_os("XFLEET_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => crate::bin_dir()
            .parent()
            .expect("target dir")
            .join("sdk-venv/bin/python"),
    };
    let found = Command::new(&python)
        .args(["-c", "import py3xui, x3ui"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must install the SDKs: python3 -m venv target/sdk-venv && \
             target/sdk-venv/bin/pip install -r tests/python/requirements.txt"
        );
        eprintln!(
            "py3xui/x3ui are not installed at {} (see tests/python/requirements.txt): SDK test skipped",
            python.display()
        );
        return None;
    }
    Some(python)
}

/// Runs `tests/python/<script>` with `args`; returns the JSON lines it printed, and the whole
/// output for messages. A script that fails to start or exits non-zero panics with its output.
pub async fn run_script(python: PathBuf, script: &str, args: Vec<String>) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(&path)
            .args(&args)
            .output()
            .expect("start python")
    })
    .await
    .expect("python runner");
    let text = crate::output_text(&out);
    assert!(out.status.success(), "{script} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
