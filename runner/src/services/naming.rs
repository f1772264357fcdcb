//! Names of a trial's resources on external servers (database, role, topic
//! and group prefixes, Redis lease) and who owns them. Every name embeds the owning host and
//! process id, so leftovers of a killed run can be told from live ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

pub use crate::trial::TrialKey;

/// The owner of a resource: a racebench process on some host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// 4 hex digits of the host name's hash.
    pub host: String,
    pub pid: u32,
}

impl Owner {
    /// This process on this host.
    pub fn current() -> Owner {
        Owner {
            host: host_tag(),
            pid: std::process::id(),
        }
    }

    /// Whether the owning process is gone: it ran on this host and no process
    /// has its id. Resources of other hosts are never judged dead.
    pub fn is_dead(&self) -> bool {
        self.host == host_tag() && !crate::labels::process_exists(self.pid)
    }
}

/// The names of one trial's resources, derived from a fresh unique token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialNames {
    /// `<host>_<pid>_<nonce>`: unique per provisioning.
    pub token: String,
    /// Postgres database and role: `rb_<token>`.
    pub database: String,
    /// Topic and consumer group prefix: `rb-<token with dashes>-`.
    pub topic_prefix: String,
}

impl TrialNames {
    /// Fresh names for `key`, owned by this process.
    pub fn fresh(key: &TrialKey) -> TrialNames {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(key.to_string().as_bytes());
        hasher.update(nanos.to_le_bytes());
        hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let nonce = &hex::encode(hasher.finalize())[..8];
        TrialNames::from_parts(&Owner::current(), nonce)
    }

    pub(crate) fn from_parts(owner: &Owner, nonce: &str) -> TrialNames {
        let token = format!("{}_{}_{}", owner.host, owner.pid, nonce);
        TrialNames {
            database: format!("{DB_PREFIX}{token}"),
            topic_prefix: format!("{TOPIC_PREFIX}{}-", token.replace('_', "-")),
            token,
        }
    }

    /// The environment variable naming a declared topic: `KAFKA_TOPIC_<NAME>`.
    pub fn topic_variable(topic: &str) -> String {
        crate::pod::topic_variable(topic)
    }
}

/// Databases and roles of trials start with this.
pub const DB_PREFIX: &str = "rb_";
/// Topics and consumer groups of trials start with this.
pub const TOPIC_PREFIX: &str = "rb-";

/// The owner encoded in a trial database/role name (`rb_<host>_<pid>_<nonce>`)
/// or topic/group name (`rb-<host>-<pid>-<nonce>-...`); `None` for other names.
pub fn owner_of(name: &str) -> Option<Owner> {
    let (rest, sep) = if let Some(rest) = name.strip_prefix(DB_PREFIX) {
        (rest, '_')
    } else if let Some(rest) = name.strip_prefix(TOPIC_PREFIX) {
        (rest, '-')
    } else {
        return None;
    };
    let mut parts = rest.splitn(4, sep);
    let host = parts.next()?;
    let pid = parts.next()?.parse::<u32>().ok()?;
    let nonce = parts.next()?;
    let hex4 = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex4(host, 4) && hex4(nonce, 8)).then(|| Owner {
        host: host.to_string(),
        pid,
    })
}

/// 4 hex digits identifying this host (its name's hash).
pub fn host_tag() -> String {
    let name = crate::labels::host_name();
    hex::encode(Sha256::digest(name.as_bytes()))[..4].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TrialKey {
        TrialKey {
            run_id: "r1".into(),
            datapoint: "dp".into(),
            candidate: "reference".into(),
            trial: 1,
        }
    }

    #[test]
    fn names_carry_their_owner_and_differ_each_time() {
        let a = TrialNames::fresh(&key());
        let b = TrialNames::fresh(&key());
        assert_ne!(a.token, b.token);
        assert!(
            a.database.len() <= 63,
            "postgres identifiers are at most 63 bytes"
        );
        assert_eq!(owner_of(&a.database), Some(Owner::current()));
        assert_eq!(
            owner_of(&format!("{}orders", a.topic_prefix)),
            Some(Owner::current())
        );
        assert_eq!(
            owner_of(&format!("{}group-1", a.topic_prefix)),
            Some(Owner::current())
        );
    }

    #[test]
    fn foreign_names_have_no_owner() {
        for name in [
            "rb_template",
            "postgres",
            "rb-orders",
            "rb_zzzz_12_1a2b3c4d",
            "orders",
            "rb-ab12-x-1a2b3c4d-t",
        ] {
            assert_eq!(owner_of(name), None, "{name}");
        }
    }

    #[test]
    fn a_dead_process_on_this_host_is_dead_and_other_hosts_are_never_judged() {
        assert!(!Owner::current().is_dead());
        let dead = Owner {
            host: host_tag(),
            pid: i32::MAX as u32 - 7,
        };
        assert!(dead.is_dead());
        let elsewhere = Owner {
            host: if host_tag() == "0000" {
                "0001".into()
            } else {
                "0000".into()
            },
            pid: i32::MAX as u32 - 7,
        };
        assert!(!elsewhere.is_dead());
    }

    #[test]
    fn topic_variables_upper_case_and_replace_dashes() {
        assert_eq!(
            TrialNames::topic_variable("inventory-events"),
            "KAFKA_TOPIC_INVENTORY_EVENTS"
        );
        assert_eq!(TrialNames::topic_variable("a.b"), "KAFKA_TOPIC_A_B");
    }
}
