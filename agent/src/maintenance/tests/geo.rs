use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use super::listing;
use crate::maintenance::{GeoError, GeoFiles};
use crate::testutil::{ReleaseHost, Route, TempDir};

const MONDAY: &str = "Mon, 02 Nov 2026 22:12:01 GMT";
const TUESDAY: &str = "Tue, 03 Nov 2026 22:11:47 GMT";

/// Loyalsoldier's layout: `latest/download/<file>` redirects to the newest release.
fn publish(host: &ReleaseHost, release: &str, file: &str, body: &[u8], date: &str) {
    let latest = format!("/Loyalsoldier/v2ray-rules-dat/releases/latest/download/{file}");
    let tagged = format!("/Loyalsoldier/v2ray-rules-dat/releases/download/{release}/{file}");
    host.set(&latest, Route::Redirect(302, tagged.clone()));
    host.set(&tagged, Route::dated(body.to_vec(), date));
}

fn geo_files(host: &ReleaseHost, dir: &TempDir) -> GeoFiles {
    let url = |f: &str| {
        host.url(&format!(
            "/Loyalsoldier/v2ray-rules-dat/releases/latest/download/{f}"
        ))
    };
    let sources = BTreeMap::from([
        ("geoip.dat".to_owned(), url("geoip.dat")),
        ("geosite.dat".to_owned(), url("geosite.dat")),
    ]);
    GeoFiles {
        dir: dir.path().join("assets"),
        sources,
        downloader: Default::default(),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn changed_files_are_reported_once_then_304_means_unchanged() {
    let host = ReleaseHost::start().await;
    publish(&host, "202611022212", "geoip.dat", b"geoip v1", MONDAY);
    publish(&host, "202611022212", "geosite.dat", b"geosite v1", MONDAY);
    let dir = TempDir::new("geo");
    let geo = geo_files(&host, &dir);

    let first = geo.update(&[]).await.unwrap();
    assert_eq!(first.changed, names(&["geoip.dat", "geosite.dat"]));
    assert!(first.unchanged.is_empty());
    let assets = dir.path().join("assets");
    assert_eq!(
        std::fs::read(assets.join("geoip.dat")).unwrap(),
        b"geoip v1"
    );
    let mode = std::fs::metadata(assets.join("geosite.dat"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(
        listing(&assets),
        [".xfleet-geo.json", "geoip.dat", "geosite.dat"]
    );

    let second = geo
        .update(&names(&["geoip.dat", "geosite.dat"]))
        .await
        .unwrap();
    assert!(second.changed.is_empty(), "{second:?}");
    assert_eq!(second.unchanged, names(&["geoip.dat", "geosite.dat"]));
    let answered: Vec<_> = host
        .seen()
        .into_iter()
        .filter(|s| s.if_modified_since.as_deref() == Some(MONDAY))
        .map(|s| s.status)
        .collect();
    // Redirect hop and 304 for each file.
    assert_eq!(answered, [302, 304, 302, 304]);

    // A new release of one file: only that one changes.
    publish(&host, "202611032211", "geosite.dat", b"geosite v2", TUESDAY);
    let third = geo.update(&[]).await.unwrap();
    assert_eq!(third.changed, names(&["geosite.dat"]));
    assert_eq!(third.unchanged, names(&["geoip.dat"]));
    assert_eq!(
        std::fs::read(assets.join("geosite.dat")).unwrap(),
        b"geosite v2"
    );
    assert_eq!(
        listing(&assets),
        [".xfleet-geo.json", "geoip.dat", "geosite.dat"]
    );
}

#[tokio::test]
async fn unknown_names_are_refused_before_anything_is_fetched() {
    let host = ReleaseHost::start().await;
    let dir = TempDir::new("geo");
    let geo = geo_files(&host, &dir);
    for bad in ["geoip_IR.dat", "../agent.key", ".xfleet-geo.json"] {
        let err = geo.update(&names(&["geoip.dat", bad])).await.unwrap_err();
        assert!(
            matches!(&err, GeoError::Unknown { unknown, .. } if unknown == &names(&[bad])),
            "{err}"
        );
        assert!(err.to_string().contains("geoip.dat, geosite.dat"), "{err}");
    }
    assert!(host.seen().is_empty());
    assert!(!dir.path().join("assets").exists());
}

#[tokio::test]
async fn same_bytes_without_a_date_are_unchanged() {
    let host = ReleaseHost::start().await;
    let dir = TempDir::new("geo");
    let mut geo = geo_files(&host, &dir);
    geo.sources.retain(|name, _| name == "geoip.dat");
    host.set(
        "/Loyalsoldier/v2ray-rules-dat/releases/latest/download/geoip.dat",
        Route::file(&b"geoip v1"[..]),
    );
    assert_eq!(
        geo.update(&[]).await.unwrap().changed,
        names(&["geoip.dat"])
    );
    let again = geo.update(&[]).await.unwrap();
    assert!(again.changed.is_empty(), "{again:?}");
    assert!(host.seen().iter().all(|s| s.if_modified_since.is_none()));
    assert_eq!(
        listing(&dir.path().join("assets")),
        [".xfleet-geo.json", "geoip.dat"]
    );
}

#[tokio::test]
async fn a_moved_source_or_a_deleted_file_is_fetched_in_full() {
    let host = ReleaseHost::start().await;
    publish(&host, "r1", "geoip.dat", b"geoip v1", MONDAY);
    host.set("/mirror/geoip.dat", Route::dated(&b"mirrored"[..], MONDAY));
    let dir = TempDir::new("geo");
    let mut geo = geo_files(&host, &dir);
    geo.update(&names(&["geoip.dat"])).await.unwrap();

    std::fs::remove_file(dir.path().join("assets/geoip.dat")).unwrap();
    let again = geo.update(&names(&["geoip.dat"])).await.unwrap();
    assert_eq!(again.changed, names(&["geoip.dat"]));
    let tagged = "/Loyalsoldier/v2ray-rules-dat/releases/download/r1/geoip.dat";
    let unconditional = host
        .seen()
        .into_iter()
        .filter(|s| s.path == tagged && s.if_modified_since.is_none() && s.status == 200)
        .count();
    assert_eq!(unconditional, 2);

    geo.sources
        .insert("geoip.dat".into(), host.url("/mirror/geoip.dat"));
    let moved = geo.update(&names(&["geoip.dat"])).await.unwrap();
    assert_eq!(moved.changed, names(&["geoip.dat"]));
    let mirror = host
        .seen()
        .into_iter()
        .find(|s| s.path == "/mirror/geoip.dat");
    assert_eq!(mirror.unwrap().if_modified_since, None);
}

#[tokio::test]
async fn a_failing_file_is_reported_while_the_others_still_update() {
    let host = ReleaseHost::start().await;
    publish(&host, "r1", "geoip.dat", b"geoip v1", MONDAY);
    publish(&host, "r1", "geosite.dat", &[b's'; 4096], MONDAY);
    let dir = TempDir::new("geo");
    let mut geo = geo_files(&host, &dir);
    geo.downloader.max_bytes = 1024;

    let err = geo.update(&[]).await.unwrap_err();
    let GeoError::Failed { failures, changed } = &err else {
        panic!("{err}")
    };
    assert_eq!(changed, &names(&["geoip.dat"]));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "geosite.dat");
    assert!(err.to_string().contains("download limit"), "{err}");
    assert!(
        err.to_string().contains("updated anyway: geoip.dat"),
        "{err}"
    );
    // Nothing half-written.
    assert_eq!(
        listing(&dir.path().join("assets")),
        [".xfleet-geo.json", "geoip.dat"]
    );

    // An empty body would leave the core without its rules.
    publish(&host, "r2", "geosite.dat", b"", TUESDAY);
    let err = geo.update(&names(&["geosite.dat"])).await.unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}
