//! `POST /v1/enroll`: a one-time token and a CSR in, a client certificate out.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use xfleet_common::enrollment::{EnrollRequest, EnrollmentToken};
use xfleet_common::methods::IssuedCertificate;

use super::{gateway_error, Peer};
use crate::fleet::{MAX_HOSTNAME, MAX_VERSION};
use crate::store::TokenRefusal;
use crate::telemetry;
use crate::util::clip;
use crate::Controller;

pub(super) async fn enroll(
    State(ctl): State<Arc<Controller>>,
    Extension(peer): Extension<Peer>,
    Json(req): Json<EnrollRequest>,
) -> Response {
    let ip = peer.addr.ip();
    if let Err(secs) = ctl.gateway_limits.enroll.hit(ip) {
        telemetry::global().enrollment("rate_limited");
        let mut r = gateway_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many enrollment attempts from this address",
        );
        r.headers_mut()
            .insert("retry-after", secs.to_string().parse().expect("digits"));
        return r;
    }
    let outcome = enroll_inner(&ctl, &req, &ip.to_string()).await;
    let (result, server) = match &outcome {
        Ok(issued) => ("ok", format!("server:{}", issued.server_id)),
        Err((_, code, _)) => (*code, String::new()),
    };
    telemetry::global().enrollment(result);
    // Whoever holds the gateway's address can send these: the audit keeps a bounded part.
    let hostname = clip(&req.hostname, MAX_HOSTNAME);
    let details = serde_json::json!({
        "hostname": hostname,
        "agent_version": clip(&req.agent_version, MAX_VERSION),
    });
    let _ = ctl
        .store
        .audit(
            &format!("agent@{hostname}"),
            "server.enroll",
            &server,
            &details,
            &ip.to_string(),
            result,
        )
        .await;
    match outcome {
        Ok(issued) => {
            tracing::info!(server_id = issued.server_id, %ip, ?hostname, "agent enrolled");
            Json(issued).into_response()
        }
        Err((status, code, message)) => {
            tracing::warn!(%ip, code, ?message, "enrollment refused");
            gateway_error(status, code, &message)
        }
    }
}

type Refusal = (StatusCode, &'static str, String);

async fn enroll_inner(
    ctl: &Arc<Controller>,
    req: &EnrollRequest,
    ip: &str,
) -> Result<IssuedCertificate, Refusal> {
    let token = EnrollmentToken::parse(&req.token)
        .map_err(|e| (StatusCode::UNAUTHORIZED, "token_invalid", e.to_string()))?;
    if token.ca_pin != ctl.ca.pin() {
        return Err((
            StatusCode::UNAUTHORIZED,
            "token_invalid",
            "this token was issued by another controller".into(),
        ));
    }
    // Check the CSR before spending the token on it.
    rcgen::CertificateSigningRequestParams::from_pem(&req.csr_pem).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            "bad_csr",
            format!("the certificate request is not valid: {e}"),
        )
    })?;
    let consumed = ctl
        .store
        .consume_enrollment_token(&token.secret_hash(), ip)
        .await
        .map_err(internal)?;
    let server_id = match consumed {
        Ok(c) => c.server_id,
        Err(TokenRefusal::Unknown) => {
            return Err((
                StatusCode::UNAUTHORIZED,
                "token_invalid",
                "this controller does not know this token".into(),
            ))
        }
        Err(TokenRefusal::Used) => {
            return Err((
                StatusCode::CONFLICT,
                "token_used",
                "this token has already been used; create a new one".into(),
            ))
        }
        Err(TokenRefusal::Expired) => {
            return Err((
                StatusCode::GONE,
                "token_expired",
                "this token has expired; create a new one".into(),
            ))
        }
        Err(TokenRefusal::ServerRemoved) => {
            return Err((
                StatusCode::GONE,
                "server_removed",
                "the server this token was created for has been removed".into(),
            ))
        }
    };
    let lifetime = Duration::from_secs(ctl.config.cert_lifetime_secs);
    ctl.ca
        .issue_recorded(&ctl.store, server_id, &req.csr_pem, lifetime)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, "bad_csr", e.to_string()))
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    tracing::error!(error = %e, "enrollment failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; see the controller log".into(),
    )
}
