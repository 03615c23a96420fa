//! The `core_templates` table and which servers use each template (`servers.core_template_id`).

use xfleet_common::time::now_ms;

use super::{conflict, Result, Store, StoreError};
use crate::i18n::Refusal;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub name: String,
    /// The template, compact JSON text (an object).
    pub config: String,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, config, notes, created_at, updated_at";

impl Store {
    pub async fn templates(&self) -> Result<Vec<TemplateRow>> {
        let sql = format!("SELECT {COLUMNS} FROM core_templates ORDER BY id");
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    pub async fn template(&self, id: i64) -> Result<TemplateRow> {
        let sql = format!("SELECT {COLUMNS} FROM core_templates WHERE id = $1");
        sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("core template"))
    }

    pub async fn template_by_name(&self, name: &str) -> Result<TemplateRow> {
        let sql = format!("SELECT {COLUMNS} FROM core_templates WHERE name = $1");
        sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("core template"))
    }

    pub async fn create_template(
        &self,
        name: &str,
        config: &str,
        notes: &str,
    ) -> Result<TemplateRow> {
        let sql = format!(
            "INSERT INTO core_templates (name, config, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(name)
            .bind(config)
            .bind(notes)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.template_name_taken", &[("name", name.to_owned())])
                })
            })
    }

    pub async fn update_template(
        &self,
        id: i64,
        name: &str,
        config: &str,
        notes: &str,
    ) -> Result<TemplateRow> {
        let sql = format!(
            "UPDATE core_templates SET name = $1, config = $2, notes = $3, updated_at = $4 \
             WHERE id = $5 RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(name)
            .bind(config)
            .bind(notes)
            .bind(now_ms())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    Refusal::new("err.template_name_taken", &[("name", name.to_owned())])
                })
            })?
            .ok_or(StoreError::NotFound("core template"))
    }

    /// Deletes a template no server uses; one still in use is a conflict naming how many.
    pub async fn delete_template(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let (users,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM servers WHERE core_template_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if users > 0 {
            return Err(StoreError::Conflict(
                Refusal::new("err.template_users", &[("users", users.to_string())]).into(),
            ));
        }
        let deleted = sqlx::query("DELETE FROM core_templates WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("core template"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Points servers at a template (`None`: the fleet template). Unknown ids are ignored.
    pub async fn assign_template(&self, servers: &[i64], template: Option<i64>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for id in servers {
            sqlx::query("UPDATE servers SET core_template_id = $1, updated_at = $2 WHERE id = $3")
                .bind(template)
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The template text a server runs: its own template's, else `None` (the fleet's).
    pub async fn server_template(&self, server_id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT t.config FROM servers s JOIN core_templates t ON t.id = s.core_template_id \
             WHERE s.id = $1",
        )
        .bind(server_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }
}
