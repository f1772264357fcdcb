//! Redis administration: a minimal RESP client, and leases of logical
//! database indexes so concurrent trials (of any racebench process) never
//! share one. Leases are keys `racebench:lease:<index>` in database 0, which
//! no trial is given.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::error::ServiceError;
use super::naming::{owner_of, DB_PREFIX};

const LEASE_PREFIX: &str = "racebench:lease:";

/// Deletes a lease only if it still holds the given owner token.
const RELEASE_SCRIPT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// A Redis server racebench administers.
#[derive(Debug, Clone)]
pub struct RedisAdmin {
    address: String,
    auth: Option<(Option<String>, String)>,
}

/// A reply, as RESP2 encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    fn text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

impl RedisAdmin {
    /// `address` is `host:port`; `auth` an optional (user, password).
    pub fn new(address: String, auth: Option<(Option<String>, String)>) -> RedisAdmin {
        RedisAdmin { address, auth }
    }

    /// From a `redis://[user:password@]host:port` URL.
    pub fn from_url(url: &str) -> Result<RedisAdmin, ServiceError> {
        let parsed = super::config::ServiceUrl::parse(url)
            .map_err(|e| ServiceError::redis("parse the url", e))?;
        let auth = parsed.password.clone().map(|pw| (parsed.user.clone(), pw));
        Ok(RedisAdmin::new(
            format!("{}:{}", parsed.host, parsed.port),
            auth,
        ))
    }

    pub async fn connect(&self) -> Result<RedisConn, String> {
        let stream =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&self.address))
                .await
                .map_err(|_| format!("no connection to {} within 5 s", self.address))?
                .map_err(|e| format!("cannot connect to {}: {e}", self.address))?;
        stream.set_nodelay(true).ok();
        let mut conn = RedisConn {
            stream: BufReader::new(stream),
        };
        if let Some((user, password)) = &self.auth {
            let reply = match user {
                Some(user) => conn.command(&["AUTH", user, password]).await?,
                None => conn.command(&["AUTH", password]).await?,
            };
            if let Reply::Error(e) = reply {
                return Err(format!("authentication refused: {e}"));
            }
        }
        Ok(conn)
    }

    /// Readiness probe: PING answers PONG.
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.connect().await?;
        match conn.command(&["PING"]).await? {
            Reply::Status(s) if s == "PONG" => Ok(()),
            other => Err(format!("PING answered {other:?}")),
        }
    }

    /// How many logical databases the server has (16 if it will not say).
    pub async fn database_count(&self) -> Result<u32, ServiceError> {
        let mut conn = self
            .connect()
            .await
            .map_err(|e| ServiceError::redis("connect", e))?;
        let reply = conn
            .command(&["CONFIG", "GET", "databases"])
            .await
            .map_err(|e| ServiceError::redis("read the number of databases", e))?;
        Ok(match reply {
            Reply::Array(Some(items)) => items
                .get(1)
                .and_then(Reply::text)
                .and_then(|t| t.parse().ok())
                .unwrap_or(16),
            _ => 16,
        })
    }

    /// Leases a database index for `token` (starting the search at a place
    /// derived from it), empties it and returns it.
    pub async fn lease(&self, token: &str, databases: u32) -> Result<u32, ServiceError> {
        let what = "lease a database index";
        let mut conn = self
            .connect()
            .await
            .map_err(|e| ServiceError::redis(what, e))?;
        let slots = databases.saturating_sub(1).max(1);
        let start = token
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
            % slots;
        for i in 0..slots {
            let index = 1 + (start + i) % slots;
            let key = format!("{LEASE_PREFIX}{index}");
            let reply = conn
                .command(&["SET", &key, token, "NX"])
                .await
                .map_err(|e| ServiceError::redis(what, e))?;
            match reply {
                Reply::Status(s) if s == "OK" => {
                    conn.flush_index(index)
                        .await
                        .map_err(|e| ServiceError::redis(format!("empty database {index}"), e))?;
                    return Ok(index);
                }
                Reply::Error(e) => return Err(ServiceError::redis(what, e)),
                _ => continue,
            }
        }
        Err(ServiceError::RedisExhausted { count: slots })
    }

    /// Empties the database and gives the lease back.
    pub async fn release(&self, index: u32, token: &str) -> Result<(), ServiceError> {
        let what = format!("release database {index}");
        let mut conn = self
            .connect()
            .await
            .map_err(|e| ServiceError::redis(&what, e))?;
        conn.flush_index(index)
            .await
            .map_err(|e| ServiceError::redis(&what, e))?;
        let key = format!("{LEASE_PREFIX}{index}");
        match conn
            .command(&["EVAL", RELEASE_SCRIPT, "1", &key, token])
            .await
        {
            Ok(Reply::Error(e)) | Err(e) => Err(ServiceError::redis(what, e)),
            Ok(_) => Ok(()),
        }
    }

    /// (index, owner token) of every lease.
    pub async fn leases(&self) -> Result<Vec<(u32, String)>, ServiceError> {
        let what = "list database leases";
        let mut conn = self
            .connect()
            .await
            .map_err(|e| ServiceError::redis(what, e))?;
        conn.command(&["SELECT", "0"])
            .await
            .map_err(|e| ServiceError::redis(what, e))?;
        let keys = match conn.command(&["KEYS", &format!("{LEASE_PREFIX}*")]).await {
            Ok(Reply::Array(Some(keys))) => keys,
            Ok(Reply::Error(e)) | Err(e) => return Err(ServiceError::redis(what, e)),
            Ok(_) => Vec::new(),
        };
        let mut leases = Vec::new();
        for key in keys.iter().filter_map(Reply::text) {
            let Some(index) = key.strip_prefix(LEASE_PREFIX).and_then(|i| i.parse().ok()) else {
                continue;
            };
            if let Ok(reply) = conn.command(&["GET", &key]).await {
                if let Some(token) = reply.text() {
                    leases.push((index, token));
                }
            }
        }
        leases.sort();
        Ok(leases)
    }

    /// Empties and frees the databases leased by processes that are gone.
    pub async fn sweep(&self) -> Result<Vec<u32>, ServiceError> {
        let mut swept = Vec::new();
        for (index, token) in self.leases().await? {
            if owner_of(&format!("{DB_PREFIX}{token}")).is_some_and(|o| o.is_dead()) {
                self.release(index, &token).await?;
                swept.push(index);
            }
        }
        Ok(swept)
    }

    /// Number of keys in a database.
    pub async fn db_size(&self, index: u32) -> Result<i64, ServiceError> {
        let mut conn = self
            .connect()
            .await
            .map_err(|e| ServiceError::redis("connect", e))?;
        conn.command(&["SELECT", &index.to_string()])
            .await
            .map_err(|e| ServiceError::redis("select", e))?;
        match conn.command(&["DBSIZE"]).await {
            Ok(Reply::Integer(n)) => Ok(n),
            Ok(other) => Err(ServiceError::redis("count keys", format!("{other:?}"))),
            Err(e) => Err(ServiceError::redis("count keys", e)),
        }
    }
}

/// One connection.
pub struct RedisConn {
    stream: BufReader<TcpStream>,
}

impl RedisConn {
    /// Sends a command and reads its reply (an error reply is `Ok(Reply::Error)`).
    pub async fn command(&mut self, args: &[&str]) -> Result<Reply, String> {
        let mut frame = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            frame.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            frame.extend_from_slice(arg.as_bytes());
            frame.extend_from_slice(b"\r\n");
        }
        let io = async {
            self.stream
                .get_mut()
                .write_all(&frame)
                .await
                .map_err(|e| e.to_string())?;
            read_reply(&mut self.stream).await
        };
        tokio::time::timeout(Duration::from_secs(10), io)
            .await
            .map_err(|_| format!("no answer to {} within 10 s", args[0]))?
    }

    async fn flush_index(&mut self, index: u32) -> Result<(), String> {
        for cmd in [
            vec!["SELECT".to_string(), index.to_string()],
            vec!["FLUSHDB".into()],
            vec!["SELECT".into(), "0".into()],
        ] {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            if let Reply::Error(e) = self.command(&args).await? {
                return Err(e);
            }
        }
        Ok(())
    }
}

fn read_reply<'a>(
    stream: &'a mut BufReader<TcpStream>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, String>> + Send + 'a>> {
    Box::pin(async move {
        let mut line = String::new();
        let n = stream
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let (kind, rest) = line.split_at(1.min(line.len()));
        let number = || {
            rest.parse::<i64>()
                .map_err(|_| format!("malformed reply line `{line}`"))
        };
        Ok(match kind {
            "+" => Reply::Status(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Integer(number()?),
            "$" => {
                let len = number()?;
                if len < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut buf = vec![0u8; len as usize + 2];
                    stream
                        .read_exact(&mut buf)
                        .await
                        .map_err(|e| e.to_string())?;
                    buf.truncate(len as usize);
                    Reply::Bulk(Some(buf))
                }
            }
            "*" => {
                let len = number()?;
                if len < 0 {
                    Reply::Array(None)
                } else {
                    let mut items = Vec::with_capacity(len as usize);
                    for _ in 0..len {
                        items.push(read_reply(stream).await?);
                    }
                    Reply::Array(Some(items))
                }
            }
            _ => return Err(format!("malformed reply line `{line}`")),
        })
    })
}
