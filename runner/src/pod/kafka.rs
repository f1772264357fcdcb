//! The Kafka-protocol broker in a pod: Nisshi advertising `kafka:9092`; the
//! datapoint's topics are created from inside the broker's container, with
//! the broker's own CLI (or Apache Kafka's `kafka-topics.sh` in an override
//! image), which is also the readiness probe: a Metadata request answered.

use racebench_model::{ServiceKind, TopicSpec};

use super::service::{shell, topic_variable, Blueprint};

/// Arguments: `name:partitions` per topic.
const PROBE: &str = r#"
set -u
b=127.0.0.1:9092
if command -v nisshi >/dev/null 2>&1; then
  until nisshi topic list --broker "tcp://$b" >/dev/null 2>&1; do sleep 0.01; done
  for t in "$@"; do
    nisshi topic create "${t%:*}" --partitions "${t##*:}" --broker "tcp://$b" --silent || exit 3
  done
elif command -v kafka-topics.sh >/dev/null 2>&1; then
  until kafka-topics.sh --bootstrap-server "$b" --list >/dev/null 2>&1; do sleep 0.1; done
  for t in "$@"; do
    kafka-topics.sh --bootstrap-server "$b" --create --if-not-exists --topic "${t%:*}" \
      --partitions "${t##*:}" --replication-factor 1 >/dev/null || exit 3
  done
else
  echo "the broker image has neither nisshi nor kafka-topics.sh on PATH" >&2; exit 4
fi
"#;

pub(super) fn blueprint(topics: &[TopicSpec]) -> Blueprint {
    let mut trial_env = vec![
        (
            "KAFKA_BOOTSTRAP_SERVERS".to_string(),
            "kafka:9092".to_string(),
        ),
        // The broker is the pod's own: no prefix is needed, and these stay
        // for datapoints written against shared brokers.
        ("RACEBENCH_TOPIC_PREFIX".into(), String::new()),
        ("RACEBENCH_GROUP_PREFIX".into(), String::new()),
    ];
    for topic in topics {
        trial_env.push((topic_variable(&topic.name), topic.name.clone()));
    }
    Blueprint {
        kind: ServiceKind::Kafka,
        container_env: Vec::new(),
        trial_env,
        probe: shell(
            PROBE,
            topics
                .iter()
                .map(|t| format!("{}:{}", t.name, t.partitions)),
        ),
    }
}
