use futures_util::stream;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use sha2::{Digest, Sha256};
use xfleet_common::methods::{update_signed_message, AgentUpdateRequest};

use super::marker::{Marker, MarkerState, UpdateFiles};
use super::*;
use crate::testutil::TempDir;

struct TestCa {
    pem: String,
    key: EcdsaKeyPair,
}

fn new_ca() -> TestCa {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    let pem = params.self_signed(&key).unwrap().pem();
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.serialize_der(),
        &SystemRandom::new(),
    )
    .unwrap();
    TestCa { pem, key }
}

fn request(ca: &TestCa, binary: &[u8], version: &str) -> AgentUpdateRequest {
    let sha256: String = Sha256::digest(binary)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let arch = std::env::consts::ARCH;
    let message = update_signed_message(&sha256, version, arch);
    let signature = ca.key.sign(&SystemRandom::new(), &message).unwrap();
    AgentUpdateRequest {
        version: version.into(),
        arch: arch.into(),
        sha256,
        signature: signature.as_ref().to_vec(),
    }
}

async fn receive(
    files: &UpdateFiles,
    ca_pem: &str,
    request: &AgentUpdateRequest,
    binary: &[u8],
) -> Result<(), String> {
    let chunks: Vec<Result<Vec<u8>, String>> =
        binary.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    stage::precheck(request, binary.len() as u64, version::current())?;
    stage::receive(
        files,
        ca_pem,
        request,
        binary.len() as u64,
        stream::iter(chunks),
    )
    .await
}

fn bin_entries(files: &UpdateFiles) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&files.bin_dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A binary whose digest and signature check out is staged as the trial, executable; one
/// with changed bytes, a signature by another key, another version or architecture, or the
/// running version is refused with a reason and leaves nothing behind.
#[tokio::test]
async fn only_a_checked_binary_is_staged() {
    let dir = TempDir::new("update");
    let files = UpdateFiles::new(dir.path());
    let ca = new_ca();
    let binary = vec![7u8; 300_000];

    let good = request(&ca, &binary, "9.9.9");
    let mut changed = binary.clone();
    changed[1234] ^= 1;
    let err = receive(&files, &ca.pem, &good, &changed).await.unwrap_err();
    assert!(err.contains("SHA-256 mismatch"), "{err}");
    assert!(bin_entries(&files).is_empty(), "{:?}", bin_entries(&files));

    let stranger = new_ca();
    let forged = request(&stranger, &binary, "9.9.9");
    let err = receive(&files, &ca.pem, &forged, &binary)
        .await
        .unwrap_err();
    assert!(err.contains("signature does not verify"), "{err}");
    assert!(bin_entries(&files).is_empty());

    let mut relabelled = good.clone();
    relabelled.version = "9.9.8".into();
    let err = receive(&files, &ca.pem, &relabelled, &binary)
        .await
        .unwrap_err();
    assert!(err.contains("signature does not verify"), "{err}");

    let mut other_arch = good.clone();
    other_arch.arch = "riscv64".into();
    let err = receive(&files, &ca.pem, &other_arch, &binary)
        .await
        .unwrap_err();
    assert!(err.contains("riscv64"), "{err}");

    let same = request(&ca, &binary, version::current());
    let err = receive(&files, &ca.pem, &same, &binary).await.unwrap_err();
    assert!(err.contains("already runs"), "{err}");

    let err = receive(&files, &ca.pem, &good, &binary[..1000])
        .await
        .unwrap_err();
    assert!(err.contains("SHA-256") || err.contains("bytes"), "{err}");
    assert!(bin_entries(&files).is_empty());

    receive(&files, &ca.pem, &good, &binary).await.unwrap();
    assert_eq!(bin_entries(&files), ["xfleet-agent.trial"]);
    assert_eq!(std::fs::read(&files.trial).unwrap(), binary);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files.trial)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// A trial marker found at start by a binary other than the trial means the trial died
/// before it connected: the trial is removed, the marker says rolled back and why, and the
/// next Hello carries that until a Welcome clears it.
#[test]
fn a_trial_that_died_is_rolled_back_at_start() {
    let dir = TempDir::new("update");
    let files = UpdateFiles::new(dir.path());
    std::fs::create_dir_all(&files.bin_dir).unwrap();
    std::fs::write(&files.trial, b"#!/bin/sh\nexit 1\n").unwrap();
    let marker = Marker {
        version: "9.9.9".into(),
        from_version: "0.1.0".into(),
        state: MarkerState::Trial,
        deadline_ms: i64::MAX,
        attempts: 1,
        pid: 1,
        pid_start: 0,
        previous: "/usr/local/bin/xfleet-agent".into(),
        argv: vec!["xfleet-agent".into(), "run".into()],
        message: String::new(),
        at_ms: 0,
    };
    marker.write(&files.marker).unwrap();

    boot(dir.path());

    assert!(!files.trial.exists());
    let after = Marker::read(&files.marker).unwrap();
    assert_eq!(after.state, MarkerState::RolledBack);
    assert!(after.message.contains("9.9.9"), "{}", after.message);
    let updates = Updates::open(dir.path(), &dir.path().join("ca.pem"), 60_000);
    let report = updates.hello_report().unwrap();
    assert_eq!(report.outcome, "rolled_back");
    assert_eq!(report.version, "9.9.9");
    updates.welcomed();
    assert!(updates.hello_report().is_none());
    assert!(!files.marker.exists());
}
