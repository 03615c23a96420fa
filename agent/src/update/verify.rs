//! Checks an update's signature against the public key of the pinned CA certificate
//! (`ca.pem`): the channel alone is never trusted with code that will run as the agent.

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use xfleet_common::methods::update_signed_message;

/// Whether `signature` was made by the CA's key over this digest, version and architecture.
pub fn verify(
    ca_pem: &str,
    sha256_hex: &str,
    version: &str,
    arch: &str,
    signature: &[u8],
) -> Result<(), String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
        .map_err(|e| format!("the pinned CA certificate is not PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("the pinned CA certificate cannot be read: {e}"))?;
    let point = cert.public_key().subject_public_key.data.to_vec();
    let message = update_signed_message(sha256_hex, version, arch);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(&message, signature)
        .map_err(|_| {
            "the signature does not verify with the controller's CA key; the binary is refused"
                .to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    /// A CA made the way the controller makes one, and a signer over its key.
    fn ca() -> (String, EcdsaKeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        let cert = params.self_signed(&key).unwrap();
        let signer = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        (cert.pem(), signer)
    }

    fn sign(key: &EcdsaKeyPair, digest: &str, version: &str, arch: &str) -> Vec<u8> {
        let message = update_signed_message(digest, version, arch);
        key.sign(&SystemRandom::new(), &message)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    /// A signature by the pinned CA's key over exactly this digest, version and architecture
    /// verifies; changing any of the three, or signing with another key, is refused.
    #[test]
    fn only_the_ca_key_over_the_same_fields_verifies() {
        let (ca_pem, key) = ca();
        let digest = "ab".repeat(32);
        let signature = sign(&key, &digest, "0.2.0", "x86_64");
        verify(&ca_pem, &digest, "0.2.0", "x86_64", &signature).unwrap();

        let other_digest = "cd".repeat(32);
        for (d, v, a) in [
            (other_digest.as_str(), "0.2.0", "x86_64"),
            (digest.as_str(), "0.2.1", "x86_64"),
            (digest.as_str(), "0.2.0", "aarch64"),
        ] {
            let err = verify(&ca_pem, d, v, a, &signature).unwrap_err();
            assert!(err.contains("does not verify"), "{err}");
        }

        let (_, stranger) = ca();
        let forged = sign(&stranger, &digest, "0.2.0", "x86_64");
        assert!(verify(&ca_pem, &digest, "0.2.0", "x86_64", &forged).is_err());
        assert!(verify(&ca_pem, &digest, "0.2.0", "x86_64", b"garbage").is_err());
    }
}
