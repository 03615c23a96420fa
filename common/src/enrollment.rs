//! The one-time enrollment token and the `POST /v1/enroll` exchange.
//!
//! A token is `xft1_` followed by base64url (no padding) of a small JSON object holding the
//! controller's agent-gateway URL, the SHA-256 of the controller CA certificate (DER, hex) and
//! a 256-bit secret. The controller stores only the SHA-256 of the secret, so a database leak
//! does not leak usable tokens; the pin lets the agent authenticate the controller on first
//! contact without any public CA.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const PREFIX: &str = "xft1_";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollmentToken {
    /// Agent gateway base URL, e.g. `https://vpn-ctl.example.com:2054`.
    #[serde(rename = "u")]
    pub url: String,
    /// Hex SHA-256 of the controller CA certificate (DER).
    #[serde(rename = "p")]
    pub ca_pin: String,
    /// Random secret, base64url.
    #[serde(rename = "s")]
    pub secret: String,
    /// The gateways of the fleet's other controllers when the token was made: where the
    /// agent enrolls and connects when `url` does not answer.
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("not an xfleet enrollment token (it should start with `{PREFIX}`)")]
    Prefix,
    #[error("the enrollment token is damaged: {0}")]
    Damaged(String),
}

impl EnrollmentToken {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("token serializes");
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let body = text.trim().strip_prefix(PREFIX).ok_or(TokenError::Prefix)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| TokenError::Damaged(e.to_string()))?;
        let token: Self =
            serde_json::from_slice(&json).map_err(|e| TokenError::Damaged(e.to_string()))?;
        if token.secret.len() < 16 || token.ca_pin.len() != 64 {
            return Err(TokenError::Damaged(
                "secret or pin has the wrong length".into(),
            ));
        }
        Ok(token)
    }

    /// What the controller stores and looks tokens up by.
    pub fn secret_hash(&self) -> String {
        sha256_hex(self.secret.as_bytes())
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Body of `POST /v1/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub token: String,
    pub csr_pem: String,
    pub hostname: String,
    pub agent_version: String,
}

/// Error body of the agent gateway's plain HTTP endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayError {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_rejects_garbage() {
        let t = EnrollmentToken {
            url: "https://ctl.example:2054".into(),
            ca_pin: "a".repeat(64),
            secret: "s3cr3t-s3cr3t-s3cr3t".into(),
            also: Vec::new(),
        };
        let text = t.encode();
        assert!(text.starts_with("xft1_"));
        assert_eq!(EnrollmentToken::parse(&format!("  {text}\n")).unwrap(), t);
        assert_eq!(EnrollmentToken::parse("hello"), Err(TokenError::Prefix));
        assert!(matches!(
            EnrollmentToken::parse("xft1_!!!"),
            Err(TokenError::Damaged(_))
        ));
        assert_ne!(t.secret_hash(), t.secret);
        assert_eq!(t.secret_hash().len(), 64);
        let several = EnrollmentToken {
            also: vec!["https://ctl-b:2054".into(), "https://ctl-c:2054".into()],
            ..t.clone()
        };
        assert_eq!(EnrollmentToken::parse(&several.encode()).unwrap(), several);
        assert!(
            several.encode().len() > text.len(),
            "a token without other addresses stays as short as before"
        );
    }
}
