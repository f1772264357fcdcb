//! Postgres in a pod: the role `app` owning the database `app`, with a
//! password made for this pod; the superuser logs in only over the service
//! container's own socket (runner/images/postgres).

use racebench_model::ServiceKind;

use super::secret::secret;
use super::service::{shell, Blueprint};

pub const USER: &str = "app";
pub const DATABASE: &str = "app";

/// Logs in as the trial will, over TCP with the password: ready means the
/// password is set, not just that the server listens.
const PROBE: &str = r#"
until psql -h 127.0.0.1 -U "$1" -d "$2" -Atqc 'select 1' >/dev/null 2>&1; do sleep 0.01; done
"#;

pub(super) fn blueprint() -> Blueprint {
    let password = secret();
    let host = ServiceKind::Postgres.as_str();
    Blueprint {
        kind: ServiceKind::Postgres,
        // In the convention of the official image, so an override works too.
        container_env: vec![
            ("POSTGRES_USER".into(), USER.into()),
            ("POSTGRES_PASSWORD".into(), password.clone()),
            ("POSTGRES_DB".into(), DATABASE.into()),
            ("PGPASSWORD".into(), password.clone()),
        ],
        trial_env: vec![
            (
                "DATABASE_URL".into(),
                format!("postgres://{USER}:{password}@{host}:5432/{DATABASE}"),
            ),
            ("PGHOST".into(), host.into()),
            ("PGPORT".into(), "5432".into()),
            ("PGUSER".into(), USER.into()),
            ("PGPASSWORD".into(), password),
            ("PGDATABASE".into(), DATABASE.into()),
            // The server speaks no TLS; lib/pq and libpq would ask for it.
            ("PGSSLMODE".into(), "disable".into()),
        ],
        probe: shell(PROBE, [USER.to_string(), DATABASE.to_string()]),
    }
}
