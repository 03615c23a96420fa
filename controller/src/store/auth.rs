//! Admin accounts, browser sessions and API tokens. Secrets are stored only as hashes.

use xfleet_common::time::now_ms;

use super::{conflict, Result, Store};

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
        .map_err(|e| conflict(e, || format!("user `{username}` already exists")))?;
        Ok(id)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        Ok(
            sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn first_user(&self) -> Result<Option<UserRow>> {
        Ok(
            sqlx::query_as("SELECT id, username, password_hash FROM users ORDER BY id LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
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

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    pub async fn delete_api_tokens_named(&self, name: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM api_tokens WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
