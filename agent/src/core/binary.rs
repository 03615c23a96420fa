//! Finding the core binary, learning what it is, and running its config test.

use std::ffi::OsString;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;

use super::logs::parse_line;
use super::{CoreError, CorePaths, Flavour, FlavourExt};
use xfleet_common::methods::CoreLogLevel;

/// Where 3x-ui keeps its Xray (`xray-linux-amd64`, `xray-linux-arm64`, …).
const X_UI_BIN_DIR: &str = "/usr/local/x-ui/bin";
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// A config test loads geo files and certificates; a slow disk can take a few seconds.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of a core's error message worth reporting; the rest is stack trace or repetition.
const MESSAGE_LINES: usize = 8;

/// A core binary that ran and told us what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreBinary {
    pub path: PathBuf,
    pub flavour: Flavour,
    /// As printed, e.g. `1.8.24` or `4.34.0`.
    pub version: String,
}

impl CoreBinary {
    /// The binary `configured` names (`core.binary` in agent.toml), else `xray` then `v2ray`
    /// on PATH, else 3x-ui's `/usr/local/x-ui/bin/xray-linux-*`.
    pub async fn discover(configured: Option<&Path>) -> Result<Self, CoreError> {
        Self::discover_in(
            configured,
            std::env::var_os("PATH"),
            Path::new(X_UI_BIN_DIR),
        )
        .await
    }

    pub(crate) async fn discover_in(
        configured: Option<&Path>,
        path_var: Option<OsString>,
        x_ui_dir: &Path,
    ) -> Result<Self, CoreError> {
        // What the operator named is used or refused, never silently replaced by another.
        if let Some(path) = configured {
            return Self::probe(path).await;
        }
        let mut candidates: Vec<PathBuf> = ["xray", "v2ray"]
            .iter()
            .filter_map(|name| find_on_path(name, path_var.as_deref()))
            .collect();
        candidates.extend(x_ui_binaries(x_ui_dir));
        let mut first_error = None;
        for path in candidates {
            match Self::probe(&path).await {
                Ok(binary) => return Ok(binary),
                Err(e) => {
                    tracing::debug!(error = %e, "skipping core candidate");
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            CoreError::NotFound(format!(
                "no core found: `core.binary` is not set in agent.toml, there is no `xray` or \
                 `v2ray` on PATH, and no {}/xray-linux-*; install Xray (or v2ray 4.x) or set \
                 `core.binary`",
                x_ui_dir.display()
            ))
        }))
    }

    /// Runs the binary's version command and reads flavour and version from it.
    pub async fn probe(path: &Path) -> Result<Self, CoreError> {
        let unusable = |message: String| CoreError::Unusable {
            binary: path.to_owned(),
            message,
        };
        if !is_executable(path) {
            return Err(unusable("not an executable file".into()));
        }
        // v2ray 4 knows only `-version` (and treats `version` as "run, config from stdin");
        // Xray and v2ray 5 know `version`. Ask the likely one first, the other if that fails.
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let args: [&str; 2] = if name.contains("v2ray") {
            ["-version", "version"]
        } else {
            ["version", "-version"]
        };
        let mut printed = String::new();
        for arg in args {
            let output = match run_version(path, arg).await {
                Ok(output) => output,
                Err(message) => return Err(unusable(message)),
            };
            if let Some((flavour, version)) = parse_version(&output) {
                let major: u32 = version
                    .split('.')
                    .next()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0);
                if flavour == Flavour::V2ray && major >= 5 {
                    return Err(unusable(format!(
                        "v2ray {version} is not supported: v2ray 5 changed its command line and \
                         config format; install Xray (or v2ray 4.x) or point `core.binary` at one"
                    )));
                }
                return Ok(Self {
                    path: path.to_owned(),
                    flavour,
                    version,
                });
            }
            if printed.is_empty() {
                printed = output.lines().next().unwrap_or("").trim().to_owned();
            }
        }
        Err(unusable(format!(
            "does not look like Xray or v2ray (its version command printed `{printed}`)"
        )))
    }

    /// The command that runs the core on `config`.
    pub fn run_command(&self, config: &Path, assets: &Path) -> Command {
        let mut cmd = Command::new(&self.path);
        match self.flavour {
            Flavour::Xray => cmd.arg("run").arg("-c").arg(config),
            Flavour::V2ray => cmd.arg("-config").arg(config),
        };
        cmd.env(self.flavour.asset_env(), assets)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn test_command(&self, config: &Path, assets: &Path) -> Command {
        let mut cmd = Command::new(&self.path);
        match self.flavour {
            Flavour::Xray => cmd.args(["run", "-test", "-c"]).arg(config),
            Flavour::V2ray => cmd.args(["-test", "-config"]).arg(config),
        };
        cmd.env(self.flavour.asset_env(), assets)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs the core's own config test on `config` (written to a private scratch file under
    /// `paths.dir`). On refusal, the error is the useful part of what the core printed.
    pub async fn test_config(
        &self,
        paths: &CorePaths,
        config: &serde_json::Value,
    ) -> Result<(), String> {
        let file = paths.dir.join(format!(
            ".test-{}-{:016x}.json",
            std::process::id(),
            rand::random::<u64>()
        ));
        let bytes = serde_json::to_vec_pretty(config).map_err(|e| e.to_string())?;
        write_private(&file, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let output = tokio::time::timeout(
            TEST_TIMEOUT,
            self.test_command(&file, &paths.assets).output(),
        )
        .await;
        let _ = std::fs::remove_file(&file);
        match output {
            Err(_) => Err(format!(
                "the core's config test did not finish within {} s",
                TEST_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => Err(format!("cannot run {}: {e}", self.path.display())),
            Ok(Ok(out)) if out.status.success() => Ok(()),
            Ok(Ok(out)) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                // The scratch file's name means nothing to the reader.
                let text = text.replace(&*file.to_string_lossy(), "config.json");
                Err(core_message(&text, out.status))
            }
        }
    }
}

/// The part of a core's output that explains a failure: its warnings and errors, fatal lines
/// included (`Failed to start: …`, `panic: …` are levelled as errors), without the banner,
/// info chatter or goroutine traces. Falls back to the last lines when nothing stands out.
pub fn core_message(output: &str, status: ExitStatus) -> String {
    let lines: Vec<(CoreLogLevel, &str)> = output
        .lines()
        .take_while(|l| !l.starts_with("goroutine "))
        .map(parse_line)
        .filter(|(_, text)| {
            !text.is_empty()
                && parse_version(text).is_none()
                && !text.starts_with("A unified platform")
        })
        .collect();
    let mut useful: Vec<&str> = lines
        .iter()
        .filter(|(level, _)| *level >= CoreLogLevel::Warning)
        .map(|(_, text)| *text)
        .collect();
    if useful.is_empty() {
        useful = lines.iter().map(|(_, text)| *text).collect();
        useful.drain(..useful.len().saturating_sub(3));
    }
    let useful = &useful[useful.len().saturating_sub(MESSAGE_LINES)..];
    if useful.is_empty() {
        format!("the core's config test failed ({status})")
    } else {
        useful.join("\n")
    }
}

/// `Xray 1.8.24 (Xray, Penetrates Everything.) …` or `V2Ray 4.34.0 (user) …` → flavour and
/// version, from the first line that has them.
pub fn parse_version(output: &str) -> Option<(Flavour, String)> {
    output.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let flavour = match words.next()? {
            "Xray" => Flavour::Xray,
            "V2Ray" => Flavour::V2ray,
            _ => return None,
        };
        let version = words.next()?.trim_start_matches('v');
        version.split('.').next()?.parse::<u32>().ok()?;
        Some((flavour, version.to_owned()))
    })
}

async fn run_version(path: &Path, arg: &str) -> Result<String, String> {
    let output = Command::new(path)
        .arg(arg)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(VERSION_TIMEOUT, output).await {
        Err(_) => Err(format!(
            "`{arg}` did not answer within {} s",
            VERSION_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("cannot run it: {e}")),
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            Ok(text)
        }
    }
}

pub(crate) fn find_on_path(name: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// 3x-ui's binaries, sorted so the choice does not depend on directory order.
fn x_ui_binaries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("xray-linux-"))
        .map(|e| e.path())
        .filter(|p| is_executable(p))
        .collect();
    found.sort();
    found
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Core configs carry private keys and client ids: readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::os::unix::process::ExitStatusExt;

    /// A shell script standing in for a core: prints `banner` for any version command.
    /// Written by a separate `sh`: were this multi-threaded process to hold the write handle,
    /// a fork by another test thread could inherit it and exec would fail with ETXTBSY.
    fn fake_core(dir: &Path, name: &str, banner: &str) -> PathBuf {
        let path = dir.join(name);
        let script = format!("#!/bin/sh\necho '{banner}'");
        let written = std::process::Command::new("sh")
            .args(["-c", "printf '%s\\n' \"$1\" > \"$2\" && chmod 755 \"$2\""])
            .args(["sh", &script])
            .arg(&path)
            .status()
            .unwrap();
        assert!(written.success());
        path
    }

    #[test]
    fn versions_are_read_from_both_banners() {
        assert_eq!(
            parse_version("Xray 1.8.24 (Xray, Penetrates Everything.) 3f4fd6a (go1.22.4 linux/amd64)\nA unified platform for anti-censorship."),
            Some((Flavour::Xray, "1.8.24".into()))
        );
        assert_eq!(
            parse_version("V2Ray 4.34.0 (user) 20230518-074445 (go1.19.8 linux/amd64)\n"),
            Some((Flavour::V2ray, "4.34.0".into()))
        );
        assert_eq!(parse_version("Usage: foo [options]"), None);
        assert_eq!(parse_version("Xray version"), None);
    }

    #[tokio::test]
    async fn discovery_prefers_xray_then_v2ray_then_3x_ui() {
        let dir = TempDir::new("discover");
        let (bin, x_ui) = (dir.path().join("bin"), dir.path().join("x-ui"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&x_ui).unwrap();
        let path_var = Some(bin.clone().into_os_string());
        let discover = || CoreBinary::discover_in(None, path_var.clone(), &x_ui);

        let err = discover().await.unwrap_err();
        assert!(matches!(err, CoreError::NotFound(_)), "{err}");

        fake_core(
            &x_ui,
            "xray-linux-amd64",
            "Xray 1.8.4 (Xray, Penetrates Everything.)",
        );
        let found = discover().await.unwrap();
        assert_eq!(
            (found.flavour, found.version.as_str()),
            (Flavour::Xray, "1.8.4")
        );

        fake_core(&bin, "v2ray", "V2Ray 4.34.0 (user) 20230518-074445");
        let found = discover().await.unwrap();
        assert_eq!(found.path, bin.join("v2ray"));
        assert_eq!(
            (found.flavour, found.version.as_str()),
            (Flavour::V2ray, "4.34.0")
        );

        fake_core(&bin, "xray", "Xray 25.1.30 (Xray, Penetrates Everything.)");
        assert_eq!(discover().await.unwrap().path, bin.join("xray"));

        // A configured binary is used or refused, never swapped for another.
        let other = fake_core(dir.path(), "core", "Usage: core [run|version]");
        let err = CoreBinary::discover_in(Some(&other), path_var.clone(), &x_ui)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not look like Xray"), "{err}");
    }

    #[tokio::test]
    async fn v2ray_5_is_refused_with_a_reason_and_the_search_goes_on() {
        let dir = TempDir::new("discover-v5");
        let v5 = fake_core(
            dir.path(),
            "v2ray",
            "V2Ray 5.4.1 (V2Fly, a community-driven edition of V2Ray.) Custom",
        );
        let err = CoreBinary::probe(&v5).await.unwrap_err().to_string();
        assert!(err.contains("v2ray 5.4.1 is not supported"), "{err}");

        let path_var = Some(dir.path().as_os_str().to_owned());
        let none = dir.path().join("no-x-ui");
        let err = CoreBinary::discover_in(None, path_var.clone(), &none)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        std::fs::create_dir_all(&none).unwrap();
        fake_core(
            &none,
            "xray-linux-arm64",
            "Xray 1.8.24 (Xray, Penetrates Everything.)",
        );
        let found = CoreBinary::discover_in(None, path_var, &none)
            .await
            .unwrap();
        assert_eq!(found.flavour, Flavour::Xray);
    }

    #[test]
    fn a_core_message_keeps_the_reason_and_drops_the_noise() {
        let v2ray = "V2Ray 4.34.0 (user) 20230518-074445 (go1.19.8 linux/amd64)\n\
            A unified platform for anti-censorship.\n\
            2026/11/25 18:43:22 [Info] v2ray.com/core/main/jsonem: Reading config: bad.json\n\
            main: failed to read config files: [bad.json] > v2ray.com/core/infra/conf: unknown config id: nonsense\n";
        let status = ExitStatus::from_raw(23 << 8);
        assert_eq!(
            core_message(v2ray, status),
            "main: failed to read config files: [bad.json] > v2ray.com/core/infra/conf: unknown config id: nonsense"
        );
        let panic = "V2Ray 4.34.0 (user)\npanic: failed to read config file at line 1 char 2\n\n\
            goroutine 1 [running]:\nv2ray.com/core/common.Must(...)\n";
        assert_eq!(
            core_message(panic, status),
            "panic: failed to read config file at line 1 char 2"
        );
        let xray = "Xray 1.8.24 (Xray, Penetrates Everything.) 3f4fd6a\n\
            A unified platform for anti-censorship.\n\
            2024/05/01 10:00:00.123 [Info] infra/conf/serial: Reading config: &{Name:c.json}\n\
            Failed to start: main: failed to load config files: [c.json] > infra/conf: unknown config id: nonsense\n";
        assert!(core_message(xray, status).starts_with("Failed to start: main:"));
        assert!(core_message("", status).contains("config test failed"));
    }
}
