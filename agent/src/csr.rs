//! Key generation, certificate signing requests and reading back issued certificates.

use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData, PKCS_ECDSA_P256_SHA256};
use x509_parser::pem::parse_x509_pem;

/// A fresh P-256 private key and a CSR for it. The key stays on this host; the controller
/// takes only the public key from the CSR.
#[derive(Debug)]
pub struct KeyAndCsr {
    pub key_pem: String,
    pub csr_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("cannot create a key or CSR: {0}")]
    Generate(String),
}

impl From<rcgen::Error> for CsrError {
    fn from(e: rcgen::Error) -> Self {
        Self::Generate(e.to_string())
    }
}

/// Generates a key pair and a CSR whose subject names the host (informational only).
pub fn new_key_and_csr(hostname: &str) -> Result<KeyAndCsr, CsrError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("xfleet-agent {hostname}"));
    let csr = params.serialize_request(&key)?;
    Ok(KeyAndCsr {
        key_pem: key.serialize_pem(),
        csr_pem: csr.pem()?,
    })
}

/// What the agent needs to know about its own certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertValidity {
    pub not_before_ms: i64,
    pub not_after_ms: i64,
}

impl CertValidity {
    /// The point at `fraction` (0..1) of the lifetime.
    pub fn at_fraction(&self, fraction: f64) -> i64 {
        let span = (self.not_after_ms - self.not_before_ms).max(0) as f64;
        self.not_before_ms + (span * fraction) as i64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("not a PEM certificate: {0}")]
    Pem(String),
    #[error("malformed certificate: {0}")]
    Der(String),
    #[error("malformed private key: {0}")]
    Key(String),
    #[error("the issued certificate is not for our key")]
    WrongKey,
}

fn parse_first<T>(
    cert_pem: &str,
    f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
) -> Result<T, CertError> {
    let (_, pem) =
        parse_x509_pem(cert_pem.as_bytes()).map_err(|e| CertError::Pem(e.to_string()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| CertError::Der(e.to_string()))?;
    Ok(f(&cert))
}

/// notBefore/notAfter of the first certificate in a PEM text.
pub fn validity(cert_pem: &str) -> Result<CertValidity, CertError> {
    parse_first(cert_pem, |cert| {
        let v = cert.validity();
        CertValidity {
            not_before_ms: v.not_before.timestamp().saturating_mul(1000),
            not_after_ms: v.not_after.timestamp().saturating_mul(1000),
        }
    })
}

/// Checks that a certificate carries the public key of `key_pem`, so a mixed-up answer can
/// never replace a working key/certificate pair with a broken one.
pub fn check_matches_key(cert_pem: &str, key_pem: &str) -> Result<(), CertError> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| CertError::Key(e.to_string()))?;
    let spki = parse_first(cert_pem, |cert| {
        cert.tbs_certificate.subject_pki.raw.to_vec()
    })?;
    if spki == key.subject_public_key_info() {
        Ok(())
    } else {
        Err(CertError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestPki;
    use rcgen::CertificateSigningRequestParams;

    #[test]
    fn csr_parses_and_carries_the_key() {
        let made = new_key_and_csr("vpn-1").unwrap();
        assert!(made.key_pem.contains("PRIVATE KEY"));
        // from_pem also verifies the CSR's self-signature.
        let csr = CertificateSigningRequestParams::from_pem(&made.csr_pem).unwrap();
        let key = KeyPair::from_pem(&made.key_pem).unwrap();
        assert_eq!(csr.public_key.der_bytes(), key.der_bytes());
        assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
        // Two calls, two keys.
        assert_ne!(new_key_and_csr("vpn-1").unwrap().key_pem, made.key_pem);
    }

    #[test]
    fn issued_certificate_validity_and_key_check() {
        let pki = TestPki::new("csr");
        let made = new_key_and_csr("vpn-1").unwrap();
        let not_before = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let not_after = not_before + time::Duration::days(30);
        let cert = pki.sign_csr(&made.csr_pem, Some((not_before, not_after)));
        let v = validity(&cert).unwrap();
        assert_eq!(v.not_before_ms, 1_700_000_000_000);
        assert_eq!(v.not_after_ms, 1_700_000_000_000 + 30 * 86_400_000);
        assert_eq!(v.at_fraction(0.5), 1_700_000_000_000 + 15 * 86_400_000);
        check_matches_key(&cert, &made.key_pem).unwrap();
        let other = new_key_and_csr("vpn-2").unwrap();
        assert!(matches!(
            check_matches_key(&cert, &other.key_pem),
            Err(CertError::WrongKey)
        ));
        assert!(validity("garbage").is_err());
    }
}
