//! The controller's private CA (DESIGN §2). The CA key never leaves the data directory; agent
//! certificates are signed from a CSR of which only the public key is used.

use std::path::Path;
use std::time::Duration;

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use xfleet_common::enrollment::sha256_hex;
use xfleet_common::methods::IssuedCertificate;

use crate::store::{Store, StoreError};
use crate::util::write_private;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("the certificate request is not valid: {0}")]
    BadCsr(String),
    #[error("certificate authority files in {dir}: {message}")]
    Files { dir: String, message: String },
    #[error("signing failed: {0}")]
    Sign(#[from] rcgen::Error),
    #[error(transparent)]
    Record(#[from] StoreError),
}

/// A certificate issued to an agent.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub pem: String,
    pub serial: String,
    pub common_name: String,
    pub not_after_ms: i64,
}

pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    pin: String,
    /// The agent gateway's key (`gateway.key`), kept across starts: its certificate is issued
    /// anew at each start, its key is what install lines pin (`curl --pinnedpubkey`).
    gateway_key_pem: String,
}

impl Ca {
    /// Loads `ca.pem`/`ca.key` from `dir`, creating them on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, CaError> {
        let files = |message: String| CaError::Files {
            dir: dir.display().to_string(),
            message,
        };
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        let (cert_pem, key) = if cert_path.exists() {
            let cert_pem = std::fs::read_to_string(&cert_path).map_err(|e| files(e.to_string()))?;
            let key_pem = std::fs::read_to_string(&key_path).map_err(|e| files(e.to_string()))?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| files(e.to_string()))?;
            (cert_pem, key)
        } else {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "xfleet controller CA");
            dn.push(DnType::OrganizationName, "xfleet");
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.not_before = OffsetDateTime::now_utc() - time::Duration::hours(1);
            params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
            params.serial_number = Some(random_serial().0);
            let cert = params.self_signed(&key)?;
            write_private(&key_path, key.serialize_pem().as_bytes())
                .map_err(|e| files(e.to_string()))?;
            crate::util::write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)
                .map_err(|e| files(e.to_string()))?;
            (cert.pem(), key)
        };
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| files("ca.pem is not PEM".into()))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| files(e.to_string()))?;
        let pin = sha256_hex(&cert_der);
        let gateway_key_path = dir.join("gateway.key");
        let gateway_key_pem = if gateway_key_path.exists() {
            let pem =
                std::fs::read_to_string(&gateway_key_path).map_err(|e| files(e.to_string()))?;
            KeyPair::from_pem(&pem).map_err(|e| files(format!("gateway.key: {e}")))?;
            pem
        } else {
            let pem = KeyPair::generate()?.serialize_pem();
            write_private(&gateway_key_path, pem.as_bytes()).map_err(|e| files(e.to_string()))?;
            pem
        };
        Ok(Self {
            cert_pem,
            cert_der,
            issuer,
            pin,
            gateway_key_pem,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Hex SHA-256 of the CA certificate: the pin carried in enrollment tokens.
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// Signs a client certificate for `server_id`. Everything in the CSR except its public key
    /// is ignored: subject, SAN, EKU (clientAuth), not-CA and lifetime are ours.
    pub fn issue_agent(
        &self,
        csr_pem: &str,
        server_id: i64,
        lifetime: Duration,
    ) -> Result<IssuedCert, CaError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| CaError::BadCsr(e.to_string()))?;
        let common_name = format!("server-{server_id}");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name.as_str());
        dn.push(DnType::OrganizationName, "xfleet agents");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::DnsName(
            format!("{common_name}.agents.xfleet")
                .try_into()
                .expect("ascii name"),
        )];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = OffsetDateTime::now_utc();
        // Backdated a little for clock skew, but not so much that the agent's renewal point
        // (70–90 % of notBefore..notAfter) drifts for short lifetimes.
        let skew = (lifetime / 10).min(Duration::from_secs(300));
        params.not_before = now - time::Duration::try_from(skew).unwrap_or_default();
        let not_after =
            now + time::Duration::try_from(lifetime).unwrap_or(time::Duration::days(30));
        params.not_after = not_after;
        let (serial_number, serial) = random_serial();
        params.serial_number = Some(serial_number);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&csr.public_key, &self.issuer)?;
        Ok(IssuedCert {
            pem: cert.pem(),
            serial,
            common_name,
            not_after_ms: (not_after.unix_timestamp_nanos() / 1_000_000) as i64,
        })
    }

    /// A fresh server certificate for the agent gateway's key, with the given SANs.
    pub fn issue_gateway(
        &self,
        sans: &[String],
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), CaError> {
        let key = KeyPair::from_pem(&self.gateway_key_pem)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "xfleet agent gateway");
        params.distinguished_name = dn;
        params.subject_alt_names = sans
            .iter()
            .filter_map(|s| match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Some(SanType::IpAddress(ip)),
                Err(_) => s.clone().try_into().ok().map(SanType::DnsName),
            })
            .collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(397);
        params.serial_number = Some(random_serial().0);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }
}

/// A random positive 128-bit serial (first byte 0x01..=0x7f so its DER form has no padding
/// byte), and its lowercase hex as stored and as read back from a presented certificate.
fn random_serial() -> (SerialNumber, String) {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    (SerialNumber::from_slice(&bytes), hex)
}

impl Ca {
    /// Signs a server's CSR (enrollment, renewal) and records the certificate, so the gateway
    /// knows its serial when the agent connects with it.
    pub async fn issue_recorded(
        &self,
        store: &Store,
        server_id: i64,
        csr_pem: &str,
        lifetime: Duration,
    ) -> Result<IssuedCertificate, CaError> {
        let issued = self.issue_agent(csr_pem, server_id, lifetime)?;
        store
            .insert_certificate(
                &issued.serial,
                server_id,
                &issued.common_name,
                issued.not_after_ms,
                &issued.pem,
            )
            .await?;
        Ok(IssuedCertificate {
            server_id,
            cert_pem: issued.pem,
            ca_pem: self.cert_pem().to_owned(),
            serial: issued.serial,
            not_after_ms: issued.not_after_ms,
        })
    }
}

/// Serial of a DER certificate in the same hex form as [`IssuedCert::serial`].
pub fn serial_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(
        cert.tbs_certificate
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

fn pem_to_der(pem: &str) -> Option<CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(params: CertificateParams) -> String {
        let key = KeyPair::generate().unwrap();
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn a_csr_asking_to_be_a_ca_still_gets_a_leaf_client_cert() {
        let dir = crate::util::TempDir::new("ca");
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let mut greedy = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        greedy.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        greedy.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let issued = ca
            .issue_agent(&csr(greedy), 42, Duration::from_secs(3600))
            .unwrap();
        let der = pem_to_der(&issued.pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(!cert.is_ca());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            format!("{:?}", san.general_names),
            "[DNSName(\"server-42.agents.xfleet\")]"
        );
        assert_eq!(serial_of(&der).unwrap(), issued.serial);
        let lifetime =
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert!((3900..=3901).contains(&lifetime), "{lifetime}");
    }

    #[test]
    fn garbage_csr_is_refused_and_the_ca_persists() {
        let dir = crate::util::TempDir::new("ca");
        let ca = Ca::load_or_create(dir.path()).unwrap();
        assert!(matches!(
            ca.issue_agent(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                1,
                Duration::from_secs(60)
            ),
            Err(CaError::BadCsr(_))
        ));
        assert!(matches!(
            ca.issue_agent("hello", 1, Duration::from_secs(60)),
            Err(CaError::BadCsr(_))
        ));
        let again = Ca::load_or_create(dir.path()).unwrap();
        assert_eq!(again.pin(), ca.pin());
        use std::os::unix::fs::PermissionsExt;
        for key in ["ca.key", "gateway.key"] {
            let mode = std::fs::metadata(dir.path().join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }
}
