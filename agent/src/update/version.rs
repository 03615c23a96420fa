//! The version this binary reports, kept in a fixed-size slot of its data so two builds that
//! differ only in version string can be made by patching a copy (tests do that to get an
//! agent "B" without rebuilding). The slot is `XFLEET-VERSION:<version>` padded with NULs; the
//! version ends at the first NUL.

/// Size of the whole slot, prefix included.
pub const SLOT_LEN: usize = 64;
/// What the slot starts with; a patcher looks for it followed by the version and a NUL.
pub const SLOT_PREFIX: &[u8] = b"XFLEET-VERSION:";

#[used]
static VERSION_SLOT: [u8; SLOT_LEN] = slot(env!("CARGO_PKG_VERSION"));

const fn slot(version: &str) -> [u8; SLOT_LEN] {
    let mut out = [0u8; SLOT_LEN];
    let version = version.as_bytes();
    assert!(SLOT_PREFIX.len() + version.len() < SLOT_LEN);
    let mut i = 0;
    while i < SLOT_PREFIX.len() {
        out[i] = SLOT_PREFIX[i];
        i += 1;
    }
    let mut j = 0;
    while j < version.len() {
        out[SLOT_PREFIX.len() + j] = version[j];
        j += 1;
    }
    out
}

/// The version this binary reports in Hello, `agent.info` and `--version`.
pub fn current() -> &'static str {
    // Read through an opaque reference so the compiler cannot fold the build-time value into
    // the code: a patched slot must be what is reported.
    let slot: &'static [u8; SLOT_LEN] = std::hint::black_box(&VERSION_SLOT);
    parse(slot).unwrap_or(env!("CARGO_PKG_VERSION"))
}

fn parse(slot: &[u8]) -> Option<&str> {
    let rest = slot.strip_prefix(SLOT_PREFIX)?;
    let end = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..end])
        .ok()
        .filter(|v| !v.is_empty())
}

/// Rewrites the version slot in a copy of an agent binary: `from` must be the version it
/// holds, `to` fits the slot. Used to make a second build for tests and benchmarks.
pub fn patch(binary: &mut [u8], from: &str, to: &str) -> Result<(), String> {
    let needle = [SLOT_PREFIX, from.as_bytes(), b"\0"].concat();
    if SLOT_PREFIX.len() + to.len() >= SLOT_LEN || to.is_empty() || to.contains('\0') {
        return Err(format!("version `{to}` does not fit the slot"));
    }
    let at = binary
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or_else(|| format!("no version slot holding `{from}`"))?;
    let slot = &mut binary[at..at + SLOT_LEN];
    slot[SLOT_PREFIX.len()..].fill(0);
    slot[SLOT_PREFIX.len()..SLOT_PREFIX.len() + to.len()].copy_from_slice(to.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_build_version() {
        assert_eq!(current(), env!("CARGO_PKG_VERSION"));
    }

    /// A patched slot reads as the new version, the rest of the bytes untouched.
    #[test]
    fn a_patched_slot_reads_as_the_new_version() {
        let mut bytes = vec![7u8; 10];
        bytes.extend_from_slice(&slot("0.1.0"));
        bytes.extend_from_slice(&[9u8; 10]);
        patch(&mut bytes, "0.1.0", "0.1.0-b").unwrap();
        assert_eq!(parse(&bytes[10..10 + SLOT_LEN]), Some("0.1.0-b"));
        assert_eq!(&bytes[..10], &[7u8; 10]);
        assert_eq!(&bytes[10 + SLOT_LEN..], &[9u8; 10]);
        assert!(
            patch(&mut bytes, "0.1.0", "0.2.0").is_err(),
            "the old one is gone"
        );
    }
}
