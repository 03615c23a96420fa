//! TOTP (RFC 6238) over HOTP (RFC 4226): HMAC-SHA-1, 6 digits, 30-second steps, the
//! parameters authenticator apps and 3x-ui (gotp) use. Secrets travel as RFC 4648 base32.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::util::constant_time_eq;

pub const STEP_SECS: u64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of the current one still accepted, for clocks that drift a little.
pub const SKEW_STEPS: u64 = 1;
/// 160 bits, the key size RFC 4226 recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The HOTP value of `key` at `counter`, `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The time step a Unix time falls in.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The code an authenticator app shows for `key` at `unix_secs`.
pub fn code_at(key: &[u8], unix_secs: u64) -> String {
    format!(
        "{:0width$}",
        hotp(key, step_at(unix_secs), DIGITS),
        width = DIGITS as usize
    )
}

/// Checks `code` against the current step and [`SKEW_STEPS`] either side, considering only
/// steps after `last_used` so a code that was accepted once is refused from then on. Returns
/// the step that matched, which the caller records as the new `last_used`.
pub fn verify(key: &[u8], code: &str, unix_secs: u64, last_used: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    (now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS)
        .filter(|step| *step > last_used)
        .find(|step| {
            let expected = format!(
                "{:0width$}",
                hotp(key, *step, DIGITS),
                width = DIGITS as usize
            );
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
}

/// A fresh random secret, base32 without padding.
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    base32_encode(&key)
}

/// The `otpauth://` URI authenticator apps scan (as a QR code) to add the account.
pub fn uri(issuer: &str, account: &str, secret: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}",
        percent_encode(issuer),
        percent_encode(account),
        percent_encode(issuer)
    )
}

pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 as people and other panels write it: any case, with or without `=`
/// padding, spaces ignored. `None` on any other character or an empty secret.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').chars() {
        if c.is_whitespace() {
            continue;
        }
        let c = c.to_ascii_uppercase() as u8;
        let value = ALPHABET.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        for (time, want) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            let got = format!("{:08}", hotp(RFC_KEY, step_at(time), 8));
            assert_eq!(got, want, "T = {time}");
        }
        // The 6-digit codes apps show are the low digits of the same values.
        assert_eq!(code_at(RFC_KEY, 59), "287082");
        assert_eq!(code_at(RFC_KEY, 1111111109), "081804");
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32_encode(RFC_KEY), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw 6ytb oi").unwrap(), b"foobar");
        assert_eq!(
            base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(),
            RFC_KEY
        );
        assert_eq!(base32_decode("MZ1W"), None, "1 is not base32");
        assert_eq!(base32_decode(""), None);
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        assert_eq!(base32_decode(&secret).unwrap().len(), SECRET_BYTES);
    }

    #[test]
    fn codes_within_one_step_of_skew_verify_once() {
        let t = 1_700_000_000;
        let now = step_at(t);
        for delta in [-30i64, 0, 30] {
            let code = code_at(RFC_KEY, (t as i64 + delta) as u64);
            let step = verify(RFC_KEY, &code, t, 0).expect("within skew");
            assert_eq!(step as i64, now as i64 + delta / 30);
            assert_eq!(verify(RFC_KEY, &code, t, step), None, "replay refused");
        }
        let far = code_at(RFC_KEY, t + 90);
        assert_eq!(verify(RFC_KEY, &far, t, 0), None, "three steps ahead");
        // Using the next step's code closes the current one too.
        let current = code_at(RFC_KEY, t);
        assert_eq!(verify(RFC_KEY, &current, t, now + 1), None);
        assert_eq!(verify(RFC_KEY, "12345", t, 0), None);
        assert_eq!(verify(RFC_KEY, "abcdef", t, 0), None);
        let spaced = format!("{} {}", &current[..3], &current[3..]);
        assert_eq!(verify(RFC_KEY, &spaced, t, 0), Some(now));
    }

    #[test]
    fn uri_names_issuer_and_account() {
        assert_eq!(
            uri("xfleet", "ad min", "ABC"),
            "otpauth://totp/xfleet:ad%20min?secret=ABC&issuer=xfleet"
        );
    }
}
