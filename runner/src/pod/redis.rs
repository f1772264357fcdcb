//! Redis in a pod: the user `default` with a password made for this pod
//! (runner/images/redis).

use racebench_model::ServiceKind;

use super::secret::secret;
use super::service::{shell, Blueprint};

const PROBE: &str = r#"
until [ "$(redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping 2>/dev/null)" = PONG ]; do sleep 0.01; done
"#;

pub(super) fn blueprint() -> Blueprint {
    let password = secret();
    let host = ServiceKind::Redis.as_str();
    Blueprint {
        kind: ServiceKind::Redis,
        container_env: vec![("REDIS_PASSWORD".into(), password.clone())],
        trial_env: vec![
            (
                "REDIS_URL".into(),
                format!("redis://default:{password}@{host}:6379/0"),
            ),
            ("REDIS_PASSWORD".into(), password),
        ],
        probe: shell(PROBE, []),
    }
}
