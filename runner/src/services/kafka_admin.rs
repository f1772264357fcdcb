//! Kafka administration from the host: create, list and delete a trial's
//! topics and consumer groups. A small client of the Kafka wire protocol
//! (fixed, non-flexible request versions that brokers from Kafka 1.0 to 4.x
//! and Nisshi accept), because the managed broker advertises `kafka:9092`, a
//! name only containers resolve; here every advertised address of the managed
//! broker is routed to its published port on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::ServiceError;

const API_METADATA: i16 = 3;
const API_FIND_COORDINATOR: i16 = 10;
const API_LIST_GROUPS: i16 = 16;
const API_VERSIONS: i16 = 18;
const API_CREATE_TOPICS: i16 = 19;
const API_DELETE_TOPICS: i16 = 20;
const API_DELETE_GROUPS: i16 = 42;

/// The request version racebench speaks for each API.
const VERSIONS: [(i16, i16, &str); 6] = [
    (API_METADATA, 4, "Metadata"),
    (API_FIND_COORDINATOR, 1, "FindCoordinator"),
    (API_LIST_GROUPS, 1, "ListGroups"),
    (API_CREATE_TOPICS, 2, "CreateTopics"),
    (API_DELETE_TOPICS, 1, "DeleteTopics"),
    (API_DELETE_GROUPS, 1, "DeleteGroups"),
];

const TOPIC_ALREADY_EXISTS: i16 = 36;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const GROUP_ID_NOT_FOUND: i16 = 69;

/// Where the admin client sends requests.
#[derive(Debug, Clone)]
pub struct KafkaAdmin {
    bootstrap: Vec<String>,
    /// Managed single broker: every advertised address is `bootstrap[0]`.
    single_broker: bool,
    timeout: Duration,
}

/// A broker's answer about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: usize,
}

impl KafkaAdmin {
    /// An admin client for a broker racebench manages, published at `address`.
    pub fn managed(address: String) -> KafkaAdmin {
        KafkaAdmin {
            bootstrap: vec![address],
            single_broker: true,
            timeout: Duration::from_secs(15),
        }
    }

    /// An admin client for an external cluster whose advertised addresses
    /// resolve from here.
    pub fn external(bootstrap: &str) -> KafkaAdmin {
        KafkaAdmin {
            bootstrap: bootstrap
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            single_broker: false,
            timeout: Duration::from_secs(15),
        }
    }

    /// Creates the topics (name, partitions) with replication factor 1. A
    /// topic that exists already is an error unless `exist_ok`.
    pub async fn create_topics(
        &self,
        topics: &[(String, i32)],
        exist_ok: bool,
    ) -> Result<(), ServiceError> {
        if topics.is_empty() {
            return Ok(());
        }
        let what = "create topics";
        let mut conn = self
            .controller()
            .await
            .map_err(|e| ServiceError::kafka(what, e))?;
        let mut w = Writer::default();
        w.array(topics.len());
        for (name, partitions) in topics {
            w.string(name);
            w.i32(*partitions);
            w.i16(1);
            w.array(0); // assignments
            w.array(0); // configs
        }
        w.i32(self.timeout.as_millis() as i32);
        w.bool(false);
        let body = conn
            .call(API_CREATE_TOPICS, 2, w.0)
            .await
            .map_err(|e| ServiceError::kafka(what, e))?;
        let mut r = Reader::new(&body);
        let parse = |r: &mut Reader| -> Result<Vec<(String, i16, Option<String>)>, String> {
            r.i32()?; // throttle
            let n = r.array()?;
            (0..n)
                .map(|_| Ok((r.string()?, r.i16()?, r.nullable_string()?)))
                .collect()
        };
        let results = parse(&mut r).map_err(|e| ServiceError::kafka(what, e))?;
        for (name, code, message) in results {
            if code != 0 && !(exist_ok && code == TOPIC_ALREADY_EXISTS) {
                return Err(ServiceError::kafka(
                    format!("create topic {name}"),
                    format!(
                        "{} ({})",
                        message.unwrap_or_else(|| error_name(code).to_string()),
                        code
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How many brokers a Metadata request (asking for no topic) lists.
    /// For the managed broker this is its readiness probe: one connection to
    /// the published port, where librdkafka would drop the bootstrap
    /// connection for the advertised `kafka:9092`, which the host cannot
    /// resolve.
    pub async fn broker_count(&self, timeout: Duration) -> Result<usize, String> {
        let probe = KafkaAdmin {
            timeout,
            ..self.clone()
        };
        let meta = probe.metadata(Some(&[])).await?;
        if meta.brokers.is_empty() {
            return Err("the metadata lists no broker".into());
        }
        Ok(meta.brokers.len())
    }

    /// Every topic whose name starts with `prefix`.
    pub async fn topics_with_prefix(&self, prefix: &str) -> Result<Vec<TopicInfo>, ServiceError> {
        let meta = self
            .metadata(None)
            .await
            .map_err(|e| ServiceError::kafka("list topics", e))?;
        Ok(meta
            .topics
            .into_iter()
            .filter(|t| t.name.starts_with(prefix))
            .collect())
    }

    /// Deletes topics; unknown ones are fine.
    pub async fn delete_topics(&self, names: &[String]) -> Result<(), ServiceError> {
        if names.is_empty() {
            return Ok(());
        }
        let what = "delete topics";
        let mut conn = self
            .controller()
            .await
            .map_err(|e| ServiceError::kafka(what, e))?;
        let timeout = self.timeout.as_millis() as i32;
        let request = DeleteByName {
            api: API_DELETE_TOPICS,
            timeout_ms: Some(timeout),
            already_gone: UNKNOWN_TOPIC_OR_PARTITION,
            noun: "topic",
            what,
        };
        request.send(&mut conn, names).await
    }

    /// Consumer groups whose id starts with `prefix`; `None` when the broker
    /// cannot list groups.
    pub async fn groups_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<Vec<String>>, ServiceError> {
        let what = "list consumer groups";
        let meta = self
            .metadata(Some(&[]))
            .await
            .map_err(|e| ServiceError::kafka(what, e))?;
        let mut groups = BTreeSet::new();
        for node in self.node_ids(&meta) {
            let mut conn = self
                .connect_node(&meta, node)
                .await
                .map_err(|e| ServiceError::kafka(what, e))?;
            if !conn.supports(API_LIST_GROUPS) {
                return Ok(None);
            }
            let body = conn
                .call(API_LIST_GROUPS, 1, Vec::new())
                .await
                .map_err(|e| ServiceError::kafka(what, e))?;
            let mut r = Reader::new(&body);
            let parse = |r: &mut Reader| -> Result<(i16, Vec<String>), String> {
                r.i32()?;
                let code = r.i16()?;
                let n = r.array()?;
                let groups = (0..n)
                    .map(|_| {
                        let id = r.string()?;
                        r.string()?;
                        Ok(id)
                    })
                    .collect::<Result<_, String>>()?;
                Ok((code, groups))
            };
            let (code, found) = parse(&mut r).map_err(|e| ServiceError::kafka(what, e))?;
            if code != 0 {
                return Err(ServiceError::kafka(
                    what,
                    format!("{} ({code})", error_name(code)),
                ));
            }
            groups.extend(found.into_iter().filter(|g| g.starts_with(prefix)));
        }
        Ok(Some(groups.into_iter().collect()))
    }

    /// Deletes consumer groups (each at its coordinator); returns false when
    /// the broker cannot delete groups. Unknown groups are fine.
    pub async fn delete_groups(&self, groups: &[String]) -> Result<bool, ServiceError> {
        if groups.is_empty() {
            return Ok(true);
        }
        let what = "delete consumer groups";
        let meta = self
            .metadata(Some(&[]))
            .await
            .map_err(|e| ServiceError::kafka(what, e))?;
        let mut by_coordinator: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for group in groups {
            let node = if self.single_broker {
                meta.controller
            } else {
                self.coordinator(&meta, group)
                    .await
                    .map_err(|e| ServiceError::kafka(what, e))?
            };
            by_coordinator.entry(node).or_default().push(group.clone());
        }
        for (node, groups) in by_coordinator {
            let mut conn = self
                .connect_node(&meta, node)
                .await
                .map_err(|e| ServiceError::kafka(what, e))?;
            if !conn.supports(API_DELETE_GROUPS) {
                return Ok(false);
            }
            let request = DeleteByName {
                api: API_DELETE_GROUPS,
                timeout_ms: None,
                already_gone: GROUP_ID_NOT_FOUND,
                noun: "consumer group",
                what,
            };
            request.send(&mut conn, &groups).await?;
        }
        Ok(true)
    }

    async fn coordinator(&self, meta: &Metadata, group: &str) -> Result<i32, String> {
        let mut conn = self.connect_node(meta, meta.controller).await?;
        let mut w = Writer::default();
        w.string(group);
        w.i8(0);
        let body = conn.call(API_FIND_COORDINATOR, 1, w.0).await?;
        let mut r = Reader::new(&body);
        r.i32()?;
        let code = r.i16()?;
        r.nullable_string()?;
        let node = r.i32()?;
        if code != 0 {
            return Err(format!(
                "finding the coordinator of {group}: {} ({code})",
                error_name(code)
            ));
        }
        Ok(node)
    }

    fn node_ids(&self, meta: &Metadata) -> Vec<i32> {
        if self.single_broker {
            vec![meta.controller]
        } else {
            meta.brokers.keys().copied().collect()
        }
    }

    /// Metadata about `topics` (`None`: all topics; `Some(&[])`: none, just brokers).
    async fn metadata(&self, topics: Option<&[String]>) -> Result<Metadata, String> {
        let mut last = String::from("no bootstrap address");
        for address in &self.bootstrap {
            match self.metadata_from(address, topics).await {
                Ok(m) => return Ok(m),
                Err(e) => last = format!("{address}: {e}"),
            }
        }
        Err(last)
    }

    async fn metadata_from(
        &self,
        address: &str,
        topics: Option<&[String]>,
    ) -> Result<Metadata, String> {
        let mut conn = Conn::open(address, self.timeout).await?;
        let mut w = Writer::default();
        match topics {
            None => w.i32(-1),
            Some(topics) => {
                w.array(topics.len());
                for t in topics {
                    w.string(t);
                }
            }
        }
        w.bool(false); // allow_auto_topic_creation
        let body = conn.call(API_METADATA, 4, w.0).await?;
        parse_metadata(&body)
    }

    /// A connection to the controller (for the managed single broker, straight
    /// to it without asking for metadata first).
    async fn controller(&self) -> Result<Conn, String> {
        if self.single_broker {
            return Conn::open(&self.bootstrap[0], self.timeout).await;
        }
        let meta = self.metadata(Some(&[])).await?;
        self.connect_node(&meta, meta.controller).await
    }

    async fn connect_node(&self, meta: &Metadata, node: i32) -> Result<Conn, String> {
        let address = if self.single_broker {
            self.bootstrap[0].clone()
        } else {
            meta.brokers.get(&node).cloned().ok_or_else(|| {
                format!("the metadata names broker {node} but lists no address for it")
            })?
        };
        Conn::open(&address, self.timeout).await
    }
}

/// The part of a Metadata response racebench uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Metadata {
    brokers: BTreeMap<i32, String>,
    controller: i32,
    topics: Vec<TopicInfo>,
}

fn parse_metadata(body: &[u8]) -> Result<Metadata, String> {
    let mut r = Reader::new(body);
    r.i32()?; // throttle
    let mut brokers = BTreeMap::new();
    for _ in 0..r.array()? {
        let id = r.i32()?;
        let host = r.string()?;
        let port = r.i32()?;
        r.nullable_string()?; // rack
        brokers.insert(id, format!("{host}:{port}"));
    }
    r.nullable_string()?; // cluster id
    let mut controller = r.i32()?;
    if controller < 0 {
        controller = brokers.keys().next().copied().unwrap_or(0);
    }
    let mut topics = Vec::new();
    for _ in 0..r.array()? {
        let code = r.i16()?;
        let name = r.string()?;
        r.bool()?; // internal
        let partitions = r.array()?;
        for _ in 0..partitions {
            r.i16()?;
            r.i32()?;
            r.i32()?;
            let replicas = r.array()?;
            for _ in 0..replicas {
                r.i32()?;
            }
            let isr = r.array()?;
            for _ in 0..isr {
                r.i32()?;
            }
        }
        if code == 0 {
            topics.push(TopicInfo { name, partitions });
        }
    }
    Ok(Metadata {
        brokers,
        controller,
        topics,
    })
}

/// A DeleteTopics or DeleteGroups request (v1): a list of names (and, for
/// topics, a timeout); the answer is a per-name error code. A name that is
/// already gone is fine.
struct DeleteByName<'a> {
    api: i16,
    timeout_ms: Option<i32>,
    already_gone: i16,
    noun: &'a str,
    what: &'a str,
}

impl DeleteByName<'_> {
    async fn send(&self, conn: &mut Conn, names: &[String]) -> Result<(), ServiceError> {
        let mut w = Writer::default();
        w.array(names.len());
        for name in names {
            w.string(name);
        }
        if let Some(timeout) = self.timeout_ms {
            w.i32(timeout);
        }
        let body = conn
            .call(self.api, 1, w.0)
            .await
            .map_err(|e| ServiceError::kafka(self.what, e))?;
        let mut r = Reader::new(&body);
        let parse = |r: &mut Reader| -> Result<Vec<(String, i16)>, String> {
            r.i32()?;
            let n = r.array()?;
            (0..n).map(|_| Ok((r.string()?, r.i16()?))).collect()
        };
        for (name, code) in parse(&mut r).map_err(|e| ServiceError::kafka(self.what, e))? {
            if code != 0 && code != self.already_gone {
                return Err(ServiceError::kafka(
                    format!("delete {} {name}", self.noun),
                    format!("{} ({code})", error_name(code)),
                ));
            }
        }
        Ok(())
    }
}

/// One connection to a broker, with the API versions it announced.
struct Conn {
    stream: TcpStream,
    correlation: i32,
    versions: BTreeMap<i16, (i16, i16)>,
    timeout: Duration,
    address: String,
}

impl Conn {
    async fn open(address: &str, timeout: Duration) -> Result<Conn, String> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| format!("no connection to {address} within {} s", timeout.as_secs()))?
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        stream.set_nodelay(true).ok();
        let mut conn = Conn {
            stream,
            correlation: 0,
            versions: BTreeMap::new(),
            timeout,
            address: address.to_string(),
        };
        let body = conn.raw_call(API_VERSIONS, 0, Vec::new()).await?;
        let mut r = Reader::new(&body);
        let code = r.i16()?;
        if code != 0 {
            return Err(format!(
                "the broker at {address} refused ApiVersions v0: {} ({code})",
                error_name(code)
            ));
        }
        for _ in 0..r.array()? {
            let key = r.i16()?;
            let min = r.i16()?;
            let max = r.i16()?;
            conn.versions.insert(key, (min, max));
        }
        Ok(conn)
    }

    fn supports(&self, api: i16) -> bool {
        let wanted = VERSIONS
            .iter()
            .find(|(k, _, _)| *k == api)
            .map(|(_, v, _)| *v)
            .unwrap_or(0);
        self.versions
            .get(&api)
            .is_some_and(|(min, max)| (*min..=*max).contains(&wanted))
    }

    async fn call(&mut self, api: i16, version: i16, body: Vec<u8>) -> Result<Vec<u8>, String> {
        if !self.supports(api) {
            let name = VERSIONS
                .iter()
                .find(|(k, _, _)| *k == api)
                .map(|(_, _, n)| *n)
                .unwrap_or("?");
            let range = match self.versions.get(&api) {
                Some((min, max)) => format!("it supports v{min} to v{max}"),
                None => "it does not support it at all".into(),
            };
            return Err(format!(
                "the broker at {} does not accept {name} v{version}; {range}",
                self.address
            ));
        }
        self.raw_call(api, version, body).await
    }

    async fn raw_call(&mut self, api: i16, version: i16, body: Vec<u8>) -> Result<Vec<u8>, String> {
        self.correlation += 1;
        let correlation = self.correlation;
        let mut w = Writer::default();
        w.i16(api);
        w.i16(version);
        w.i32(correlation);
        w.string("racebench");
        w.0.extend_from_slice(&body);
        let mut frame = (w.0.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&w.0);
        let address = self.address.clone();
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let len = i32::from_be_bytes(len);
            if !(4..=64 * 1024 * 1024).contains(&len) {
                return Err(std::io::Error::other(format!(
                    "implausible response length {len}"
                )));
            }
            let mut response = vec![0u8; len as usize];
            self.stream.read_exact(&mut response).await?;
            Ok(response)
        };
        let response = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                format!(
                    "no answer from {address} within {} s",
                    self.timeout.as_secs()
                )
            })?
            .map_err(|e| format!("talking to {address}: {e}"))?;
        let got = i32::from_be_bytes(response[..4].try_into().expect("4 bytes"));
        if got != correlation {
            return Err(format!(
                "{address} answered request {got}, expected {correlation}"
            ));
        }
        Ok(response[4..].to_vec())
    }
}

/// Big-endian encoder of the protocol's primitive types.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn i8(&mut self, v: i8) {
        self.0.push(v as u8);
    }
    fn bool(&mut self, v: bool) {
        self.0.push(v as u8);
    }
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn string(&mut self, s: &str) {
        self.i16(s.len() as i16);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn array(&mut self, len: usize) {
        self.i32(len as i32);
    }
}

/// Decoder over a response body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| {
            format!(
                "truncated response ({} bytes, wanted {} more at {})",
                self.buf.len(),
                n,
                self.pos
            )
        })?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn bool(&mut self) -> Result<bool, String> {
        Ok(self.take(1)?[0] != 0)
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn nullable_string(&mut self) -> Result<Option<String>, String> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }
    fn string(&mut self) -> Result<String, String> {
        Ok(self.nullable_string()?.unwrap_or_default())
    }
    /// An array length; null arrays count as empty.
    fn array(&mut self) -> Result<usize, String> {
        let n = self.i32()?;
        if n > 1_000_000 {
            return Err(format!("implausible array length {n}"));
        }
        Ok(n.max(0) as usize)
    }
}

/// Names of the error codes racebench may meet.
fn error_name(code: i16) -> &'static str {
    match code {
        3 => "unknown topic or partition",
        7 => "request timed out",
        14 => "coordinator load in progress",
        15 => "coordinator not available",
        16 => "not coordinator",
        29 => "topic authorization failed",
        30 => "group authorization failed",
        35 => "unsupported version",
        36 => "topic already exists",
        37 => "invalid partitions",
        38 => "invalid replication factor",
        41 => "not controller",
        68 => "non-empty group",
        69 => "group id not found",
        _ => "broker error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_v4_response_is_decoded_with_brokers_controller_and_topics() {
        let mut w = Writer::default();
        w.i32(0); // throttle
        w.array(1);
        w.i32(7);
        w.string("kafka");
        w.i32(9092);
        w.i16(-1); // rack
        w.string("cluster"); // cluster id
        w.i32(7); // controller
        w.array(2);
        for (code, name) in [(0i16, "rb-t-a"), (3, "gone")] {
            w.i16(code);
            w.string(name);
            w.bool(false);
            w.array(2);
            for p in 0..2 {
                w.i16(0);
                w.i32(p);
                w.i32(7);
                w.array(1);
                w.i32(7);
                w.array(1);
                w.i32(7);
            }
        }
        let meta = parse_metadata(&w.0).unwrap();
        assert_eq!(meta.controller, 7);
        assert_eq!(meta.brokers[&7], "kafka:9092");
        assert_eq!(
            meta.topics,
            [TopicInfo {
                name: "rb-t-a".into(),
                partitions: 2
            }],
            "topics with an error code are left out"
        );
    }

    #[test]
    fn truncated_responses_are_errors_not_panics() {
        let mut r = Reader::new(&[0, 5, b'a']);
        assert!(r.string().unwrap_err().contains("truncated"));
        assert!(parse_metadata(&[0, 0]).is_err());
    }
}
