//! A bounded concurrent-load driver for the daemon's socket: `connections` clients at once,
//! each sending `per_connection` requests, every answer (or its absence) recorded with how long
//! it took. Used by the fault tests (200 signatures from many connections) and meant for the
//! bench binary too, so it asserts nothing: callers judge the outcomes.
//!
//! Each connection is a thread with its own Unix socket to the daemon, speaking the daemon's
//! framing (a 4-byte native-endian length, then JSON). All connections start together (a
//! barrier), send all their requests at once (pipelined, as a browser tab's many calls are),
//! then read the answers in whatever order the daemon sends them. Every read is bounded by
//! `timeout`: a request without an answer by then is recorded as [`Reply::NoAnswer`], never a
//! hang.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What became of one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The daemon answered with a `result`.
    Ok(Value),
    /// The daemon answered with an `error`: its code, message and the whole response.
    Error {
        /// The stable code, e.g. `CARD_REMOVED`.
        code: String,
        /// The message for a person.
        message: String,
        /// The whole response.
        response: Value,
    },
    /// No answer: the connection failed or closed, or `timeout` passed. Says which.
    NoAnswer(String),
}

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which connection (0-based) sent it.
    pub connection: usize,
    /// Its position on that connection (0-based).
    pub index: usize,
    /// The request as sent (with its `id`).
    pub request: Value,
    /// The answer.
    pub reply: Reply,
    /// From the request's write to its answer (or to giving up).
    pub elapsed: Duration,
}

impl Outcome {
    /// The `result` when the request succeeded.
    pub fn result(&self) -> Option<&Value> {
        match &self.reply {
            Reply::Ok(v) => Some(v),
            _ => None,
        }
    }
}

/// Runs the load: `connections` × `per_connection` requests, `request(connection, index)`
/// building each one (its `id` is set here, unique per connection). Returns every outcome,
/// ordered by connection then index. Takes at most about `timeout` per connection after the
/// last write, whatever the daemon does.
pub fn run(
    socket: &Path,
    connections: usize,
    per_connection: usize,
    request: impl Fn(usize, usize) -> Value + Send + Sync + 'static,
    timeout: Duration,
) -> Vec<Outcome> {
    let request = Arc::new(request);
    let start = Arc::new(Barrier::new(connections));
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let (socket, request, start) = (socket.to_owned(), request.clone(), start.clone());
            thread::spawn(move || {
                let requests: Vec<Value> = (0..per_connection)
                    .map(|i| {
                        let mut r = request(c, i);
                        r["id"] = Value::from(i as i64 + 1);
                        r
                    })
                    .collect();
                start.wait();
                one_connection(&socket, c, requests, timeout)
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| {
            t.join()
                .unwrap_or_else(|_| panic!("a load connection thread panicked"))
        })
        .collect()
}

fn one_connection(
    socket: &Path,
    connection: usize,
    requests: Vec<Value>,
    timeout: Duration,
) -> Vec<Outcome> {
    let failed = |why: String, requests: Vec<Value>| -> Vec<Outcome> {
        requests
            .into_iter()
            .enumerate()
            .map(|(index, request)| Outcome {
                connection,
                index,
                request,
                reply: Reply::NoAnswer(why.clone()),
                elapsed: Duration::ZERO,
            })
            .collect()
    };
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => return failed(format!("connect: {e}"), requests),
    };
    let mut sent_at = Vec::with_capacity(requests.len());
    for r in &requests {
        let payload = serde_json::to_vec(r).expect("JSON");
        let mut frame = (payload.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(&payload);
        sent_at.push(Instant::now());
        if let Err(e) = stream.write_all(&frame) {
            return failed(format!("write: {e}"), requests);
        }
    }
    let deadline = Instant::now() + timeout;
    let mut answers: HashMap<i64, (Reply, Instant)> = HashMap::new();
    let mut why = String::new();
    while answers.len() < requests.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            why = format!("no answer within {timeout:?}");
            break;
        }
        let _ = stream.set_read_timeout(Some(left));
        match read_frame(&mut stream) {
            Ok(frame) => {
                // Events (there is no subscription here, but be tolerant) carry no id.
                let Some(id) = frame.get("id").and_then(Value::as_i64) else {
                    continue;
                };
                answers.insert(id, (reply_of(frame), Instant::now()));
            }
            Err(e) => {
                why = format!("read: {e}");
                break;
            }
        }
    }
    requests
        .into_iter()
        .enumerate()
        .map(|(index, request)| {
            let id = index as i64 + 1;
            let (reply, at) = answers
                .remove(&id)
                .unwrap_or_else(|| (Reply::NoAnswer(why.clone()), Instant::now()));
            Outcome {
                connection,
                index,
                request,
                reply,
                elapsed: at.saturating_duration_since(sent_at[index]),
            }
        })
        .collect()
}

fn reply_of(frame: Value) -> Reply {
    match frame.get("error") {
        Some(error) => Reply::Error {
            code: error["code"].as_str().unwrap_or_default().to_owned(),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
            response: frame.clone(),
        },
        None => Reply::Ok(frame["result"].clone()),
    }
}

fn read_frame(stream: &mut UnixStream) -> std::io::Result<Value> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let mut payload = vec![0u8; u32::from_ne_bytes(length) as usize];
    stream.read_exact(&mut payload)?;
    serde_json::from_slice(&payload)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Durations summarised: (min, median, 95th percentile, max). `None` for no outcomes.
pub fn percentiles(outcomes: &[Outcome]) -> Option<[Duration; 4]> {
    let mut d: Vec<Duration> = outcomes.iter().map(|o| o.elapsed).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    let at = |p: usize| d[(d.len() - 1) * p / 100];
    Some([d[0], at(50), at(95), d[d.len() - 1]])
}
