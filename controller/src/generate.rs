//! Secrets for inbounds and clients, made here rather than by asking a core (3x-ui shells out
//! to `xray x25519` and `xray uuid`): client UUIDs, REALITY key pairs and short ids,
//! passwords, and Shadowsocks 2022 keys.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::{Rng, RngCore};
use serde::Serialize;

/// A random (version 4) UUID, as VMess and VLESS clients use.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A REALITY key pair in Xray's text form (base64url without padding, as `xray x25519`
/// prints it): the private key goes in the inbound, the public key in share links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct X25519Pair {
    #[serde(rename = "privateKey")]
    pub private_key: String,
    #[serde(rename = "publicKey")]
    pub public_key: String,
}

pub fn x25519() -> X25519Pair {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    x25519_from(secret)
}

fn x25519_from(secret: [u8; 32]) -> X25519Pair {
    let secret = x25519_dalek::StaticSecret::from(secret);
    let public = x25519_dalek::PublicKey::from(&secret);
    X25519Pair {
        // Clamped, as Xray stores it.
        private_key: URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        public_key: URL_SAFE_NO_PAD.encode(public.as_bytes()),
    }
}

/// The public key of a REALITY private key (for links of an imported inbound).
pub fn x25519_public(private_key: &str) -> Option<String> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(private_key.trim())
        .ok()?
        .try_into()
        .ok()?;
    Some(x25519_from(bytes).public_key)
}

/// A WireGuard key pair in WireGuard's text form (standard base64 with padding, as `wg
/// genkey` and 3x-ui's panel write it), e.g. for a WARP device.
pub fn wireguard() -> X25519Pair {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    wireguard_from(secret)
}

/// The public key of a WireGuard private key; `None` if it is not 32 bytes of base64.
pub fn wireguard_public(private_key: &str) -> Option<String> {
    let bytes: [u8; 32] = STANDARD.decode(private_key.trim()).ok()?.try_into().ok()?;
    Some(wireguard_from(bytes).public_key)
}

fn wireguard_from(secret: [u8; 32]) -> X25519Pair {
    let secret = x25519_dalek::StaticSecret::from(secret);
    let public = x25519_dalek::PublicKey::from(&secret);
    X25519Pair {
        private_key: STANDARD.encode(secret.to_bytes()),
        public_key: STANDARD.encode(public.as_bytes()),
    }
}

/// REALITY short ids: hex strings of even length up to 16, of varied lengths as 3x-ui makes
/// them, so clients do not all present the same length.
pub fn short_ids(count: usize) -> Vec<String> {
    let mut rng = rand::rng();
    (0..count)
        .map(|_| {
            let len = 2 * rng.random_range(1..=8);
            (0..len)
                .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("hex digit"))
                .collect()
        })
        .collect()
}

/// A random password of letters and digits (Trojan, legacy Shadowsocks, SOCKS/HTTP accounts).
pub fn password(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len.clamp(8, 128))
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A subscription id: 16 lowercase letters and digits, as 3x-ui makes them.
pub fn sub_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A Shadowsocks 2022 key for `method` (standard base64 of 16 or 32 random bytes); `None`
/// for a method that is not a 2022 one.
pub fn ss2022_key(method: &str) -> Option<String> {
    let len = match method {
        "2022-blake3-aes-128-gcm" => 16,
        "2022-blake3-aes-256-gcm" | "2022-blake3-chacha20-poly1305" => 32,
        _ => return None,
    };
    let mut key = vec![0u8; len];
    rand::rng().fill_bytes(&mut key);
    Some(STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> [u8; 32] {
        let v: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    }

    #[test]
    fn x25519_matches_rfc_7748() {
        // RFC 7748 §6.1, Alice's key pair.
        let pair = x25519_from(hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let public = URL_SAFE_NO_PAD.decode(&pair.public_key).unwrap();
        assert_eq!(
            public,
            hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            x25519_public(&pair.private_key),
            Some(pair.public_key.clone())
        );
        let fresh = x25519();
        assert_ne!(fresh, x25519());
        assert_eq!(
            fresh.private_key.len(),
            43,
            "32 bytes, base64url without padding"
        );
        assert_eq!(x25519_public("not base64!"), None);
    }

    #[test]
    fn secrets_have_the_shapes_cores_accept() {
        assert!(uuid::Uuid::parse_str(&uuid()).is_ok());
        for id in short_ids(20) {
            assert!(id.len() % 2 == 0 && (2..=16).contains(&id.len()), "{id}");
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        }
        let p = password(16);
        assert_eq!(p.len(), 16);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        let k = STANDARD
            .decode(ss2022_key("2022-blake3-aes-128-gcm").unwrap())
            .unwrap();
        assert_eq!(k.len(), 16);
        let k = STANDARD
            .decode(ss2022_key("2022-blake3-aes-256-gcm").unwrap())
            .unwrap();
        assert_eq!(k.len(), 32);
        assert_eq!(ss2022_key("aes-256-gcm"), None);
    }
}
