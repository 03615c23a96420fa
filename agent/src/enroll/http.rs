//! `POST /v1/enroll` over a TLS connection trusted by the token's CA pin.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use xfleet_common::enrollment::{EnrollRequest, GatewayError};
use xfleet_common::methods::IssuedCertificate;

use super::EnrollError;
use crate::tls::{self, ConnectError, Target};

/// Longest answer we read; a certificate and a CA are a few KiB.
const MAX_ANSWER: usize = 1 << 20;
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the gateway said, before it is interpreted.
pub(super) enum Answer {
    Issued(IssuedCertificate),
    RateLimited(Duration),
    Refused { code: String, message: String },
}

pub(super) async fn post_enroll(
    target: &Target,
    ca_pin: &str,
    request: &EnrollRequest,
) -> Result<Answer, EnrollError> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(target, ca_pin, request))
        .await
        .map_err(|_| {
            EnrollError::Connect(format!(
                "no answer from {} within {EXCHANGE_TIMEOUT:?}",
                target.authority
            ))
        })?
}

async fn exchange(
    target: &Target,
    ca_pin: &str,
    request: &EnrollRequest,
) -> Result<Answer, EnrollError> {
    let config = tls::pinned_config(ca_pin).map_err(|e| EnrollError::Token(e.to_string()))?;
    let stream = target.connect(config).await.map_err(|e| match e {
        ConnectError::Tcp(m) => EnrollError::Connect(m),
        ConnectError::Tls(m) => EnrollError::Tls(m),
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| EnrollError::Http(e.to_string()))?;
    // The connection task ends by itself once the one exchange is over and `sender` is gone.
    tokio::spawn(async move {
        let _ = conn.await;
    });

    let body = serde_json::to_vec(request).expect("enroll request serializes");
    let req = Request::post(format!("{}/v1/enroll", target.base_path))
        .header(HOST, &target.authority)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| EnrollError::Http(e.to_string()))?;
    let response = sender.send_request(req).await.map_err(|e| {
        // A TLS alert surfaces here when the connection breaks mid-request.
        EnrollError::Http(format!("enroll request failed: {e}"))
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| EnrollError::Http(format!("reading the answer: {e}")))?
        .to_bytes();

    if status == StatusCode::OK {
        let issued = serde_json::from_slice(&bytes)
            .map_err(|e| EnrollError::BadAnswer(format!("malformed certificate answer: {e}")))?;
        return Ok(Answer::Issued(issued));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Ok(Answer::RateLimited(
            retry_after.unwrap_or(Duration::from_secs(5)),
        ));
    }
    Ok(match serde_json::from_slice::<GatewayError>(&bytes) {
        Ok(e) => Answer::Refused {
            code: e.code,
            message: e.message,
        },
        Err(_) => Answer::Refused {
            code: format!("http_{}", status.as_u16()),
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                .trim()
                .to_owned(),
        },
    })
}
