//! Admin accounts, browser sessions and API tokens. Secrets are stored only as hashes.

use xfleet_common::time::now_ms;

use super::{conflict, Result, Store, StoreError};
use crate::i18n::Refusal;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub user_id: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A user's two-factor state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpState {
    /// Base32 secret; `None` while two-factor login is off.
    pub secret: Option<String>,
    /// Secret handed out by setup, waiting for a first code to confirm it.
    pub pending: Option<String>,
    /// Time step of the last accepted code; codes at or before it are refused.
    pub last_step: i64,
}

/// A live browser session; `id` is the start of the token's hash, safe to show.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub username: String,
    pub source_ip: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Hex characters of the token hash that name a session in lists and revocations.
pub const SESSION_ID_LEN: usize = 16;

#[derive(sqlx::FromRow)]
struct TokenWithUser {
    id: i64,
    name: String,
    scope: String,
    user_id: i64,
    created_at: i64,
    last_used_at: Option<i64>,
    username: String,
    password_hash: String,
}

impl Store {
    pub async fn user_count(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    pub async fn create_user(&self, username: &str, password_hash: &str) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO users (username, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            conflict(e, || {
                Refusal::new("err.user_exists", &[("username", username.to_owned())])
            })
        })?;
        Ok(id)
    }

    /// Marks the account's password as one the operator must change (the generated first
    /// password); any password change clears the mark.
    pub async fn require_password_change(&self, user_id: i64) -> Result<()> {
        sqlx::query("UPDATE users SET password_change_required = 1 WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the account still has a password the operator must change.
    pub async fn password_change_required(&self, user_id: i64) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT password_change_required FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some_and(|(flag,)| flag != 0))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        Ok(
            sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn user_by_id(&self, id: i64) -> Result<UserRow> {
        sqlx::query_as("SELECT id, username, password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))
    }

    pub async fn first_user(&self) -> Result<Option<UserRow>> {
        Ok(
            sqlx::query_as("SELECT id, username, password_hash FROM users ORDER BY id LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> Result<()> {
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Swaps the hash only if it is still `old` (a rehash must not undo a password change made
    /// meanwhile); says whether it did.
    pub async fn replace_password_hash(&self, user_id: i64, old: &str, new: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $3, updated_at = $4 \
             WHERE id = $1 AND password_hash = $2",
        )
        .bind(user_id)
        .bind(old)
        .bind(new)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a new password hash and ends every other session of the user, in one transaction;
    /// returns how many sessions ended.
    pub async fn change_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<u64> {
        self.change_credentials(user_id, None, password_hash, keep_session)
            .await
    }

    /// Renames a user, keeping the password and the sessions. A name another user has is a
    /// conflict.
    pub async fn rename_user(&self, user_id: i64, username: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        name_is_free(&mut tx, user_id, username).await?;
        sqlx::query("UPDATE users SET username = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(username)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password hash (and a new name, when given) and ends every other session of
    /// the user, in one transaction; returns how many sessions ended. A name another user has
    /// is a conflict.
    pub async fn change_credentials(
        &self,
        user_id: i64,
        username: Option<&str>,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        if let Some(username) = username {
            name_is_free(&mut tx, user_id, username).await?;
            sqlx::query("UPDATE users SET username = $2 WHERE id = $1")
                .bind(user_id)
                .bind(username)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3, password_change_required = 0 \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(ended)
    }

    pub async fn user_totp(&self, user_id: i64) -> Result<TotpState> {
        sqlx::query_as(
            "SELECT totp_secret AS secret, totp_pending AS pending, totp_last_step AS last_step \
             FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("user"))
    }

    /// Whether any account logs in with a second factor.
    pub async fn any_totp_enabled(&self) -> Result<bool> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE totp_secret IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(n > 0)
    }

    /// Stores a secret awaiting confirmation; refused (false) while two-factor login is on,
    /// so it cannot be swapped without the current factor.
    pub async fn begin_totp(&self, user_id: i64, secret: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_pending = $2, totp_last_step = 0, updated_at = $3 \
             WHERE id = $1 AND totp_secret IS NULL",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Turns the pending secret on, if it is still `secret`, recording the step of the code
    /// that confirmed it.
    pub async fn enable_totp(&self, user_id: i64, secret: &str, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, \
             totp_last_step = $3, updated_at = $4 \
             WHERE id = $1 AND totp_pending = $2 AND totp_secret IS NULL",
        )
        .bind(user_id)
        .bind(secret)
        .bind(step)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn disable_totp(&self, user_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records `step` as used if it is later than the last used one. Atomic, so of two
    /// requests carrying the same code only one gets `true`.
    pub async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $2 \
             WHERE id = $1 AND totp_last_step < $2 AND totp_secret IS NOT NULL",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        source_ip: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, source_ip, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(source_ip)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session_user(&self, token_hash: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.username, u.password_hash FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The CSRF token of a live session (empty when none was set).
    pub async fn session_csrf(&self, token_hash: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT csrf_token FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }

    pub async fn set_session_csrf(&self, token_hash: &str, csrf: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET csrf_token = $1 WHERE token_hash = $2")
            .bind(csrf)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Live sessions of every user, newest first.
    pub async fn list_sessions(&self) -> Result<Vec<SessionRow>> {
        Ok(sqlx::query_as(
            "SELECT substr(s.token_hash, 1, 16) AS id, s.user_id, u.username, s.source_ip, \
             s.created_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.expires_at > $1 ORDER BY s.created_at DESC",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Ends the session named by `id` (see [`SessionRow::id`]); returns how many ended.
    pub async fn delete_session_by_id(&self, id: &str) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE substr(token_hash, 1, 16) = $1")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    pub async fn create_api_token(
        &self,
        name: &str,
        token_hash: &str,
        scope: &str,
        user_id: i64,
    ) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_tokens (name, token_hash, scope, user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(scope)
        .bind(user_id)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// Resolves a Bearer token to its row and user.
    pub async fn api_token(&self, token_hash: &str) -> Result<Option<(ApiTokenRow, UserRow)>> {
        let row: Option<TokenWithUser> = sqlx::query_as(
            "SELECT t.id, t.name, t.scope, t.user_id, t.created_at, t.last_used_at, \
             u.username, u.password_hash FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            (
                ApiTokenRow {
                    id: r.id,
                    name: r.name,
                    scope: r.scope,
                    user_id: r.user_id,
                    created_at: r.created_at,
                    last_used_at: r.last_used_at,
                },
                UserRow {
                    id: r.user_id,
                    username: r.username,
                    password_hash: r.password_hash,
                },
            )
        }))
    }

    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRow>> {
        Ok(sqlx::query_as(
            "SELECT id, name, scope, user_id, created_at, last_used_at FROM api_tokens ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes one token; returns how many went (0 or 1).
    pub async fn delete_api_token(&self, id: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    pub async fn delete_api_token_with_hash(&self, token_hash: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    pub async fn delete_api_tokens_named(&self, name: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM api_tokens WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

/// A conflict when a user other than `user_id` is named `username`.
async fn name_is_free(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: i64,
    username: &str,
) -> Result<()> {
    let taken: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM users WHERE username = $1 AND id <> $2")
            .bind(username)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    match taken {
        Some(_) => Err(StoreError::Conflict(
            Refusal::new("err.user_name_taken", &[("username", username.to_owned())]).into(),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::test_stores;
    use super::*;

    #[tokio::test]
    async fn two_factor_state_and_step_replay() {
        for t in test_stores().await {
            let s = &t.store;
            let id = s.create_user("admin", "h").await.unwrap();
            assert!(!s.any_totp_enabled().await.unwrap());
            assert!(s.begin_totp(id, "AAAA").await.unwrap());
            assert!(
                !s.enable_totp(id, "BBBB", 10).await.unwrap(),
                "{}: only the pending secret turns on",
                t.label
            );
            assert!(s.enable_totp(id, "AAAA", 10).await.unwrap());
            let state = s.user_totp(id).await.unwrap();
            assert_eq!(state.secret.as_deref(), Some("AAAA"), "{}", t.label);
            assert_eq!((state.pending, state.last_step), (None, 10));
            assert!(s.any_totp_enabled().await.unwrap());
            assert!(
                !s.begin_totp(id, "CCCC").await.unwrap(),
                "{}: no new secret while one is on",
                t.label
            );
            assert!(!s.use_totp_step(id, 10).await.unwrap(), "{}", t.label);
            assert!(s.use_totp_step(id, 11).await.unwrap());
            assert!(!s.use_totp_step(id, 11).await.unwrap(), "{}", t.label);
            s.disable_totp(id).await.unwrap();
            assert_eq!(s.user_totp(id).await.unwrap().secret, None);
            assert!(
                !s.use_totp_step(id, 12).await.unwrap(),
                "off: nothing to use"
            );
            assert!(matches!(
                s.user_totp(id + 100).await,
                Err(StoreError::NotFound(_))
            ));
        }
    }

    #[tokio::test]
    async fn sessions_are_listed_revoked_and_ended_by_a_password_change() {
        for t in test_stores().await {
            let s = &t.store;
            let admin = s.create_user("admin", "old").await.unwrap();
            let ops = s.create_user("ops", "x").await.unwrap();
            let far = now_ms() + 60_000;
            let hash = |c: char| c.to_string().repeat(64);
            s.create_session(&hash('a'), admin, "10.0.0.1", far)
                .await
                .unwrap();
            s.create_session(&hash('b'), admin, "10.0.0.2", far)
                .await
                .unwrap();
            s.create_session(&hash('c'), admin, "10.0.0.3", far)
                .await
                .unwrap();
            s.create_session(&hash('d'), ops, "10.0.0.4", far)
                .await
                .unwrap();
            s.create_session(&hash('e'), ops, "10.0.0.5", now_ms() - 1)
                .await
                .unwrap();
            let listed = s.list_sessions().await.unwrap();
            assert_eq!(listed.len(), 4, "{}: expired ones are not listed", t.label);
            let d = listed.iter().find(|r| r.source_ip == "10.0.0.4").unwrap();
            assert_eq!(
                (d.id.as_str(), d.username.as_str()),
                ("dddddddddddddddd", "ops")
            );
            assert_eq!(s.delete_session_by_id(&d.id).await.unwrap(), 1);
            assert!(s.session_user(&hash('d')).await.unwrap().is_none());
            assert_eq!(s.delete_session_by_id(&d.id).await.unwrap(), 0);

            let ended = s
                .change_password(admin, "new", Some(&hash('a')))
                .await
                .unwrap();
            assert_eq!(ended, 2, "{}", t.label);
            assert!(s.session_user(&hash('a')).await.unwrap().is_some());
            assert!(s.session_user(&hash('b')).await.unwrap().is_none());
            assert_eq!(s.user_by_id(admin).await.unwrap().password_hash, "new");
            assert_eq!(s.delete_expired_sessions().await.unwrap(), 1);

            assert!(!s.replace_password_hash(admin, "old", "x").await.unwrap());
            assert!(s
                .replace_password_hash(admin, "new", "newer")
                .await
                .unwrap());
            assert_eq!(s.user_by_id(admin).await.unwrap().password_hash, "newer");
        }
    }
}
