//! Password hashes: argon2id for everything xfleet writes; bcrypt (`$2a$`, `$2b$`, `$2y$`)
//! accepted as 3x-ui stores it, and replaced by argon2id at the next successful login.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::front::ApiError;

pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Checks a password against an argon2 hash, or a bcrypt one (`$2a$`, `$2b$`, `$2y$`) as
/// 3x-ui stores them.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if is_bcrypt(hash) {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether a stored hash should be replaced by an argon2id one at the next successful login.
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with("$argon2id$")
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Runs password hashing off the async workers: argon2 and bcrypt take tens of milliseconds.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing task: {e}")))
}

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Far beyond any real password; keeps hashing work bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Whether `password` may become an admin's password: long enough, and short enough to hash.
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::BadRequest(format!(
            "the new password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(format!(
            "the new password must not be longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Checks a password against a stored hash (argon2id or 3x-ui's bcrypt), off the async
/// workers.
pub async fn check_password(password: &str, hash: &str) -> Result<bool, ApiError> {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    off_runtime(move || verify_password(&password, &hash)).await
}

/// A new argon2id hash of a password, off the async workers.
pub async fn new_password_hash(password: &str) -> Result<String, ApiError> {
    let password = password.to_owned();
    off_runtime(move || hash_password(&password)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_hashes_as_3x_ui_stores_them_verify_and_ask_for_a_rehash() {
        use bcrypt::Version;
        for (version, prefix) in [
            (Version::TwoA, "$2a$"),
            (Version::TwoB, "$2b$"),
            (Version::TwoY, "$2y$"),
        ] {
            let hash = bcrypt::hash_with_result("s3cret-pass", 4)
                .unwrap()
                .format_for_version(version);
            assert!(hash.starts_with(prefix), "{hash}");
            assert!(verify_password("s3cret-pass", &hash), "{hash}");
            assert!(!verify_password("s3cret-pasS", &hash), "{hash}");
            assert!(needs_rehash(&hash));
        }
        // A published bcrypt test vector (OpenBSD/John the Ripper suite).
        let known = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert!(verify_password("U*U", known));
        assert!(!verify_password("U*V", known));
    }

    #[test]
    fn argon2id_hashes_verify_and_are_kept() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!needs_rehash(&hash));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("x", "$2b$04$short"));
    }
}
