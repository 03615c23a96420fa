use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, RootCertStore};

use super::{listing, sha256_hex};
use crate::maintenance::{DownloadError, Downloader, Fetched};
use crate::testutil::{ReleaseHost, Route, TempDir, TestPki};

const DATE: &str = "Wed, 21 Oct 2026 07:28:00 GMT";

fn downloaded(fetched: Fetched) -> crate::maintenance::Download {
    match fetched {
        Fetched::Downloaded(d) => d,
        Fetched::NotModified => panic!("expected a body, got 304"),
    }
}

#[tokio::test]
async fn follows_redirects_hashes_and_commits_atomically() {
    let host = ReleaseHost::start().await;
    let body = vec![7u8; 300_000];
    host.set(
        "/latest/geoip.dat",
        Route::Redirect(302, "/v2/geoip.dat".into()),
    );
    // A relative Location, as some CDNs send.
    host.set(
        "/v2/geoip.dat",
        Route::Redirect(301, "blob/geoip.dat".into()),
    );
    host.set("/v2/blob/geoip.dat", Route::dated(body.clone(), DATE));
    let dir = TempDir::new("download");
    let dest = dir.path().join("geoip.dat");
    std::fs::write(&dest, b"old").unwrap();

    let fetched = Downloader::default()
        .fetch_to(&host.url("/latest/geoip.dat"), &dest, None)
        .await
        .unwrap();
    let download = downloaded(fetched);
    assert_eq!(download.sha256, sha256_hex(&body));
    assert_eq!(download.size, body.len() as u64);
    assert_eq!(download.last_modified.as_deref(), Some(DATE));
    // Nothing replaced until commit.
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    download.commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(listing(dir.path()), ["geoip.dat"]);
}

#[tokio::test]
async fn if_modified_since_gives_not_modified() {
    let host = ReleaseHost::start().await;
    host.set("/geosite.dat", Route::dated(&b"sites"[..], DATE));
    let dir = TempDir::new("download");
    let dest = dir.path().join("geosite.dat");
    let downloader = Downloader::default();
    let url = host.url("/geosite.dat");

    let fetched = downloader.fetch_to(&url, &dest, Some(DATE)).await.unwrap();
    assert!(matches!(fetched, Fetched::NotModified));
    let older = "Mon, 01 Jan 2024 00:00:00 GMT";
    let fetched = downloader.fetch_to(&url, &dest, Some(older)).await.unwrap();
    assert_eq!(downloaded(fetched).size, 5);
    let seen = host.seen();
    assert_eq!(seen[0].status, 304);
    assert_eq!(seen[1].if_modified_since.as_deref(), Some(older));
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn over_the_size_cap_fails_and_leaves_no_temp_file() {
    let host = ReleaseHost::start().await;
    let body = vec![1u8; 100_000];
    host.set("/declared.zip", Route::file(body.clone()));
    host.set("/chunked.zip", Route::Chunked(body.into()));
    let dir = TempDir::new("download");
    let downloader = Downloader::new(64 << 10);

    for path in ["/declared.zip", "/chunked.zip"] {
        let err = downloader
            .fetch_to(&host.url(path), &dir.path().join("x.zip"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DownloadError::TooLarge { limit, .. } if limit == 64 << 10),
            "{path}: {err}"
        );
        assert_eq!(listing(dir.path()), Vec::<String>::new(), "{path}");
    }
    // Exactly at the cap is fine.
    host.set("/exact.zip", Route::Chunked(vec![2u8; 64 << 10].into()));
    let fetched = downloader
        .fetch_to(&host.url("/exact.zip"), &dir.path().join("x.zip"), None)
        .await
        .unwrap();
    assert_eq!(downloaded(fetched).size, 64 << 10);
}

#[tokio::test]
async fn errors_name_the_url_and_what_went_wrong() {
    let host = ReleaseHost::start().await;
    for hop in 0..6 {
        host.set(
            &format!("/hop{hop}"),
            Route::Redirect(307, format!("/hop{}", hop + 1)),
        );
    }
    host.set("/gone", Route::Status(404));
    let dir = TempDir::new("download");
    let dest = dir.path().join("x");
    let downloader = Downloader::default();

    let err = downloader
        .fetch_to(&host.url("/hop0"), &dest, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::TooManyRedirects { .. }),
        "{err}"
    );
    let err = downloader
        .fetch_to(&host.url("/gone"), &dest, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/gone"), "{err}");
    // A 304 without a conditional request is not a success.
    host.set("/odd", Route::Status(304));
    let err = downloader
        .fetch_to(&host.url("/odd"), &dest, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::Status { status: 304, .. }),
        "{err}"
    );

    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/x");
    let err = downloader.fetch_to(&url, &dest, None).await.unwrap_err();
    assert!(matches!(err, DownloadError::Connect { .. }), "{err}");
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x.zip", listener.local_addr().unwrap());
    // Accepts and never answers.
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let dir = TempDir::new("download");
    let mut downloader = Downloader::default();
    downloader.idle_timeout = Duration::from_millis(200);
    let err = downloader
        .fetch_to(&url, &dir.path().join("x.zip"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::TimedOut {
                what: "waiting for the answer",
                ..
            }
        ),
        "{err}"
    );
    held.abort();
}

#[tokio::test]
async fn https_verifies_the_server_and_refuses_downgrades() {
    let pki = TestPki::new("mirror");
    let host = ReleaseHost::start_tls(pki.server_config(false)).await;
    let plain = ReleaseHost::start().await;
    host.set("/geoip.dat", Route::file(&b"ip ranges"[..]));
    host.set("/to-plain", Route::Redirect(302, plain.url("/geoip.dat")));
    plain.set("/geoip.dat", Route::file(&b"ip ranges"[..]));
    let dir = TempDir::new("download");
    let dest = dir.path().join("geoip.dat");

    // The public roots do not know the test CA.
    let err = Downloader::default()
        .fetch_to(&host.url("/geoip.dat"), &dest, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");

    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let downloader = Downloader::default().with_tls(Arc::new(tls));
    let fetched = downloader
        .fetch_to(&host.url("/geoip.dat"), &dest, None)
        .await
        .unwrap();
    downloaded(fetched).commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"ip ranges");

    let err = downloader
        .fetch_to(&host.url("/to-plain"), &dest, None)
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::Downgrade { .. }), "{err}");
    assert!(plain.seen().is_empty());
    assert_eq!(host.seen().last().unwrap().path, "/to-plain");
    assert_eq!(listing(dir.path()), ["geoip.dat"]);
}

#[tokio::test]
async fn small_text_is_read_into_memory_with_a_cap() {
    let host = ReleaseHost::start().await;
    host.set("/x.zip.dgst", Route::file(&b"SHA2-256= ab\n"[..]));
    host.set("/big.dgst", Route::file(vec![b'a'; 10_000]));
    let downloader = Downloader::default();
    let text = downloader
        .fetch_text(&host.url("/x.zip.dgst"), 4096)
        .await
        .unwrap();
    assert_eq!(text, "SHA2-256= ab\n");
    let err = downloader
        .fetch_text(&host.url("/big.dgst"), 4096)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("big.dgst"), "{err}");
}
