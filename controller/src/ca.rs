//! The controller's private CA (DESIGN §2). The CA key never leaves the data directory; agent
//! certificates are signed from a CSR of which only the public key is used.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
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

/// Sealed material starts with this, then base64 of the nonce and the ciphertext.
const SEALED: &str = "xfleet-sealed-v1:";

/// Checks stored trust material without the key that sealed it: a sealed piece must be
/// well formed, and material in the clear must make a CA that can sign (a backup's check).
pub fn check_stored(cert: &str, key: &str, gateway_key: &str) -> Result<(), CaError> {
    if !is_sealed(key) && !is_sealed(gateway_key) {
        return Ca::from_pems(cert, key, gateway_key).map(|_| ());
    }
    pem_to_der(cert).ok_or_else(|| CaError::Material(format!("{CA_CERT}: not PEM")))?;
    for (name, stored) in [(CA_KEY, key), (GATEWAY_KEY, gateway_key)] {
        let body = stored.strip_prefix(SEALED).unwrap_or("");
        let ok = is_sealed(stored)
            && base64::engine::general_purpose::STANDARD
                .decode(body)
                .is_ok_and(|b| b.len() > 28);
        if !ok && is_sealed(stored) {
            return Err(CaError::Material(format!(
                "{name}: damaged sealed material"
            )));
        }
        if !is_sealed(stored) {
            KeyPair::from_pem(stored).map_err(|e| CaError::Material(format!("{name}: {e}")))?;
        }
    }
    Ok(())
}

/// Whether stored material is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

/// The key that seals the CA key and the gateway key in the database (`trust_key_file`):
/// AES-256-GCM, the material's name bound in as associated data, so one sealed piece cannot
/// stand in for another.
pub struct TrustKey(ring::aead::LessSafeKey);

impl TrustKey {
    /// Reads the key file (64 hex digits on its first line), creating it owner-only with a new
    /// random key when it does not exist.
    pub fn from_file(path: &str) -> Result<Self, CaError> {
        let bad =
            |message: String| CaError::Material(format!("the trust key file {path}: {message}"));
        let path = Path::new(path);
        if !path.exists() {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            crate::util::write_private(path, format!("{hex}\n").as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            tracing::info!(file = %path.display(), "created the key file that seals the CA key; copy it to every controller of the fleet and keep a copy with the backups");
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let hex = text.lines().next().unwrap_or("").trim();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        if hex.len() != 64 || bytes.len() != 32 {
            return Err(bad(
                "its first line must be 64 hexadecimal digits (32 bytes)".into(),
            ));
        }
        Self::from_bytes(&bytes).ok_or_else(|| bad("not a usable key".into()))
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, bytes).ok()?;
        Some(Self(ring::aead::LessSafeKey::new(key)))
    }

    /// `pem` sealed under `name`.
    pub fn seal(&self, name: &str, pem: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = pem.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(name.as_bytes()),
                &mut data,
            )
            .expect("sealing in memory does not fail");
        let mut out = nonce.to_vec();
        out.extend(data);
        format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The PEM sealed under `name`; an error when this is not the key it was sealed with.
    pub fn unseal(&self, name: &str, stored: &str) -> Result<String, CaError> {
        let wrong = || {
            CaError::Material(format!(
                "{name} in the database cannot be unsealed with this trust key file: it was \
                 sealed with another one, or changed"
            ))
        };
        let body = stored.strip_prefix(SEALED).ok_or_else(wrong)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| wrong())?;
        if bytes.len() < 12 + 16 {
            return Err(wrong());
        }
        let (nonce, sealed) = bytes.split_at(12);
        let mut data = sealed.to_vec();
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let plain = self
            .0
            .open_in_place(nonce, ring::aead::Aad::from(name.as_bytes()), &mut data)
            .map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }
}

/// `pem` as it is stored: sealed with `key` when there is one.
fn seal_with(key: Option<&TrustKey>, name: &str, pem: &str) -> Result<String, CaError> {
    Ok(match key {
        Some(key) => key.seal(name, pem),
        None => pem.to_owned(),
    })
}

/// Stored material as PEM: unsealed with `key` when sealed.
fn unseal_with(key: Option<&TrustKey>, name: &str, stored: &str) -> Result<String, CaError> {
    match (is_sealed(stored), key) {
        (false, _) => Ok(stored.to_owned()),
        (true, Some(key)) => key.unseal(name, stored),
        (true, None) => Err(CaError::Material(format!(
            "{name} in the database is sealed: set trust_key_file (XFLEET_TRUST_KEY_FILE) to \
             the key file the fleet's other controllers use"
        ))),
    }
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
        Self::load_sealed(store, dir, None).await
    }

    /// [`Ca::load`], the keys sealed in the database with `key` when one is given (see
    /// [`TrustKey`]): new material is stored sealed, and material stored in the clear is
    /// sealed in place.
    pub async fn load_sealed(
        store: &Store,
        dir: &Path,
        key: Option<&TrustKey>,
    ) -> Result<Self, CaError> {
        let files = |message: String| CaError::Files {
            dir: dir.display().to_string(),
            message,
        };
        let mut material = store.trust_material().await?;
        if !material.contains_key(CA_CERT) || !material.contains_key(CA_KEY) {
            let (cert, ca_key) = match read_pair(dir, CA_CERT, CA_KEY).map_err(files)? {
                Some(pair) => pair,
                None => generate_ca()?,
            };
            let sealed = seal_with(key, CA_KEY, &ca_key)?;
            store
                .add_trust_material(&[(CA_CERT, &cert), (CA_KEY, &sealed)])
                .await?;
            material = store.trust_material().await?;
        }
        if !material.contains_key(GATEWAY_KEY) {
            let pem = match std::fs::read_to_string(dir.join(GATEWAY_KEY)) {
                Ok(pem) => pem,
                Err(_) => KeyPair::generate()?.serialize_pem(),
            };
            let sealed = seal_with(key, GATEWAY_KEY, &pem)?;
            store.add_trust_material(&[(GATEWAY_KEY, &sealed)]).await?;
            material = store.trust_material().await?;
        }
        let piece = |name: &str| {
            material
                .get(name)
                .cloned()
                .ok_or_else(|| files(format!("{name} is missing from the database")))
        };
        let mut secrets = Vec::new();
        for name in [CA_KEY, GATEWAY_KEY] {
            let stored = piece(name)?;
            let pem = unseal_with(key, name, &stored)?;
            if let (Some(key), false) = (key, is_sealed(&stored)) {
                // Stored in the clear before a key file was set: sealed now.
                store
                    .replace_trust_material(name, &key.seal(name, &pem))
                    .await?;
            }
            secrets.push(pem);
        }
        let ca = Self::from_pems(&piece(CA_CERT)?, &secrets[0], &secrets[1])
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
        let mut params = leaf(
            &[(DnType::CommonName, "xfleet agent gateway")],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        params.subject_alt_names = sans
            .iter()
            .filter_map(|s| match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Some(SanType::IpAddress(ip)),
                Err(_) => s.clone().try_into().ok().map(SanType::DnsName),
            })
            .collect();
        self.sign_leaf(params, key)
    }

    /// Signs `params` for `key`: the certificate and the key, as rustls takes them.
    fn sign_leaf(
        &self,
        params: CertificateParams,
        key: KeyPair,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), CaError> {
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
        let cn = format!("controller-{id}");
        let params = leaf(
            &[
                (DnType::CommonName, cn.as_str()),
                (DnType::OrganizationName, CONTROLLERS_ORG),
            ],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        self.sign_leaf(params, KeyPair::generate()?)
    }
}

/// A leaf certificate's parameters for a controller's own key (gateway, controller): the
/// subject, one purpose, valid from an hour ago for 397 days (the most public CAs allow).
fn leaf(subject: &[(DnType, &str)], purpose: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for (kind, value) in subject {
        dn.push(kind.clone(), *value);
    }
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(397);
    params.serial_number = Some(random_serial().0);
    params
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

    /// With a trust key file the CA key and the gateway key are sealed in the database:
    /// the rows hold no PEM, a restart with the same file loads the same CA, material stored
    /// in the clear before the file was set is sealed in place, and without the file, or
    /// with another one, the start is refused saying which setting is missing.
    #[tokio::test]
    async fn keys_sealed_with_the_trust_key_file() {
        let (store, _, _keep) = (crate::store::testing::test_stores().await)
            .remove(0)
            .into_parts();
        let dir = crate::util::TempDir::new("sealed");
        let clear = Ca::load(&store, dir.path()).await.unwrap();
        let key_path = dir.path().join("trust.key").display().to_string();
        let key = TrustKey::from_file(&key_path).unwrap();
        let sealed = Ca::load_sealed(&store, dir.path(), Some(&key))
            .await
            .unwrap();
        assert_eq!(sealed.pin(), clear.pin(), "the same CA, now sealed");
        let material = store.trust_material().await.unwrap();
        for name in [CA_KEY, GATEWAY_KEY] {
            assert!(is_sealed(&material[name]), "{name} sealed in place");
            assert!(!material[name].contains("PRIVATE KEY"), "{name}");
        }
        let again = TrustKey::from_file(&key_path).unwrap();
        let reloaded = Ca::load_sealed(&store, dir.path(), Some(&again))
            .await
            .unwrap();
        assert_eq!(reloaded.key_pem(), clear.key_pem());

        let none = Ca::load(&store, dir.path())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(none.contains("trust_key_file"), "{none}");
        let other_path = dir.path().join("other.key").display().to_string();
        let other = TrustKey::from_file(&other_path).unwrap();
        let wrong = (Ca::load_sealed(&store, dir.path(), Some(&other)).await)
            .err()
            .unwrap()
            .to_string();
        assert!(wrong.contains("cannot be unsealed"), "{wrong}");
        // One sealed piece cannot stand in for another.
        let swapped = key.unseal(GATEWAY_KEY, &material[CA_KEY]);
        assert!(swapped.is_err());
        check_stored(
            &material[CA_CERT],
            &material[CA_KEY],
            &material[GATEWAY_KEY],
        )
        .unwrap();
        std::fs::write(&other_path, "short\n").unwrap();
        assert!(TrustKey::from_file(&other_path).is_err());
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
