//! Certificates issued to agents and one-time enrollment tokens.

use xfleet_common::time::now_ms;

use super::{Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertificateRow {
    pub id: i64,
    pub serial: String,
    pub server_id: i64,
    pub common_name: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub pem: String,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Unknown,
    Used,
    Expired,
    ServerRemoved,
}

#[derive(Debug, Clone, Copy)]
pub struct ConsumedToken {
    pub server_id: i64,
}

/// A certificate presented on the gateway, with the state of its server.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PresentedCertificate {
    pub server_id: i64,
    pub revoked_at: Option<i64>,
    pub server_enabled: Option<i64>,
}

impl Store {
    pub async fn create_enrollment_token(
        &self,
        token_hash: &str,
        server_id: i64,
        expires_at: i64,
        created_by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO enrollment_tokens (token_hash, server_id, expires_at, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(server_id)
        .bind(expires_at)
        .bind(created_by)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Consumes a token exactly once: of two concurrent attempts, one wins.
    pub async fn consume_enrollment_token(
        &self,
        token_hash: &str,
        source_ip: &str,
    ) -> Result<std::result::Result<ConsumedToken, TokenRefusal>> {
        let now = now_ms();
        let won: Option<(i64,)> = sqlx::query_as(
            "UPDATE enrollment_tokens SET used_at = $1, used_by_ip = $2 \
             WHERE token_hash = $3 AND used_at IS NULL AND expires_at > $1 RETURNING server_id",
        )
        .bind(now)
        .bind(source_ip)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((server_id,)) = won else {
            let row: Option<(Option<i64>, i64)> = sqlx::query_as(
                "SELECT used_at, expires_at FROM enrollment_tokens WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
            return Ok(Err(match row {
                None => TokenRefusal::Unknown,
                Some((Some(_), _)) => TokenRefusal::Used,
                Some((None, _)) => TokenRefusal::Expired,
            }));
        };
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM servers WHERE id = $1")
            .bind(server_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match exists {
            Some(_) => Ok(ConsumedToken { server_id }),
            None => Err(TokenRefusal::ServerRemoved),
        })
    }

    pub async fn insert_certificate(
        &self,
        serial: &str,
        server_id: i64,
        common_name: &str,
        expires_at: i64,
        pem: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO certificates (serial, server_id, common_name, issued_at, expires_at, \
             pem) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(serial)
        .bind(server_id)
        .bind(common_name)
        .bind(now_ms())
        .bind(expires_at)
        .bind(pem)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Certificates issued for a server since `since_ms`, enrollment and renewals alike.
    pub async fn certificates_issued_since(&self, server_id: i64, since_ms: i64) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM certificates WHERE server_id = $1 AND issued_at >= $2",
        )
        .bind(server_id)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Looks up the certificate an agent presented; `None` if we never issued it.
    pub async fn presented_certificate(
        &self,
        serial: &str,
    ) -> Result<Option<PresentedCertificate>> {
        Ok(sqlx::query_as(
            "SELECT c.server_id, c.revoked_at, s.enabled AS server_enabled \
             FROM certificates c LEFT JOIN servers s ON s.id = c.server_id WHERE c.serial = $1",
        )
        .bind(serial)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn certificates_of(&self, server_id: i64) -> Result<Vec<CertificateRow>> {
        Ok(sqlx::query_as(
            "SELECT id, serial, server_id, common_name, issued_at, expires_at, revoked_at, pem \
             FROM certificates WHERE server_id = $1 ORDER BY id",
        )
        .bind(server_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes every live certificate of a server; returns how many.
    pub async fn revoke_certificates(&self, server_id: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE certificates SET revoked_at = $1 WHERE server_id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(server_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
