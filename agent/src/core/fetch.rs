//! One HTTP(S) request through a SOCKS5 proxy, read up to the response's status line: what
//! an outbound test measures.

use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where a test URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUrl {
    pub tls: bool,
    /// Host name or IP, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
}

impl TestUrl {
    /// An `http://` or `https://` URL with a host.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("the test URL `{url}` is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "the test URL `{url}` must start with http:// or https://"
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("the test URL `{url}` has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("the test URL `{url}` has no host"));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            path: uri
                .path_and_query()
                .map_or("/".to_owned(), |p| p.as_str().to_owned()),
            authority: authority.as_str().to_owned(),
        })
    }
}

/// Opens `url` through the SOCKS5 proxy on `127.0.0.1:socks_port`, sends a `GET`, and returns
/// the response's status code once its status line has arrived.
pub async fn status_through_socks(socks_port: u16, url: &TestUrl) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", socks_port))
        .await
        .map_err(|e| format!("cannot reach the test core's SOCKS port: {e}"))?;
    socks5_connect(&mut stream, &url.host, url.port).await?;
    if url.tls {
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| format!("bad host `{}`: {e}", url.host))?;
        let tls = TlsConnector::from(crate::tls::web_pki_config())
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS with {}: {e}", url.host))?;
        request_status(tls, url).await
    } else {
        request_status(stream, url).await
    }
}

/// SOCKS5 without authentication, `CONNECT host:port` (an IP as one, a name as a name the
/// proxy's far end resolves).
async fn socks5_connect(stream: &mut TcpStream, host: &str, port: u16) -> Result<(), String> {
    let io = |e: std::io::Error| format!("SOCKS handshake with the test core: {e}");
    stream.write_all(&[5, 1, 0]).await.map_err(io)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.map_err(io)?;
    if choice != [5, 0] {
        return Err(format!("the test core's SOCKS port answered {choice:?}"));
    }
    let mut request = vec![5, 1, 0];
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let name = host.as_bytes();
            let len = u8::try_from(name.len()).map_err(|_| format!("host `{host}` is too long"))?;
            request.push(3);
            request.push(len);
            request.extend_from_slice(name);
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.map_err(io)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(io)?;
    if head[1] != 0 {
        return Err(format!(
            "the outbound could not connect to {host}:{port} (SOCKS reply {})",
            head[1]
        ));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.map_err(io)?;
            usize::from(len[0]) + 2
        }
        other => {
            return Err(format!(
                "the test core's SOCKS reply has address type {other}"
            ))
        }
    };
    let mut bound = vec![0u8; rest];
    stream.read_exact(&mut bound).await.map_err(io)?;
    Ok(())
}

/// Sends `GET` and reads the status line.
async fn request_status<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    url: &TestUrl,
) -> Result<u16, String> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: xfleet-agent\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        url.path, url.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut line = String::new();
    let read = BufReader::new(stream)
        .take(READ_LIMIT)
        .read_line(&mut line)
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    if read == 0 {
        return Err("the connection closed before a response arrived".into());
    }
    parse_status(&line)
}

/// A status line is short; a peer that sends no newline is not HTTP.
const READ_LIMIT: u64 = 8 * 1024;

/// `HTTP/1.1 204 No Content` → 204.
fn parse_status(line: &str) -> Result<u16, String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!(
            "the answer is not HTTP: `{}`",
            line.trim().chars().take(80).collect::<String>()
        )),
    }
}

/// How long to wait for a port to accept.
pub const POLL: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_status_lines() {
        let u = TestUrl::parse("https://www.google.com/generate_204").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("www.google.com", 443, "/generate_204")
        );
        let u = TestUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (false, 8080, "/"));
        let u = TestUrl::parse("http://[::1]:81/x?y=1").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("::1", "/x?y=1"));
        for bad in ["ftp://x/", "not a url", "/path"] {
            assert!(TestUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_status("HTTP/1.1 204 No Content\r\n"), Ok(204));
        assert!(parse_status("SSH-2.0-OpenSSH\r\n").is_err());
    }
}
