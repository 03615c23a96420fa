//! What Xray publishes and prints: release versions and architecture names, the `.dgst`
//! checksum file beside each release zip, and the first line of `xray version`.

/// A version that is no release version (the text as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version `{0}`: expected a release version such as 25.3.6")]
pub struct BadVersion(pub String);

/// A release version without the tag's `v`; only characters that are safe in a URL path.
pub fn normalize_version(version: &str) -> Result<String, BadVersion> {
    let v = version.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    let ok = v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(BadVersion(version.to_owned()))
    }
}

/// The `{arch}` part of Xray's Linux release names for a Rust target architecture.
pub fn xray_arch(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "x86_64" => "64",
        "aarch64" => "arm64-v8a",
        "x86" => "32",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        _ => return None,
    })
}

/// The SHA-256 in an Xray `.dgst` file. Its lines are `openssl dgst` output with the file
/// name removed: `SHA2-256= <hex>` (OpenSSL 1.1 writes `SHA256= <hex>`); a line that kept
/// the name, `SHA2-256(Xray-linux-64.zip)= <hex>`, is accepted too.
pub fn parse_dgst(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        let key = key.split('(').next()?.trim().to_ascii_uppercase();
        if !matches!(key.as_str(), "SHA2-256" | "SHA256" | "SHA-256") {
            return None;
        }
        let hex = value.trim();
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hex.to_ascii_lowercase())
    })
}

/// The version in `xray version` (or `v2ray version`) output: `Xray 25.3.6 (Xray, Penetrates
/// Everything.) …` gives `25.3.6`.
pub fn parse_version_output(output: &str) -> Option<String> {
    let version = output.lines().next()?.split_whitespace().nth(1)?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dgst_files_in_every_openssl_shape_parse() {
        let hash = "8d5b2f0e7e2a4c1b9f3e6d7c8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b";
        let xray = format!(
            "MD5= 0cc175b9c0f1b6a831c399e269772661\nSHA1= 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8\n\
             SHA2-256= {hash}\nSHA2-512= {}\n",
            "ab".repeat(64)
        );
        assert_eq!(parse_dgst(&xray).as_deref(), Some(hash));
        let old = format!("SHA256= {}\n", hash.to_uppercase());
        assert_eq!(parse_dgst(&old).as_deref(), Some(hash));
        let named = format!("SHA2-256(Xray-linux-64.zip)= {hash}\n");
        assert_eq!(parse_dgst(&named).as_deref(), Some(hash));
        assert_eq!(parse_dgst("SHA2-256= abc\n"), None);
        assert_eq!(parse_dgst(&format!("SHA2-512= {hash}\n")), None);
    }

    #[test]
    fn versions_are_tags_without_the_v_and_url_safe() {
        assert_eq!(normalize_version("v25.3.6").unwrap(), "25.3.6");
        assert_eq!(normalize_version(" 1.8.24 ").unwrap(), "1.8.24");
        assert_eq!(normalize_version("25.1.1-beta2").unwrap(), "25.1.1-beta2");
        for bad in ["", "v", "latest", "1.0/../../evil", "1.0?x=1", "1.0 2"] {
            assert!(normalize_version(bad).is_err(), "{bad}");
        }
        let out = "Xray 25.3.6 (Xray, Penetrates Everything.) 9a1d2e4 (go1.24.1 linux/amd64)\n\
                   A unified platform for anti-censorship.\n";
        assert_eq!(parse_version_output(out).as_deref(), Some("25.3.6"));
        assert_eq!(
            parse_version_output("V2Ray 4.34.0 (V2Fly) x").as_deref(),
            Some("4.34.0")
        );
        assert_eq!(parse_version_output("usage: xray"), None);
    }
}
