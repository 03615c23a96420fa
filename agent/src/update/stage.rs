//! Receiving an update: the binary is written to a private temp file in `DATA/bin` while it
//! is hashed, then checked (length, SHA-256, signature, architecture, version) and only then
//! renamed to the trial name. Any refusal removes the temp file: nothing changes.

use std::fmt::Display;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use xfleet_common::methods::AgentUpdateRequest;

use super::marker::UpdateFiles;
use crate::fsutil::{self, TempFile};

/// Largest agent binary accepted.
pub const MAX_BINARY_BYTES: u64 = 128 << 20;

/// Checks what can be checked before a byte is received.
pub fn precheck(request: &AgentUpdateRequest, len: u64, running: &str) -> Result<(), String> {
    if request.version == running {
        return Err(format!("this agent already runs version {running}"));
    }
    if request.arch != std::env::consts::ARCH {
        return Err(format!(
            "the binary is for {}, this host is {}",
            request.arch,
            std::env::consts::ARCH
        ));
    }
    if len == 0 || len > MAX_BINARY_BYTES {
        return Err(format!(
            "a binary of {len} bytes is refused (at most {MAX_BINARY_BYTES})"
        ));
    }
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&request.sha256) {
        return Err("`sha256` must be 64 hex digits".into());
    }
    Ok(())
}

/// Receives `len` bytes from `chunks` into a temp file, checks them against `request` and
/// the pinned CA (`ca_pem`), and on success leaves them at `files.trial` (mode 0700).
pub async fn receive<S, B, E>(
    files: &UpdateFiles,
    ca_pem: &str,
    request: &AgentUpdateRequest,
    len: u64,
    mut chunks: S,
) -> Result<(), String>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: Display,
{
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&files.bin_dir)
        .map_err(|e| format!("cannot create {}: {e}", files.bin_dir.display()))?;
    let tmp = TempFile::next_to(&files.trial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(tmp.path())
        .map_err(|e| format!("cannot create {}: {e}", tmp.path().display()))?;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| format!("the transfer broke off: {e}"))?;
        let chunk = chunk.as_ref();
        received += chunk.len() as u64;
        if received > len {
            return Err(format!("more than the announced {len} bytes arrived"));
        }
        hasher.update(chunk);
        file.write_all(chunk)
            .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
    }
    if received != len {
        return Err(format!(
            "the transfer ended after {received} of {len} bytes"
        ));
    }
    file.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
    drop(file);
    let digest = hex(&hasher.finalize());
    if !digest.eq_ignore_ascii_case(&request.sha256) {
        return Err(format!(
            "SHA-256 mismatch: received {digest}, expected {}",
            request.sha256
        ));
    }
    super::verify::verify(
        ca_pem,
        &request.sha256.to_ascii_lowercase(),
        &request.version,
        &request.arch,
        &request.signature,
    )?;
    tmp.commit(&files.trial)
        .map_err(|e| format!("cannot stage {}: {e}", files.trial.display()))?;
    fsutil::sync_dir(&files.trial).map_err(|e| e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a file in `dir` is a leftover of an interrupted transfer.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if fsutil::is_temp_name(&entry.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
