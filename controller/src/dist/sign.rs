//! Agent update signatures: ECDSA P-256 SHA-256 with the controller's CA key, over a
//! domain-separated message ([`xfleet_common::methods::update_signed_message`]) naming the
//! binary's digest, version and architecture. Agents already pin the CA certificate in their
//! `ca.pem`, so every enrolled agent can verify an update without a new key, and the key
//! never leaves the controllers (and their database).

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use xfleet_common::methods::update_signed_message;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the CA key cannot be read: {0}")]
    Key(String),
    #[error("the CA key is not an ECDSA P-256 key ({0}); agent updates cannot be signed")]
    KeyType(String),
    #[error("signing failed")]
    Sign,
}

/// Signs agent updates with the CA key.
pub struct UpdateSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for UpdateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpdateSigner")
    }
}

impl UpdateSigner {
    /// From the PEM of a PKCS#8 key, as `ca.rs` writes it.
    pub fn from_pem(pem: &str) -> Result<Self, SignError> {
        let key = rcgen::KeyPair::from_pem(pem).map_err(|e| SignError::Key(e.to_string()))?;
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng)
                .map_err(|e| SignError::KeyType(e.to_string()))?;
        Ok(Self { key, rng })
    }

    /// The signature (ASN.1 DER) an agent checks before it runs the binary.
    pub fn sign(&self, sha256_hex: &str, version: &str, arch: &str) -> Result<Vec<u8>, SignError> {
        let message = update_signed_message(sha256_hex, version, arch);
        let signature = self
            .key
            .sign(&self.rng, &message)
            .map_err(|_| SignError::Sign)?;
        Ok(signature.as_ref().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signer reads the key `ca.rs` creates, and what it signs verifies against the CA
    /// certificate's public key, as an agent checks it (the agent's own tests cover refusal).
    #[test]
    fn signs_with_the_ca_key() {
        let ca = crate::ca::Ca::generate().unwrap();
        let signer = UpdateSigner::from_pem(ca.key_pem()).unwrap();
        let digest = "ab".repeat(32);
        let signature = signer.sign(&digest, "0.2.0", "x86_64").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
        let point = &cert.public_key().subject_public_key.data;
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            point.as_ref(),
        );
        let message = update_signed_message(&digest, "0.2.0", "x86_64");
        key.verify(&message, &signature).unwrap();
        let other = update_signed_message(&digest, "0.2.1", "x86_64");
        assert!(key.verify(&other, &signature).is_err());
    }

    #[test]
    fn a_damaged_key_says_so() {
        let err = UpdateSigner::from_pem("nonsense").unwrap_err().to_string();
        assert!(err.contains("the CA key cannot be read"), "{err}");
    }
}
