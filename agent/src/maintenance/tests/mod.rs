//! Downloads, core installs and geo updates against a release host on 127.0.0.1 that serves
//! the real formats: a deflate zip, Xray's `.dgst` file, redirects, `Last-Modified` and 304.

mod download;

use std::path::Path;

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
    use sha2::Digest;
    super::download::hex(&sha2::Sha256::digest(bytes))
}
