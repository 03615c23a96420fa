//! The install line as an operator runs it: a controller whose catalog holds this build's
//! agent, the line printed by `xfleet token create`, run by `sh` with a prefix, and the agent
//! it installs started from where it was installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::{bin, Controller, ControllerOptions, TempDir};

/// A folder holding this build's agent under the catalog's name for it
/// (`xfleet-agent-<version>-linux-<arch>`), for `XFLEET_AGENT_BINARIES_DIR`.
pub fn agent_catalog() -> TempDir {
    let dir = TempDir::new("agents");
    let name = format!(
        "xfleet-agent-{}-linux-{}",
        xfleet_common::VERSION,
        std::env::consts::ARCH
    );
    std::os::unix::fs::symlink(bin("xfleet-agent"), dir.path().join(name)).unwrap();
    dir
}

/// A controller that hands out this build's agent from `catalog`.
pub async fn controller_with_agents(
    catalog: &TempDir,
    mut options: ControllerOptions,
) -> Controller {
    options.extra_env.push((
        "XFLEET_AGENT_BINARIES_DIR".into(),
        catalog.path().display().to_string(),
    ));
    Controller::start(options).await
}

/// The install line `xfleet token create --server NAME` prints.
pub fn install_line(ctl: &Controller, server: &str) -> String {
    let (ok, out) = ctl.cli(&["token", "create", "--server", server]);
    assert!(ok, "token create failed: {out}");
    out.lines()
        .find(|l| l.starts_with("(curl "))
        .unwrap_or_else(|| panic!("no install line in: {out}"))
        .to_owned()
}

/// The pin the line gives curl (`sha256//…`).
pub fn pin_of(line: &str) -> String {
    let start = line.find("sha256//").expect("a pinned key") + "sha256//".len();
    line[start..].split('\'').next().unwrap().to_owned()
}

/// Runs the line through `sh -c` with more installer options appended (`--prefix DIR
/// --no-service`), as a shell would; `env` is added to the environment.
pub fn run_line(line: &str, extra: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{line} {extra}"))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run sh")
}

/// Where a prefix install puts things.
pub struct Installed {
    pub binary: PathBuf,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Installed {
    pub fn under(prefix: &Path) -> Self {
        Self {
            binary: prefix.join("usr/local/bin/xfleet-agent"),
            config_dir: prefix.join("etc/xfleet-agent"),
            data_dir: prefix.join("var/lib/xfleet-agent"),
        }
    }

    /// `xfleet-agent --config-dir … run` from the installed binary, optionally wrapped
    /// (`ip netns exec NAME`); stopped with its core when dropped.
    pub fn start(&self, wrapper: &[String]) -> RunningAgent {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        cmd.arg("--config-dir")
            .arg(&self.config_dir)
            .arg("run")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        RunningAgent {
            child: cmd.spawn().expect("start the installed agent"),
            data_dir: self.data_dir.clone(),
        }
    }
}

/// An installed agent running; killed with the core it started when dropped.
pub struct RunningAgent {
    child: Child,
    data_dir: PathBuf,
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let needle = self.data_dir.join("core").to_string_lossy().into_owned();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&needle) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

/// Every file under `dir` with its contents, sorted by path.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
        }
    }
    out.sort();
    out
}

/// A network namespace joined to the test's namespace by a veth pair (`10.217.N.1` here,
/// `10.217.N.2` inside, its default route through it): a host that reaches the controller
/// only outward. Removed with its veth when dropped.
pub struct Netns {
    pub name: String,
    /// This side's address: where the controller and targets listen for the namespace.
    pub outside: String,
    /// The namespace's address.
    pub inside: String,
}

impl Netns {
    /// Makes the namespace, or says why it cannot (not root, no `ip`).
    pub fn create() -> Result<Self, String> {
        if !Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
        {
            return Err("not root".into());
        }
        let n = std::process::id() % 250 + 1;
        let ns = Self {
            name: format!("xfleet{n}"),
            outside: format!("10.217.{n}.1"),
            inside: format!("10.217.{n}.2"),
        };
        let veth = format!("xfv{n}");
        let peer = format!("xfp{n}");
        // Left over from a run that was killed: start clean.
        let _ = Command::new("ip").args(["netns", "del", &ns.name]).output();
        let _ = Command::new("ip").args(["link", "del", &veth]).output();
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), ns.name.clone()],
            vec![
                "link".into(),
                "add".into(),
                veth.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                peer.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                peer.clone(),
                "netns".into(),
                ns.name.clone(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{}/30", ns.outside),
                "dev".into(),
                veth.clone(),
            ],
            vec!["link".into(), "set".into(), veth.clone(), "up".into()],
            ns.inside_cmd(&["addr", "add", &format!("{}/30", ns.inside), "dev", &peer]),
            ns.inside_cmd(&["link", "set", &peer, "up"]),
            ns.inside_cmd(&["link", "set", "lo", "up"]),
            ns.inside_cmd(&["route", "add", "default", "via", &ns.outside]),
        ];
        for step in steps {
            let out = Command::new("ip")
                .args(&step)
                .output()
                .map_err(|e| format!("ip: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    step.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(ns)
    }

    fn inside_cmd(&self, args: &[&str]) -> Vec<String> {
        ["netns", "exec", &self.name, "ip"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    }

    /// `ip netns exec NAME`, to put in front of a command.
    pub fn exec(&self) -> Vec<String> {
        vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.name.clone(),
        ]
    }

    /// Runs `nft -f -` inside the namespace with `rules`.
    pub fn nft(&self, rules: &str) -> Result<(), String> {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
