//! The `server_tasks` queue (DESIGN §4): `pending → running → completed | failed | expired`.

use serde::Serialize;
use xfleet_common::time::now_ms;

use super::{Result, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Expired,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: String,
    pub server_id: i64,
    pub operation: String,
    pub status: String,
    /// JSON.
    pub request: String,
    /// JSON.
    pub response: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: i64,
    pub not_before: i64,
    pub expires_at: i64,
    pub created_by: String,
    pub created_at: i64,
    /// Creation order within the controller; tasks of a server run in this order.
    pub seq: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, server_id, operation, status, request, response, error_code, \
    error_message, attempts, not_before, expires_at, created_by, created_at, seq, started_at, \
    completed_at, updated_at";

impl Store {
    pub async fn insert_task(&self, task: &TaskRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO server_tasks (id, server_id, operation, status, request, attempts, \
             not_before, expires_at, created_by, created_at, seq, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $9)",
        )
        .bind(&task.id)
        .bind(task.server_id)
        .bind(&task.operation)
        .bind(&task.status)
        .bind(&task.request)
        .bind(task.not_before)
        .bind(task.expires_at)
        .bind(&task.created_by)
        .bind(task.created_at)
        .bind(task.seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn task(&self, id: &str) -> Result<TaskRow> {
        let sql = format!("SELECT {COLUMNS} FROM server_tasks WHERE id = $1");
        sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("task"))
    }

    /// Newest first.
    pub async fn tasks_of(&self, server_id: i64, limit: i64) -> Result<Vec<TaskRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM server_tasks WHERE server_id = $1 ORDER BY seq DESC LIMIT $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(server_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The oldest unfinished (pending or running) task of a server, whatever its
    /// `not_before`: a task waiting for a retry, or still running on a connection that is
    /// going away, holds back the ones created after it, which keeps delivery in order.
    pub async fn next_open_task(&self, server_id: i64) -> Result<Option<TaskRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM server_tasks WHERE server_id = $1 \
             AND status IN ('pending', 'running') ORDER BY seq LIMIT 1"
        );
        Ok(sqlx::query_as(&sql)
            .bind(server_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Claims a pending task; false if it is no longer pending (expired meanwhile).
    pub async fn start_task(&self, id: &str) -> Result<bool> {
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE server_tasks SET status = 'running', attempts = attempts + 1, \
             started_at = $1, updated_at = $1 WHERE id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn complete_task(&self, id: &str, response: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE server_tasks SET status = 'completed', response = $1, error_code = NULL, \
             error_message = NULL, completed_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(response)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn fail_task(&self, id: &str, code: &str, message: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE server_tasks SET status = 'failed', error_code = $1, error_message = $2, \
             completed_at = $3, updated_at = $3 WHERE id = $4",
        )
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Puts a task back in the queue after a transient failure.
    pub async fn retry_task(
        &self,
        id: &str,
        not_before: i64,
        code: &str,
        message: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE server_tasks SET status = 'pending', not_before = $1, error_code = $2, \
             error_message = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(not_before)
        .bind(code)
        .bind(message)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// After a controller restart, tasks that were running go back to the queue; the agent
    /// answers a repeated task id from its result cache, so none runs twice.
    pub async fn requeue_running_tasks(&self) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE server_tasks SET status = 'pending', updated_at = $1 WHERE status = 'running'",
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Expires pending tasks past their deadline; returns how many.
    pub async fn expire_tasks(&self) -> Result<u64> {
        let now = now_ms();
        Ok(sqlx::query(
            "UPDATE server_tasks SET status = 'expired', error_code = 'expired', \
             error_message = 'the task expired before it could be delivered', \
             completed_at = $1, updated_at = $1 WHERE status = 'pending' AND expires_at <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn highest_task_seq(&self) -> Result<i64> {
        let row: (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM server_tasks")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.0.unwrap_or(0))
    }
}
