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

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("the certificate request is not valid: {0}")]
    BadCsr(String),
    #[error("certificate authority files in {dir}: {message}")]
    Files { dir: String, message: String },
    #[error("the certificate authority's material: {0}")]
    Material(String),
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
    key_pem: String,
    /// The agent gateway's key, the same on every controller and across starts: its
    /// certificate is issued anew at each start with this controller's names, its key is what
    /// install lines pin (`curl --pinnedpubkey`).
    gateway_key_pem: String,
}

/// A certificate and key pair read from two files of `dir`, if both exist (an earlier
/// version's CA; `ca.pem` alone is only the copy written for operators).
fn read_pair(dir: &Path, cert: &str, key: &str) -> Result<Option<(String, String)>, String> {
    if !dir.join(cert).exists() || !dir.join(key).exists() {
        return Ok(None);
    }
    let read =
        |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    Ok(Some((read(cert)?, read(key)?)))
}

/// A new self-signed CA: certificate and key (PEM).
fn generate_ca() -> Result<(String, String), CaError> {
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
    Ok((cert.pem(), key.serialize_pem()))
}

/// The names the trust material is stored under (`trust_material`), which were also the
/// files of the data directory it was read from before it moved into the database.
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const GATEWAY_KEY: &str = "gateway.key";

impl Ca {
    /// The fleet's CA and gateway key from the database, which every controller of the fleet
    /// reads. On the first start of a fleet they are created, or taken from the data
    /// directory's files where an earlier version kept them; when several controllers start
    /// at once, the material stored first wins and all of them use it. `ca.pem` (public) is
    /// written to the data directory for operators and scripts.
    pub async fn load(store: &Store, dir: &Path) -> Result<Self, CaError> {
        let files = |message: String| CaError::Files {
            dir: dir.display().to_string(),
            message,
        };
        let mut material = store.trust_material().await?;
        if !material.contains_key(CA_CERT) || !material.contains_key(CA_KEY) {
            let (cert, key) = match read_pair(dir, CA_CERT, CA_KEY).map_err(files)? {
                Some(pair) => pair,
                None => generate_ca()?,
            };
            store
                .add_trust_material(&[(CA_CERT, &cert), (CA_KEY, &key)])
                .await?;
            material = store.trust_material().await?;
        }
        if !material.contains_key(GATEWAY_KEY) {
            let key = match std::fs::read_to_string(dir.join(GATEWAY_KEY)) {
                Ok(pem) => pem,
                Err(_) => KeyPair::generate()?.serialize_pem(),
            };
            store.add_trust_material(&[(GATEWAY_KEY, &key)]).await?;
            material = store.trust_material().await?;
        }
        let piece = |name: &str| {
            material
                .get(name)
                .cloned()
                .ok_or_else(|| files(format!("{name} is missing from the database")))
        };
        let ca = Self::from_pems(&piece(CA_CERT)?, &piece(CA_KEY)?, &piece(GATEWAY_KEY)?)
            .map_err(|e| files(format!("the trust material in the database: {e}")))?;
        let on_disk = std::fs::read_to_string(dir.join(CA_CERT)).unwrap_or_default();
        if on_disk != ca.cert_pem {
            crate::util::write_atomic(&dir.join(CA_CERT), ca.cert_pem.as_bytes(), 0o644)
                .map_err(|e| files(e.to_string()))?;
        }
        Ok(ca)
    }

    /// A CA from its certificate, its key and the gateway's key (PEM).
    pub fn from_pems(
        cert_pem: &str,
        key_pem: &str,
        gateway_key_pem: &str,
    ) -> Result<Self, CaError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| CaError::Material(format!("{what}: {e}"));
        let key = KeyPair::from_pem(key_pem).map_err(|e| bad(CA_KEY, &e))?;
        KeyPair::from_pem(gateway_key_pem).map_err(|e| bad(GATEWAY_KEY, &e))?;
        let cert_der = pem_to_der(cert_pem).ok_or_else(|| bad(CA_CERT, &"not PEM"))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| bad(CA_CERT, &e))?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            pin: sha256_hex(&cert_der),
            cert_der,
            issuer,
            key_pem: key_pem.to_owned(),
            gateway_key_pem: gateway_key_pem.to_owned(),
        })
    }

    /// A new CA held only in memory (tests).
    pub fn generate() -> Result<Self, CaError> {
        let (cert, key) = generate_ca()?;
        Self::from_pems(&cert, &key, &KeyPair::generate()?.serialize_pem())
    }

    /// The CA key (PEM), which also signs agent updates.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
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

/// The organization of the certificates controllers present to each other's gateways.
const CONTROLLERS_ORG: &str = "xfleet controllers";

impl Ca {
    /// A client certificate for this controller (`controller-<id>`), with a key made for it:
    /// what it presents to another controller's gateway to make a call on an agent held
    /// there. Only this CA issues such names, so an agent's certificate can never pass as one.
    pub fn issue_controller(
        &self,
        id: &str,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("controller-{id}"));
        dn.push(DnType::OrganizationName, CONTROLLERS_ORG);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
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

/// The controller id of a certificate [`Ca::issue_controller`] made (the chain was verified
/// against the CA by the TLS handshake); `None` for any other certificate.
pub fn controller_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let org = subject.iter_organization().next()?.as_str().ok()?;
    if org != CONTROLLERS_ORG {
        return None;
    }
    let cn = subject.iter_common_name().next()?.as_str().ok()?;
    cn.strip_prefix("controller-").map(str::to_owned)
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
        let ca = Ca::generate().unwrap();
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
    fn garbage_csr_is_refused() {
        let ca = Ca::generate().unwrap();
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
    }

    /// Every controller of a fleet signs with one CA and serves one gateway key: controllers
    /// starting at once on the same database (each with its own data directory) end up with
    /// the same material, a restart keeps it, and an earlier version's files are taken over
    /// rather than replaced, so agents and install lines enrolled before keep working.
    #[tokio::test]
    async fn the_ca_lives_in_the_database_and_every_controller_shares_it() {
        for (store, label, _keep) in crate::store::testing::test_stores()
            .await
            .into_iter()
            .map(|t| t.into_parts())
        {
            let dirs: Vec<_> = (0..3).map(|_| crate::util::TempDir::new("ca")).collect();
            let loads = dirs.iter().map(|d| Ca::load(&store, d.path()));
            let cas: Vec<Ca> = futures_util::future::try_join_all(loads).await.unwrap();
            for ca in &cas[1..] {
                assert_eq!(ca.pin(), cas[0].pin(), "{label}");
                assert_eq!(ca.gateway_key_pem, cas[0].gateway_key_pem, "{label}");
                assert_eq!(ca.key_pem(), cas[0].key_pem(), "{label}");
            }
            let again = Ca::load(&store, dirs[0].path()).await.unwrap();
            assert_eq!(again.pin(), cas[0].pin(), "{label}");
            let on_disk = std::fs::read_to_string(dirs[2].path().join("ca.pem")).unwrap();
            assert_eq!(on_disk, cas[0].cert_pem(), "{label}: ca.pem for operators");
            assert!(
                !dirs[2].path().join("ca.key").exists(),
                "{label}: no key file"
            );
        }

        // An earlier version's data directory: its files become the database's material.
        let old = crate::util::TempDir::new("ca-old");
        let (cert, key) = generate_ca().unwrap();
        let gateway = KeyPair::generate().unwrap().serialize_pem();
        std::fs::write(old.path().join("ca.pem"), &cert).unwrap();
        std::fs::write(old.path().join("ca.key"), &key).unwrap();
        std::fs::write(old.path().join("gateway.key"), &gateway).unwrap();
        let (store, _, _keep) = crate::store::testing::test_stores()
            .await
            .remove(0)
            .into_parts();
        let ca = Ca::load(&store, old.path()).await.unwrap();
        assert_eq!(ca.cert_pem(), cert);
        assert_eq!(ca.key_pem(), key);
        assert_eq!(ca.gateway_key_pem, gateway);
        let material = store.trust_material().await.unwrap();
        assert_eq!(material["ca.key"], key);
    }

    /// A controller's certificate names it; an agent's certificate is not a controller's.
    #[test]
    fn controller_certificates_are_told_apart_from_agents() {
        let ca = Ca::generate().unwrap();
        let (der, _) = ca.issue_controller("abc").unwrap();
        assert_eq!(controller_of(&der).as_deref(), Some("abc"));
        let mut asks = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "controller-evil");
        dn.push(DnType::OrganizationName, CONTROLLERS_ORG);
        asks.distinguished_name = dn;
        let issued = ca
            .issue_agent(&csr(asks), 7, Duration::from_secs(3600))
            .unwrap();
        let der = pem_to_der(&issued.pem).unwrap();
        assert_eq!(controller_of(&der), None, "a CSR's subject is ignored");
    }
}
