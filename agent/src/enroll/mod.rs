//! `xfleet-agent enroll`: turn a one-time token into a key, a certificate and `agent.toml`
//! (DESIGN §2). The private key is generated here and never leaves the host.

mod http;

use std::path::{Path, PathBuf};
use std::time::Duration;

use xfleet_common::enrollment::{sha256_hex, EnrollRequest, EnrollmentToken};

use crate::config::{AgentConfig, AgentFiles};
use crate::csr::{self, new_key_and_csr};
use crate::fsutil::{self, PRIVATE, PUBLIC};
use crate::handler::HostInfo;
use crate::tls::{self, Target};
use http::Answer;

/// Rate-limit waits we sit out instead of failing; longer ones are reported.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("{0}")]
    Token(String),
    #[error(
        "this host is already enrolled ({} exists); pass --force to enroll it again",
        .0.display()
    )]
    AlreadyEnrolled(PathBuf),
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Http(String),
    #[error("{}", refusal_text(code, message))]
    Refused { code: String, message: String },
    #[error("the controller is rate-limiting enrollments; try again in {} s", .0.as_secs())]
    RateLimited(Duration),
    #[error("the controller's answer is unusable: {0}")]
    BadAnswer(String),
    #[error(transparent)]
    Key(#[from] csr::CsrError),
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Turns the gateway's error codes into sentences an operator can act on.
fn refusal_text(code: &str, message: &str) -> String {
    match code {
        "token_used" => "this enrollment token has already been used; create a new one \
                         (`xfleet token create --server NAME`)"
            .into(),
        "token_expired" => "this enrollment token has expired; create a new one \
                            (`xfleet token create --server NAME`)"
            .into(),
        "token_invalid" => "the controller does not know this enrollment token (it was made \
                            by another controller, or revoked)"
            .into(),
        "server_removed" => {
            "the server this token was made for has been removed from the controller".into()
        }
        "bad_csr" => format!("the controller rejected the certificate request: {message}"),
        _ => format!("the controller refused the enrollment ({code}): {message}"),
    }
}

/// Enrolls this host: generates a key, sends a CSR with the token to `POST /v1/enroll`
/// (trusting the controller only through the token's CA pin) and writes `agent.key` (0600),
/// `agent.pem`, `ca.pem` and `agent.toml` into `config_dir`. Refuses to replace an existing
/// enrollment unless `force`.
pub async fn enroll(
    token: &str,
    config_dir: &Path,
    data_dir: &Path,
    force: bool,
) -> Result<AgentConfig, EnrollError> {
    let parsed = EnrollmentToken::parse(token).map_err(|e| EnrollError::Token(e.to_string()))?;
    let target = Target::parse(&parsed.url).map_err(EnrollError::Token)?;
    let files = AgentFiles::new(config_dir);
    if !force {
        for path in [&files.config, &files.cert, &files.key] {
            if path.exists() {
                return Err(EnrollError::AlreadyEnrolled(path.clone()));
            }
        }
    }

    let host = HostInfo::detect();
    let made = new_key_and_csr(&host.hostname)?;
    let request = EnrollRequest {
        token: token.trim().to_owned(),
        csr_pem: made.csr_pem.clone(),
        hostname: host.hostname.clone(),
        agent_version: xfleet_common::VERSION.to_owned(),
    };

    let mut attempt = 1;
    // The token's other controllers are tried in turn while the first cannot be reached.
    let mut others = parsed.also.iter();
    let mut target = target;
    let issued = loop {
        let answer = match http::post_enroll(&target, &parsed.ca_pin, &request).await {
            Err(EnrollError::Connect(why)) => match others.next() {
                Some(next) => {
                    tracing::warn!(controller = %target.authority, error = %why, next = %next, "controller unreachable, enrolling with the next one the token names");
                    target = Target::parse(next).map_err(EnrollError::Token)?;
                    continue;
                }
                None => return Err(EnrollError::Connect(why)),
            },
            other => other?,
        };
        match answer {
            Answer::Issued(issued) => break issued,
            Answer::RateLimited(wait) if wait <= MAX_RATE_LIMIT_WAIT && attempt < MAX_ATTEMPTS => {
                tracing::info!(
                    wait_s = wait.as_secs(),
                    "controller is busy, retrying enrollment"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Answer::RateLimited(wait) => return Err(EnrollError::RateLimited(wait)),
            Answer::Refused { code, message } => {
                return Err(EnrollError::Refused { code, message })
            }
        }
    };

    // The CA we store is what every later connection trusts: it must be the pinned one.
    let ca = tls::parse_certs(&issued.ca_pem, "CA certificate")
        .map_err(|e| EnrollError::BadAnswer(e.to_string()))?;
    if !ca
        .iter()
        .any(|c| sha256_hex(c.as_ref()) == parsed.ca_pin.to_lowercase())
    {
        return Err(EnrollError::BadAnswer(
            "the returned CA certificate does not match the token's pin".into(),
        ));
    }
    csr::check_matches_key(&issued.cert_pem, &made.key_pem)
        .map_err(|e| EnrollError::BadAnswer(e.to_string()))?;
    if issued.server_id <= 0 {
        return Err(EnrollError::BadAnswer(format!(
            "invalid server id {}",
            issued.server_id
        )));
    }

    let config = AgentConfig {
        controller_url: parsed.url.clone(),
        controller_urls: parsed.also.clone(),
        server_id: issued.server_id,
        data_dir: data_dir.to_owned(),
        config_dir: config_dir.to_owned(),
        ..AgentConfig::default()
    };
    write_files(&config, &made.key_pem, &issued.cert_pem, &issued.ca_pem)?;
    Ok(config)
}

fn write_files(
    config: &AgentConfig,
    key_pem: &str,
    cert_pem: &str,
    ca_pem: &str,
) -> Result<(), EnrollError> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |error| EnrollError::Write { path, error }
    };
    let files = config.files();
    for dir in [&config.config_dir, &config.data_dir] {
        create_private_dir(dir).map_err(err(dir))?;
    }
    // agent.toml goes last: its presence is what marks the host as enrolled.
    fsutil::write_atomic(&files.key, key_pem.as_bytes(), PRIVATE).map_err(err(&files.key))?;
    fsutil::write_atomic(&files.cert, cert_pem.as_bytes(), PUBLIC).map_err(err(&files.cert))?;
    fsutil::write_atomic(&files.ca, ca_pem.as_bytes(), PUBLIC).map_err(err(&files.ca))?;
    fsutil::write_atomic(&files.config, config.to_toml().as_bytes(), PUBLIC)
        .map_err(err(&files.config))?;
    Ok(())
}

/// Creates a directory (and parents) readable only by the agent's user.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests;
