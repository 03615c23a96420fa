use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{config_check, dgst, fake_xray, listing, release_zip, sha256_hex, version_check};
use crate::config::MaintenanceConfig;
use crate::maintenance::release::xray_arch;
use crate::maintenance::{CoreBinary, InstallError, Installed};
use crate::testutil::{ReleaseHost, Route, TempDir};

/// A host with a core at `<dir>/bin/xray` (version 1.0.0) and a config beside it.
struct Fixture {
    host: ReleaseHost,
    dir: TempDir,
    core: CoreBinary,
    config: PathBuf,
    old: Vec<u8>,
}

impl Fixture {
    async fn new() -> Self {
        let host = ReleaseHost::start().await;
        let dir = TempDir::new("install");
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let path = dir.path().join("bin/xray");
        let old = fake_xray("1.0.0", true);
        write_executable(&path, &old);
        let config = dir.path().join("config.json");
        std::fs::write(&config, "{\"inbounds\": []}").unwrap();
        let template = format!(
            "{}/XTLS/Xray-core/releases/download/v{{version}}/Xray-linux-{{arch}}.zip",
            host.base
        );
        let maintenance = MaintenanceConfig {
            core_url_template: template,
            ..Default::default()
        };
        let core = CoreBinary::new(path, &maintenance);
        Self {
            host,
            dir,
            core,
            config,
            old,
        }
    }

    /// Publishes a release the way GitHub does: the release link redirects to a CDN object.
    fn publish(&self, version: &str, zip: &[u8], dgst: &str) {
        let arch = xray_arch(std::env::consts::ARCH).unwrap();
        let asset = format!("/XTLS/Xray-core/releases/download/v{version}/Xray-linux-{arch}.zip");
        let cdn = format!("/objects/{}", sha256_hex(zip));
        self.host
            .set(&asset, Route::Redirect(302, self.host.url(&cdn)));
        self.host.set(&cdn, Route::file(zip.to_vec()));
        self.host.set(
            &format!("{asset}.dgst"),
            Route::Redirect(302, format!("{cdn}.dgst")),
        );
        self.host
            .set(&format!("{cdn}.dgst"), Route::file(dgst.to_owned()));
    }

    async fn install(&self, version: &str) -> Result<Installed, InstallError> {
        self.core
            .install(version, version_check, config_check(&self.config))
            .await
    }

    fn bin_listing(&self) -> Vec<String> {
        listing(&self.dir.path().join("bin"))
    }

    fn assert_untouched(&self) {
        assert_eq!(std::fs::read(&self.core.path).unwrap(), self.old);
        assert_eq!(self.bin_listing(), ["xray"]);
    }
}

fn write_executable(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn install_swaps_atomically_and_keeps_the_old_binary() {
    let f = Fixture::new().await;
    let new = fake_xray("9.9.9", true);
    let zip = release_zip(&new);
    f.publish("9.9.9", &zip, &dgst(&zip));

    // Whoever looks at the binary path during the install sees the old or the new file, whole.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (path, done, old, new) = (
            f.core.path.clone(),
            done.clone(),
            f.old.clone(),
            new.clone(),
        );
        std::thread::spawn(move || {
            let mut looks = 0u64;
            while !done.load(Ordering::Acquire) {
                let seen = std::fs::read(&path).expect("the binary path always exists");
                assert!(seen == old || seen == new, "a partial binary was visible");
                looks += 1;
            }
            looks
        })
    };
    let installed = f.install("v9.9.9").await.unwrap();
    done.store(true, Ordering::Release);
    assert!(watcher.join().unwrap() > 0);

    assert_eq!(
        installed,
        Installed {
            version: "9.9.9".into(),
            previous_version: Some("1.0.0".into()),
            path: f.core.path.clone(),
        }
    );
    assert_eq!(std::fs::read(&f.core.path).unwrap(), new);
    assert_eq!(std::fs::read(f.core.previous_path()).unwrap(), f.old);
    let mode = std::fs::metadata(&f.core.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(version_check(&f.core.path).unwrap(), "9.9.9");
    // No zip, no temp files.
    assert_eq!(f.bin_listing(), ["xray", "xray.previous"]);
    let answer: xfleet_common::methods::CoreInstallAnswer = installed.into();
    assert_eq!(answer.previous_version.as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn rollback_restores_the_previous_binary() {
    let f = Fixture::new().await;
    let err = f.core.rollback().unwrap_err();
    assert!(matches!(err, InstallError::NoPrevious(_)), "{err}");

    let zip = release_zip(&fake_xray("9.9.9", true));
    f.publish("9.9.9", &zip, &dgst(&zip));
    f.install("9.9.9").await.unwrap();
    f.core.rollback().unwrap();
    f.assert_untouched();
    assert_eq!(version_check(&f.core.path).unwrap(), "1.0.0");
    assert!(matches!(
        f.core.rollback(),
        Err(InstallError::NoPrevious(_))
    ));
}

#[tokio::test]
async fn first_install_has_no_previous_version() {
    let f = Fixture::new().await;
    std::fs::remove_file(&f.core.path).unwrap();
    let zip = release_zip(&fake_xray("9.9.9", true));
    f.publish("9.9.9", &zip, &dgst(&zip));
    let installed = f.install("9.9.9").await.unwrap();
    assert_eq!(installed.previous_version, None);
    assert_eq!(f.bin_listing(), ["xray"]);
}

#[tokio::test]
async fn checksum_mismatch_names_both_hashes_and_leaves_the_old_binary() {
    let f = Fixture::new().await;
    let zip = release_zip(&fake_xray("9.9.9", true));
    let other = release_zip(&fake_xray("6.6.6", true));
    f.publish("9.9.9", &zip, &dgst(&other));

    let err = f.install("9.9.9").await.unwrap_err();
    assert_eq!(err.step(), "checksum");
    let message = err.to_string();
    assert!(message.contains(&sha256_hex(&zip)), "{message}");
    assert!(message.contains(&sha256_hex(&other)), "{message}");
    f.assert_untouched();
}

#[tokio::test]
async fn a_binary_that_fails_its_version_check_is_discarded() {
    let f = Fixture::new().await;
    // Not a program at all (a build for another architecture looks like this to exec).
    let zip = release_zip(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0xde, 0xad]);
    f.publish("9.9.9", &zip, &dgst(&zip));
    let err = f.install("9.9.9").await.unwrap_err();
    assert_eq!(err.step(), "version_check", "{err}");
    assert!(err.to_string().starts_with("version check failed"), "{err}");
    f.assert_untouched();

    // A release whose binary is some other version.
    let zip = release_zip(&fake_xray("9.9.7", true));
    f.publish("9.9.8", &zip, &dgst(&zip));
    let err = f.install("9.9.8").await.unwrap_err();
    assert_eq!(err.step(), "version_check", "{err}");
    assert!(err.to_string().contains("9.9.7"), "{err}");
    f.assert_untouched();
}

#[tokio::test]
async fn a_binary_that_rejects_the_config_is_discarded() {
    let f = Fixture::new().await;
    let zip = release_zip(&fake_xray("9.9.9", false));
    f.publish("9.9.9", &zip, &dgst(&zip));
    let err = f.install("9.9.9").await.unwrap_err();
    assert_eq!(err.step(), "config_test", "{err}");
    let message = err.to_string();
    assert!(message.starts_with("config test failed"), "{message}");
    assert!(message.contains("unknown protocol: vles"), "{message}");
    f.assert_untouched();
}

#[tokio::test]
async fn bad_releases_fail_at_the_step_that_found_them() {
    let f = Fixture::new().await;
    // Nothing published.
    let err = f.install("9.9.9").await.unwrap_err();
    assert_eq!(err.step(), "download", "{err}");
    assert!(err.to_string().contains("404"), "{err}");

    // A zip without the binary.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("README.md", zip::write::SimpleFileOptions::default())
        .unwrap();
    let zip = zip.finish().unwrap().into_inner();
    f.publish("9.9.9", &zip, &dgst(&zip));
    let err = f.install("9.9.9").await.unwrap_err();
    assert_eq!(err.step(), "unpack", "{err}");
    assert!(err.to_string().contains("no `xray`"), "{err}");

    // A checksum file without a SHA-256.
    f.publish("9.9.9", &zip, "MD5= 0cc175b9c0f1b6a831c399e269772661\n");
    let err = f.install("9.9.9").await.unwrap_err();
    assert_eq!(err.step(), "checksum", "{err}");

    let err = f.install("../../etc").await.unwrap_err();
    assert_eq!(err.step(), "request", "{err}");
    f.assert_untouched();
}

#[tokio::test]
async fn a_release_over_the_size_cap_leaves_no_temp_files() {
    let mut f = Fixture::new().await;
    let zip = release_zip(&fake_xray("9.9.9", true));
    f.publish("9.9.9", &zip, &dgst(&zip));
    f.core.downloader.max_bytes = zip.len() as u64 - 1;
    let err = f.install("9.9.9").await.unwrap_err();
    assert_eq!(err.step(), "download", "{err}");
    assert!(err.to_string().contains("download limit"), "{err}");
    f.assert_untouched();
}
