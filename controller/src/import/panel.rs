//! The panel's side of an import: IP records, settings and the admin account.

use sqlx::AnyConnection;

use super::clients;
use super::settings::{empty_is_unset, fate, value_problem, Fate};
use super::write::{Run, Seen};
use super::{ImportError, ImportReport};

/// Settings key remembering which 3x-ui admin password was imported, so a later run does not
/// undo a change made in xfleet since.
const ADMIN_MARKER: &str = "import.3xui.adminPassword";

impl Run<'_> {
    pub(super) async fn ips(
        &mut self,
        c: &mut AnyConnection,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        for (source, raw) in &self.data.ips {
            let item = format!("IP record of `{}`", source.escape_debug());
            let email = self.renamed.get(source).unwrap_or(source);
            if !matches!(self.seen.get(email), Some(Seen::Stored { .. })) {
                report.skip(item, "its client was not imported");
                continue;
            }
            let ips = match clients::parse_ips(raw) {
                Ok(ips) => ips,
                Err(reason) => {
                    report.skip(item, reason);
                    continue;
                }
            };
            for (ip, seen_at) in ips {
                // The older format has no times: seen no later than now.
                let n = sqlx::query(
                    "INSERT INTO client_ips (server_id, email, ip, last_seen, first_seen) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (server_id, email, ip) DO NOTHING",
                )
                .bind(self.server.id)
                .bind(email)
                .bind(&ip)
                .bind(seen_at.unwrap_or(self.now))
                .execute(&mut *c)
                .await?
                .rows_affected();
                if n > 0 {
                    report.imported.ip_records += 1;
                } else {
                    report.unchanged.ip_records += 1;
                }
            }
        }
        Ok(())
    }

    pub(super) async fn settings(
        &mut self,
        c: &mut AnyConnection,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        for (k, value) in &self.data.settings {
            let item = format!("setting `{k}`");
            match fate(k) {
                Fate::Keep => {}
                Fate::Template => continue,
                Fate::Skip(reason) => {
                    report.skip(item, reason);
                    continue;
                }
            }
            if value.is_empty() && empty_is_unset(k) {
                report.skip(item, "it is empty: there is nothing to carry over");
                continue;
            }
            if let Some(reason) = value_problem(k, value) {
                report.skip(item, reason);
                continue;
            }
            let current: Option<(String,)> =
                sqlx::query_as("SELECT value FROM settings WHERE key = $1")
                    .bind(k)
                    .fetch_optional(&mut *c)
                    .await?;
            // An emptied WARP registration (deleted) is none: an imported one takes its place.
            let current = current.filter(|(v,)| !(v.is_empty() && empty_is_unset(k)));
            match current {
                None => {
                    set_setting(c, k, value, self.now).await?;
                    report.imported.settings += 1;
                }
                Some((v,)) if v == *value => report.unchanged.settings += 1,
                Some(_) => report.skip(item, "xfleet already has another value for it; kept"),
            }
        }
        Ok(())
    }

    /// 3x-ui's first account: the xfleet account of that name gets its password (the
    /// bcrypt hash as is), or is created with it.
    pub(super) async fn admin(
        &mut self,
        c: &mut AnyConnection,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        let Some((username, password)) = &self.data.admin else {
            return Ok(());
        };
        let username = username.trim();
        let item = format!("admin account `{username}`");
        if username.is_empty() || password.is_empty() {
            report.skip(item, "it has no user name or no password");
            return Ok(());
        }
        let marker =
            xfleet_common::enrollment::sha256_hex(format!("{username}\n{password}").as_bytes());
        let user: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *c)
            .await?;
        let imported_before: Option<(String,)> =
            sqlx::query_as("SELECT value FROM settings WHERE key = $1")
                .bind(ADMIN_MARKER)
                .fetch_optional(&mut *c)
                .await?;
        if user.is_some() && imported_before.is_some_and(|(m,)| m == marker) {
            report.unchanged.admin_accounts += 1;
            return Ok(());
        }
        let hash = if is_bcrypt(password) {
            password.clone()
        } else {
            // Databases from before 3x-ui's `UserPasswordHash` seeder keep it in plain text.
            report.notes.push(format!(
                "{item}: 3x-ui stored this password in plain text; xfleet stores it hashed"
            ));
            crate::front::auth::hash_password(password)
        };
        match user {
            Some((id,)) => {
                sqlx::query(
                    "UPDATE users SET password_hash = $1, updated_at = $2, \
                     password_change_required = 0 WHERE id = $3",
                )
                .bind(&hash)
                .bind(self.now)
                .bind(id)
                .execute(&mut *c)
                .await?;
                report.notes.push(format!(
                    "the xfleet account `{username}` now has its 3x-ui password"
                ));
            }
            None => {
                sqlx::query(
                    "INSERT INTO users (username, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3)",
                )
                .bind(username)
                .bind(&hash)
                .bind(self.now)
                .execute(&mut *c)
                .await?;
                report.notes.push(format!(
                    "created the xfleet account `{username}` with its 3x-ui password"
                ));
            }
        }
        set_setting(c, ADMIN_MARKER, &marker, self.now).await?;
        report.imported.admin_accounts += 1;
        report.items.push(item);
        Ok(())
    }
}

pub(super) async fn set_setting(
    c: &mut AnyConnection,
    key: &str,
    value: &str,
    now: i64,
) -> Result<(), ImportError> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// A bcrypt hash in modular crypt format (`$2a$10$` + 53 characters).
fn is_bcrypt(s: &str) -> bool {
    s.len() == 60
        && ["$2a$", "$2b$", "$2y$", "$2x$"]
            .iter()
            .any(|p| s.starts_with(p))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bcrypt_hashes_are_recognised() {
        let h = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        assert!(super::is_bcrypt(h));
        assert!(!super::is_bcrypt("admin"));
        assert!(!super::is_bcrypt("$argon2id$v=19$m=19456,t=2,p=1$abc$def"));
    }
}
