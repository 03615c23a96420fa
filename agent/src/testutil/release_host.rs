//! A release host on 127.0.0.1:0 for download tests: files with `Last-Modified` and 304
//! answers to a matching `If-Modified-Since`, redirect hops, chunked bodies without a length,
//! plain HTTP or TLS. Routes can change while it runs; every request is recorded.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::header::{IF_MODIFIED_SINCE, LAST_MODIFIED, LOCATION};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Clone)]
pub enum Route {
    File {
        body: Bytes,
        last_modified: Option<String>,
    },
    /// Sent in 16 KiB chunks with no `Content-Length`, so only the byte count can stop it.
    Chunked(Bytes),
    Redirect(u16, String),
    Status(u16),
}

impl Route {
    pub fn file(body: impl Into<Bytes>) -> Self {
        Route::File {
            body: body.into(),
            last_modified: None,
        }
    }

    pub fn dated(body: impl Into<Bytes>, last_modified: &str) -> Self {
        Route::File {
            body: body.into(),
            last_modified: Some(last_modified.to_owned()),
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub if_modified_since: Option<String>,
    pub status: u16,
}

pub struct ReleaseHost {
    pub base: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ReleaseHost {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Serves `https://localhost:port` with the given TLS config.
    pub async fn start_tls(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(Some(TlsAcceptor::from(tls))).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (routes, seen, tls) = (r.clone(), s.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, routes, seen).await;
                            }
                        }
                        None => serve(tcp, routes, seen).await,
                    }
                });
            }
        });
        Self { base, routes, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve<S>(io: S, routes: Arc<Mutex<HashMap<String, Route>>>, seen: Arc<Mutex<Vec<Seen>>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let route = routes.lock().unwrap().get(req.uri().path()).cloned();
        let since = req
            .headers()
            .get(IF_MODIFIED_SINCE)
            .map(|v| v.to_str().unwrap().to_owned());
        let response = answer(route, since.as_deref());
        seen.lock().unwrap().push(Seen {
            path: req.uri().path().to_owned(),
            if_modified_since: since,
            status: response.status().as_u16(),
        });
        async move { Ok::<_, Infallible>(response) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn answer(route: Option<Route>, since: Option<&str>) -> Response<BoxBody<Bytes, Infallible>> {
    let empty = || Full::new(Bytes::new()).boxed();
    let status = |code: u16| {
        Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .body(empty())
            .unwrap()
    };
    match route {
        None => status(404),
        Some(Route::Status(code)) => status(code),
        Some(Route::Redirect(code, to)) => Response::builder()
            .status(code)
            .header(LOCATION, to)
            .body(empty())
            .unwrap(),
        // Servers compare dates; the agent only ever echoes the value it was given.
        Some(Route::File {
            last_modified: Some(date),
            ..
        }) if since == Some(date.as_str()) => status(304),
        Some(Route::File {
            body,
            last_modified,
        }) => {
            let mut r = Response::builder();
            if let Some(date) = last_modified {
                r = r.header(LAST_MODIFIED, date);
            }
            r.body(Full::new(body).boxed()).unwrap()
        }
        Some(Route::Chunked(body)) => {
            let chunks: Vec<_> = body
                .chunks(16 << 10)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let stream = StreamBody::new(futures_util::stream::iter(chunks));
            Response::new(BodyExt::boxed(stream))
        }
    }
}
