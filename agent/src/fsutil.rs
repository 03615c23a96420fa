//! Crash-safe file writes: a reader sees the old file or the new one, never half of either.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Mode of private keys, set when the file is created so the key is never readable by others,
/// not even for a moment.
pub const PRIVATE: u32 = 0o600;
pub const PUBLIC: u32 = 0o644;

/// Writes `bytes` to `path` through a temp file in the same directory: write, fsync, rename,
/// fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = stage(path, bytes, mode)?;
    commit(&tmp, path)
}

/// First half of [`write_atomic`]: the data is durable in a temp file next to `path`. Lets a
/// caller stage several files (key and certificate) before renaming any of them.
pub fn stage(path: &Path, bytes: &[u8], mode: u32) -> io::Result<PathBuf> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Second half of [`write_atomic`]: renames a staged file into place and makes it durable.
pub fn commit(tmp: &Path, path: &Path) -> io::Result<()> {
    std::fs::rename(tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })?;
    sync_dir(path)
}

/// Creates `path` with `bytes`, failing if it exists; fsyncs file and directory.
pub fn create_durable(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    sync_dir(path)
}

/// A temp file next to its destination that is removed when dropped, so an error, a timeout
/// or a cancelled task leaves nothing behind; [`TempFile::commit`] renames it into place.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Reserves a temp name next to `dest`; the caller creates the file (with `create_new`).
    pub fn next_to(dest: &Path) -> Self {
        Self {
            path: temp_path(dest),
            armed: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the (already fsync'd) file to `dest` and makes the rename durable.
    pub fn commit(mut self, dest: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, dest)?;
        self.armed = false;
        sync_dir(dest)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Makes a rename or a new file in `path`'s directory survive a power loss.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce: u32 = rand::random();
    path.with_file_name(format!(".{name}.{}.{nonce:08x}.tmp", std::process::id()))
}

/// Whether a directory entry is a leftover of an interrupted [`stage`].
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_content_and_sets_mode() {
        let dir = crate::testutil::TempDir::new("fsutil");
        let path = dir.path().join("agent.key");
        write_atomic(&path, b"one", PRIVATE).unwrap();
        write_atomic(&path, b"two", PRIVATE).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(create_durable(&path, b"x", PUBLIC).is_err());
    }

    #[test]
    fn temp_file_is_removed_unless_committed() {
        let dir = crate::testutil::TempDir::new("fsutil");
        let dest = dir.path().join("geoip.dat");
        let dropped = TempFile::next_to(&dest);
        std::fs::write(dropped.path(), b"half").unwrap();
        assert!(is_temp_name(
            &dropped.path().file_name().unwrap().to_string_lossy()
        ));
        drop(dropped);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let kept = TempFile::next_to(&dest);
        std::fs::write(kept.path(), b"whole").unwrap();
        kept.commit(&dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
