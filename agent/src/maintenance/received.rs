//! Files the controller sends as a call's stream (protocol 2) instead of the agent
//! downloading them: written to a temp file beside their destination while hashed, so the
//! caller checks the digest before anything replaces what the core uses.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use xfleet_common::channel::{Bytes, IncomingStream};

use super::download::hex;
use crate::fsutil::{TempFile, PUBLIC};

/// One file of a stream, in its temp file.
#[derive(Debug)]
pub struct Received {
    pub file: TempFile,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Reads consecutive files out of one stream (several geo files follow one another; a chunk
/// may hold the end of one and the start of the next).
pub struct StreamFiles<'a> {
    stream: &'a mut IncomingStream,
    rest: Bytes,
}

impl<'a> StreamFiles<'a> {
    pub fn new(stream: &'a mut IncomingStream) -> Self {
        Self {
            stream,
            rest: Bytes::new(),
        }
    }

    /// The next `size` bytes, written to a temp file beside `dest`.
    pub async fn next_file(&mut self, size: u64, dest: &Path) -> Result<Received, String> {
        let file = TempFile::next_to(dest);
        let mut out = tokio::fs::File::create(file.path())
            .await
            .map_err(|e| format!("creating {}: {e}", file.path().display()))?;
        // Explicitly, past the service's UMask=0077: the core may run as another user.
        out.set_permissions(std::fs::Permissions::from_mode(PUBLIC))
            .await
            .map_err(|e| format!("creating {}: {e}", file.path().display()))?;
        let mut sha = Sha256::new();
        let mut left = size;
        while left > 0 {
            let piece = self.take(left).await?;
            left -= piece.len() as u64;
            sha.update(&piece);
            out.write_all(&piece)
                .await
                .map_err(|e| format!("writing {}: {e}", file.path().display()))?;
        }
        out.sync_all()
            .await
            .map_err(|e| format!("writing {}: {e}", file.path().display()))?;
        Ok(Received {
            file,
            size,
            sha256: hex(&sha.finalize()),
        })
    }

    /// Skips `size` bytes (a file already in place).
    pub async fn skip(&mut self, size: u64) -> Result<(), String> {
        let mut left = size;
        while left > 0 {
            left -= self.take(left).await?.len() as u64;
        }
        Ok(())
    }

    /// Up to `max` bytes: what is left of the last chunk, else the next chunk.
    async fn take(&mut self, max: u64) -> Result<Bytes, String> {
        if self.rest.is_empty() {
            self.rest = self
                .stream
                .next_chunk()
                .await
                .map_err(|e| format!("receiving from the controller: {e}"))?
                .ok_or("the controller's stream ended early")?;
        }
        let n = (max as usize).min(self.rest.len());
        Ok(self.rest.split_to(n))
    }
}
