//! One HTTP/1.1 request from the controller to a web API (plain or TLS with the public web
//! PKI), its answer read into memory. Every wait is bounded and so is the answer's size, so
//! a slow or hostile API fails the one call that asked, with a reason, and nothing else.
//! Headers are never logged: they may carry credentials.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use xfleet_agent::maintenance::download::web_url;
use xfleet_agent::tls::web_pki_config;

/// TCP connect plus TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// From the request sent to the whole answer read.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Larger answers are refused.
const MAX_ANSWER: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{url}` is not a usable URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: {what} timed out after {after:?}")]
    TimedOut {
        url: String,
        what: &'static str,
        after: Duration,
    },
    #[error("{url}: {reason}")]
    Exchange { url: String, reason: String },
    #[error("{url}: the answer is larger than {MAX_ANSWER} bytes")]
    TooLarge { url: String },
}

/// An answer: its status and its whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// Sends one request on a fresh connection and reads the answer. Redirects are not followed.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Answer, ClientError> {
    let uri = parse(url)?;
    let authority = uri.authority().expect("parsed URLs have a host");
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });

    let mut request = Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(HOST, authority.as_str())
        .header(USER_AGENT, concat!("xfleet/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| ClientError::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;

    let connect = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| e.to_string())?;
        if !https {
            return Ok(Conn::Plain(tcp));
        }
        let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        TlsConnector::from(web_pki_config())
            .connect(name, tcp)
            .await
            .map(|tls| Conn::Tls(Box::new(tls)))
            .map_err(|e| format!("TLS: {e}"))
    };
    let conn = timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| timed_out(url, "connecting", CONNECT_TIMEOUT))?
        .map_err(|reason| ClientError::Connect {
            url: url.to_owned(),
            reason,
        })?;
    let exchange = async {
        match conn {
            Conn::Plain(tcp) => exchange(url, tcp, request).await,
            Conn::Tls(tls) => exchange(url, *tls, request).await,
        }
    };
    timeout(ANSWER_TIMEOUT, exchange)
        .await
        .map_err(|_| timed_out(url, "waiting for the answer", ANSWER_TIMEOUT))?
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn exchange<S>(url: &str, io: S, request: Request<Full<Bytes>>) -> Result<Answer, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |reason: String| ClientError::Exchange {
        url: url.to_owned(),
        reason,
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| failed(e.to_string()))?;
    // Ends by itself once the body is read and `sender` is gone.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ClientError::TooLarge {
                    url: url.to_owned(),
                }
            } else {
                failed(format!("reading the answer: {e}"))
            }
        })?
        .to_bytes();
    Ok(Answer { status, body })
}

/// An absolute `http://` or `https://` URL with a host and no credentials (the agent's rule
/// for downloads).
fn parse(url: &str) -> Result<Uri, ClientError> {
    web_url(url).map_err(|reason| ClientError::BadUrl {
        url: url.to_owned(),
        reason,
    })
}

fn timed_out(url: &str, what: &'static str, after: Duration) -> ClientError {
    ClientError::TimedOut {
        url: url.to_owned(),
        what,
        after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only absolute web URLs without credentials are called.
    #[test]
    fn only_plain_web_urls_are_used() {
        assert!(parse("https://api.cloudflareclient.com/v0a2158/reg").is_ok());
        assert!(parse("http://127.0.0.1:8080/v0a2158/reg").is_ok());
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "/v0a2158",
            "https://",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    /// An answer past the size bound is refused, not read into memory.
    #[tokio::test]
    async fn large_answers_are_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/big", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 1024];
            let _ = tcp.read(&mut head).await;
            let size = MAX_ANSWER + 1;
            let _ = tcp
                .write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n").as_bytes())
                .await;
            let _ = tcp.write_all(&vec![b'x'; size]).await;
        });
        let err = send(Method::GET, &url, &[], None).await.unwrap_err();
        assert!(matches!(err, ClientError::TooLarge { .. }), "{err}");
    }

    /// Nothing listening: the error says the API cannot be reached.
    #[tokio::test]
    async fn an_unreachable_api_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/reg", listener.local_addr().unwrap());
        drop(listener);
        let err = send(Method::POST, &url, &[], Some(b"{}".to_vec()))
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("cannot reach"), "{err}");
    }
}
