//! Administration of an external Postgres: one database per trial, and the
//! sweep of databases whose racebench process is gone.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;

use super::error::ServiceError;
use super::naming::{owner_of, TrialNames, DB_PREFIX};

/// What a trial gets: credentials and database, as seen from its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresGrant {
    pub database: String,
    pub user: String,
    pub password: String,
}

/// An administrative connection pool to one Postgres server.
#[derive(Debug, Clone)]
pub struct PostgresAdmin {
    pool: PgPool,
    /// Managed server: each trial gets a role of its own that owns its
    /// database; elsewhere trials get the admin credentials.
    per_trial_roles: bool,
    admin_user: String,
    admin_password: String,
    server_version: i32,
}

impl PostgresAdmin {
    /// Connects (lazily) to the maintenance database named by `url`.
    pub fn new(url: &str, per_trial_roles: bool) -> Result<PostgresAdmin, ServiceError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| ServiceError::postgres(format!("parse the url {}", redact(url)), e))?;
        let admin_user = options.get_username().to_string();
        let admin_password = super::config::ServiceUrl::parse(url)
            .ok()
            .and_then(|u| u.password)
            .unwrap_or_default();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(Some(Duration::from_secs(60)))
            .connect_lazy_with(options);
        Ok(PostgresAdmin {
            pool,
            per_trial_roles,
            admin_user,
            admin_password,
            server_version: 0,
        })
    }

    /// Readiness probe: `SELECT 1`.
    pub async fn ping(&self) -> Result<(), String> {
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        if one == 1 {
            Ok(())
        } else {
            Err(format!("SELECT 1 returned {one}"))
        }
    }

    /// Reads the server version (for `DROP DATABASE ... WITH (FORCE)`).
    pub async fn prepare(&mut self) -> Result<(), ServiceError> {
        let version: String = sqlx::query_scalar("SHOW server_version_num")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| ServiceError::postgres("read the server version", e))?;
        self.server_version = version.trim().parse().unwrap_or(0);
        Ok(())
    }

    /// Creates the trial's database (and, with `per_trial_roles`, a role owning it).
    pub async fn create_trial(
        &self,
        names: &TrialNames,
        comment: &str,
    ) -> Result<PostgresGrant, ServiceError> {
        let db = &names.database;
        let what = format!("create the trial database {db}");
        let grant = if self.per_trial_roles {
            let password = password_for(names);
            self.exec(&format!(
                "CREATE ROLE \"{db}\" LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 200"
            ))
            .await
            .map_err(|e| ServiceError::postgres(format!("create the trial role {db}"), e))?;
            PostgresGrant {
                database: db.clone(),
                user: db.clone(),
                password,
            }
        } else {
            PostgresGrant {
                database: db.clone(),
                user: self.admin_user.clone(),
                password: self.admin_password.clone(),
            }
        };
        let owner = if self.per_trial_roles {
            format!(" OWNER \"{db}\"")
        } else {
            String::new()
        };
        let result = async {
            self.exec(&format!("CREATE DATABASE \"{db}\"{owner}"))
                .await?;
            // One round trip: access rules and a note on who made it.
            let grant_role = if self.per_trial_roles {
                format!("GRANT CONNECT, TEMPORARY ON DATABASE \"{db}\" TO \"{db}\";")
            } else {
                String::new()
            };
            let comment = comment.replace('\'', "''");
            self.exec(&format!(
                "REVOKE CONNECT, TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC; {grant_role} \
                 COMMENT ON DATABASE \"{db}\" IS '{comment}'"
            ))
            .await
        }
        .await;
        if let Err(e) = result {
            let _ = self.drop_trial(db).await;
            return Err(ServiceError::postgres(what, e));
        }
        Ok(grant)
    }

    /// Drops a trial database (disconnecting its sessions) and its role.
    pub async fn drop_trial(&self, database: &str) -> Result<(), ServiceError> {
        let force = if self.server_version >= 130000 {
            " WITH (FORCE)"
        } else {
            ""
        };
        self.exec(&format!("DROP DATABASE IF EXISTS \"{database}\"{force}"))
            .await
            .map_err(|e| {
                ServiceError::postgres(format!("drop the trial database {database}"), e)
            })?;
        if self.per_trial_roles {
            self.exec(&format!("DROP ROLE IF EXISTS \"{database}\""))
                .await
                .map_err(|e| {
                    ServiceError::postgres(format!("drop the trial role {database}"), e)
                })?;
        }
        Ok(())
    }

    /// Names of the trial databases and roles present.
    pub async fn trial_objects(&self) -> Result<Vec<String>, ServiceError> {
        let rows = sqlx::query(
            "SELECT datname AS name FROM pg_database WHERE starts_with(datname, $1) \
             UNION SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)",
        )
        .bind(DB_PREFIX)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| ServiceError::postgres("list trial databases", e))?;
        let mut names: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("name").ok())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Drops trial databases and roles whose owning process is gone; returns their names.
    pub async fn sweep(&self) -> Result<Vec<String>, ServiceError> {
        let mut swept = Vec::new();
        for name in self.trial_objects().await? {
            if owner_of(&name).is_some_and(|o| o.is_dead()) {
                self.drop_trial(&name).await?;
                swept.push(name);
            }
        }
        Ok(swept)
    }

    /// Runs DDL. Audited: every statement is built from racebench's own names
    /// (`rb_` plus hex digits and underscores), hex passwords and an escaped
    /// comment, never from user input.
    async fn exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A password for the trial role, derived from its (unguessable) token.
fn password_for(names: &TrialNames) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"racebench-trial-role");
    hasher.update(names.token.as_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_le_bytes(),
    );
    hex::encode(hasher.finalize())[..24].to_string()
}

/// A URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (userinfo, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_messages() {
        assert_eq!(
            redact("postgres://admin:s3cret@db:5432/postgres"),
            "postgres://admin:***@db:5432/postgres"
        );
        assert_eq!(redact("postgres://db/postgres"), "postgres://db/postgres");
    }
}
