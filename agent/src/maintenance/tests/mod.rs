//! Downloads, core installs and geo updates against a release host on 127.0.0.1 that serves
//! the real formats: a deflate zip, Xray's `.dgst` file, redirects, `Last-Modified` and 304.

mod download;
mod geo;
mod install;

use std::io::{Cursor, Write};
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256, Sha512};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::download::hex;
use super::release::parse_version_output;

/// Every file in `dir`, sorted; temp files show up as `.name.pid.nonce.tmp`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A stand-in for the `xray` binary: answers `version` like Xray does and `run -test -c FILE`
/// like its config test, passing or failing.
fn fake_xray(version: &str, config_ok: bool) -> Vec<u8> {
    let test = if config_ok {
        "echo 'Configuration OK.'; exit 0"
    } else {
        "echo 'Failed to start: main: failed to load config files: [config.json] > infra/conf: \
         unknown protocol: vles' >&2; exit 23"
    };
    format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         version)\n\
           echo 'Xray {version} (Xray, Penetrates Everything.) 3f1e0c2 (go1.24.1 linux/amd64)'\n\
           echo 'A unified platform for anti-censorship.'; exit 0 ;;\n\
         run)\n\
           if [ \"$2\" = -test ] && [ \"$3\" = -c ] && [ -f \"$4\" ]; then {test}; fi ;;\n\
         esac\n\
         echo \"unexpected arguments: $*\" >&2; exit 1\n"
    )
    .into_bytes()
}

/// A release zip shaped like Xray's: the binary (mode 0755), geo files and the docs, deflated.
fn release_zip(xray: &[u8]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let entries: [(&str, &[u8], u32); 5] = [
        ("LICENSE", b"Mozilla Public License Version 2.0\n", 0o644),
        ("README.md", b"# Project X\n", 0o644),
        ("geoip.dat", &[0x0a, 0x02, 0x43, 0x4e][..], 0o644),
        ("geosite.dat", &[0x0a, 0x06, 0x47, 0x4f, 0x4f][..], 0o644),
        ("xray", xray, 0o755),
    ];
    for (name, body, mode) in entries {
        zip.start_file(name, options.unix_permissions(mode))
            .unwrap();
        zip.write_all(body).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The `.dgst` file Xray's release workflow publishes beside each zip (`openssl dgst` lines
/// with the file name cut out).
fn dgst(zip: &[u8]) -> String {
    format!(
        "SHA2-256= {}\nSHA2-512= {}\n",
        sha256_hex(zip),
        hex(&Sha512::digest(zip))
    )
}

/// What the supervisor will run as the version check: `<binary> version`.
fn version_check(binary: &Path) -> Result<String, String> {
    let out = run(binary, &["version"])?;
    parse_version_output(&out).ok_or_else(|| format!("unexpected `version` output: {out}"))
}

/// What the supervisor will run as the config test: `<binary> run -test -c <config>`.
fn config_check(config: &Path) -> impl FnOnce(&Path) -> Result<(), String> + Send + 'static {
    let config = config.to_owned();
    move |binary| run(binary, &["run", "-test", "-c", config.to_str().unwrap()]).map(drop)
}

fn run(binary: &Path, args: &[&str]) -> Result<String, String> {
    // A file just written can be briefly "busy" while another test thread forks with its
    // descriptor inherited; that passes as soon as that child execs.
    for _ in 0..200 {
        match Command::new(binary).args(args).output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => return Err(format!("cannot run {}: {e}", binary.display())),
            Ok(out) if out.status.success() => {
                return Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            }
            Ok(out) => {
                return Err(format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        }
    }
    Err(format!("{} stayed busy", binary.display()))
}
