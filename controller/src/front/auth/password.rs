//! Password hashes: argon2id for everything xfleet writes; bcrypt (`$2a$`, `$2b$`, `$2y$`)
//! accepted as 3x-ui stores it, and replaced by argon2id at the next successful login.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::front::ApiError;
use crate::model::Refusal;

/// The memory argon2 works in: `m_cost` KiB, 19 MiB with the default parameters. The async
/// checks reuse one per core ([`HashingBound`]): allocated afresh for every attempt on
/// changing threads, freed buffers stayed with the allocator, one per thread it had used.
type Memory = Vec<Block>;

/// An argon2id hash of `password` in PHC form, the way every xfleet hash is written.
pub fn hash_password(password: &str) -> String {
    hash_in(password, &mut Memory::new())
}

fn hash_in(password: &str, memory: &mut Memory) -> String {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt_string = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(&params, memory),
        )
        .expect("argon2 with default parameters");
    PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("default parameters encode"),
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out).expect("32 bytes is a valid output")),
    }
    .to_string()
}

/// Checks a password against an argon2 hash, or a bcrypt one (`$2a$`, `$2b$`, `$2y$`) as
/// 3x-ui stores them.
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_in(password, hash, &mut Memory::new())
}

fn verify_in(password: &str, hash: &str, memory: &mut Memory) -> bool {
    if is_bcrypt(hash) {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    let Ok(hash) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(hash.algorithm),
        Params::try_from(&hash),
        hash.salt,
        hash.hash,
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks(&params, memory))
        .is_ok()
        // `Output` compares in constant time.
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// The first `block_count` blocks of `memory`, grown to that size when it is smaller.
fn blocks<'m>(params: &Params, memory: &'m mut Memory) -> &'m mut [Block] {
    let count = params.block_count();
    if memory.len() < count {
        memory.resize(count, Block::default());
    }
    &mut memory[..count]
}

/// Whether a stored hash should be replaced by an argon2id one at the next successful login.
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with("$argon2id$")
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Hashes running at once: one per core. Each argon2 hash holds 19 MiB while it runs, so a
/// flood of logins (for unknown names too: they cost the same work) cannot grow memory past
/// a few of them, however many arrive.
static HASHING: LazyLock<HashingBound> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    HashingBound::new(cores)
});

/// How long a password check waits for a free core before it is refused as busy.
const HASHING_WAIT: Duration = Duration::from_secs(2);
/// What a refused caller is told to wait.
pub const HASHING_RETRY_AFTER_SECS: u64 = 2;

/// At most `running` hashes at once, and at most `waiting` more queued for a short while;
/// anything beyond is refused at once. Each running hash borrows argon2's memory from
/// `memory` and gives it back, so at most one buffer per core is ever allocated.
struct HashingBound {
    running: Semaphore,
    waiting: Semaphore,
    memory: Mutex<Vec<Memory>>,
}

impl HashingBound {
    fn new(cores: usize) -> Self {
        let cores = cores.max(1);
        Self {
            running: Semaphore::new(cores),
            waiting: Semaphore::new(4 * cores),
            memory: Mutex::new(Vec::new()),
        }
    }

    async fn permit(&self) -> Result<SemaphorePermit<'_>, HashError> {
        if let Ok(permit) = self.running.try_acquire() {
            return Ok(permit);
        }
        let _queued = self.waiting.try_acquire().map_err(|_| HashError::Busy)?;
        tokio::time::timeout(HASHING_WAIT, self.running.acquire())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)
    }
}

/// Why a password could not be checked or hashed (it says nothing about the password).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(
        "the controller is busy checking other passwords: try again in \
         {HASHING_RETRY_AFTER_SECS} seconds"
    )]
    Busy,
    #[error("password hashing task: {0}")]
    Task(String),
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::TooManyRequests(e.to_string().into()),
            HashError::Task(m) => Self::Internal(m),
        }
    }
}

/// Runs password hashing off the async workers (argon2 and bcrypt take tens of
/// milliseconds), within the bound on how many run at once and in a reused buffer.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce(&mut Memory) -> T + Send + 'static,
) -> Result<T, HashError> {
    let _permit = HASHING.permit().await?;
    let mut memory = HASHING.memory.lock().unwrap().pop().unwrap_or_default();
    let (result, memory) = tokio::task::spawn_blocking(move || (work(&mut memory), memory))
        .await
        .map_err(|e| HashError::Task(e.to_string()))?;
    HASHING.memory.lock().unwrap().push(memory);
    Ok(result)
}

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Far beyond any real password; keeps hashing work bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Whether `password` may become an admin's password: long enough, and short enough to hash.
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::BadRequest(
            Refusal::new(
                "err.password_too_short",
                &[("min", MIN_PASSWORD_CHARS.to_string())],
            )
            .into(),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(
            Refusal::new(
                "err.password_too_long",
                &[("max", MAX_PASSWORD_BYTES.to_string())],
            )
            .into(),
        ));
    }
    Ok(())
}

/// Checks a password against a stored hash (argon2id or 3x-ui's bcrypt), off the async
/// workers.
pub async fn check_password(password: &str, hash: &str) -> Result<bool, HashError> {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    off_runtime(move |memory| verify_in(&password, &hash, memory)).await
}

/// A new argon2id hash of a password, off the async workers.
pub async fn new_password_hash(password: &str) -> Result<String, HashError> {
    let password = password.to_owned();
    off_runtime(move |memory| hash_in(&password, memory)).await
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

    /// A flood finds the cores taken and the short queue full: the next caller is refused at
    /// once, not queued behind it, and gets in again as soon as a hash ends.
    #[tokio::test]
    async fn hashing_beyond_the_cores_and_the_queue_is_refused_at_once() {
        let bound = std::sync::Arc::new(HashingBound::new(1));
        let running = bound.permit().await.unwrap();
        let queued: Vec<_> = (0..4)
            .map(|_| {
                let bound = bound.clone();
                tokio::spawn(async move { bound.permit().await.map(drop) })
            })
            .collect();
        while bound.waiting.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(bound.permit().await, Err(HashError::Busy)));
        drop(running);
        for q in queued {
            q.await.unwrap().unwrap();
        }
        assert!(bound.permit().await.is_ok());
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

    /// Hashes written before argon2's memory was reused (by the library's own PHC path)
    /// still verify, and what is written now reads back the same way.
    #[test]
    fn hashes_match_the_library_s_own_phc_form() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"old password", &salt)
            .unwrap()
            .to_string();
        let mut memory = Memory::new();
        assert!(verify_in("old password", &theirs, &mut memory));
        assert!(!verify_in("old passworD", &theirs, &mut memory));
        let ours = hash_in("new password", &mut memory);
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"new password", &parsed)
            .is_ok());
        assert_eq!(
            ours.split('$').take(4).collect::<Vec<_>>(),
            theirs.split('$').take(4).collect::<Vec<_>>(),
            "same algorithm, version and parameters"
        );
    }
}
