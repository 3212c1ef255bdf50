//! The sandbox's raw front listener: the URL clients get.
//!
//! It reads each HTTP/1.1 request, applies network-level faults (dropped
//! connections, slow answers), counts requests in flight per business for
//! the parallel limit, records the request, and forwards everything else to
//! the httpmock server that plays the API (`api.rs`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use httpmock::MockServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::api::{self, FAULT_HEADER};
use super::multipart::find;
use super::{Fault, RecordedRequest, Shared};

/// The running server; dropping it stops the thread and everything on it.
pub(crate) struct Running {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the httpmock server and the front listener on their own thread and
/// runtime; returns once both listen.
pub(super) fn start(shared: Arc<Shared>) -> io::Result<(Running, String)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<String>>();
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("ymc-sandbox".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let mock = MockServer::start_async().await;
                let handler_state = Arc::clone(&shared);
                mock.mock_async(move |when, then| {
                    when.any_request();
                    then.respond_with(move |request| api::handle(&handler_state, request));
                })
                .await;
                let listener = match TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let address = match listener.local_addr() {
                    Ok(address) => address,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(format!("http://{address}")));
                let upstream = mock.base_url();
                let http = reqwest::Client::new();
                tokio::select! {
                    _ = shutdown_rx => {}
                    () = accept(listener, shared, upstream, http) => {}
                }
            });
            // Dropping the runtime here cancels every connection task.
        })?;
    let base_url = ready_rx
        .recv()
        .map_err(|_| io::Error::other("the sandbox thread stopped before listening"))??;
    Ok((
        Running {
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        },
        base_url,
    ))
}

async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    upstream: String,
    http: reqwest::Client,
) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let (shared, upstream, http) = (Arc::clone(&shared), upstream.clone(), http.clone());
        tokio::spawn(async move { serve(socket, &shared, &upstream, &http).await });
    }
}

/// One parsed request.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves the requests of one (keep-alive) connection.
async fn serve(mut socket: TcpStream, shared: &Shared, upstream: &str, http: &reqwest::Client) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut socket, &mut buffer).await {
        let fault = shared.state().faults.pop_front().flatten();
        let index = record(shared, &request, fault.clone());
        if fault == Some(Fault::DropConnection) {
            return;
        }
        let (path, _) = request
            .target
            .split_once('?')
            .unwrap_or((&request.target, ""));
        let in_flight = InFlight::enter(shared, api::business_of(path).map(|(id, _)| id));

        let mut delay = shared.config.latency;
        if let Some(Fault::Slow(extra)) = &fault {
            delay += *extra;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let http_fault = match &fault {
            Some(Fault::QuotaExhausted(reset)) => Some(format!("quota:{}", reset.as_millis())),
            Some(Fault::ParallelLimit) => Some("parallel".to_owned()),
            Some(Fault::InternalError) => Some("500".to_owned()),
            Some(Fault::ServiceUnavailable) => Some("503".to_owned()),
            Some(Fault::GarbageBody) => Some("garbage".to_owned()),
            _ if in_flight.over_limit => Some("parallel".to_owned()),
            _ => None,
        };
        let (status, headers, body) = forward(http, upstream, &request, http_fault).await;
        drop(in_flight);

        if let Some(entry) = shared.state().requests.get_mut(index) {
            entry.status = Some(status);
        }
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if write_response(&mut socket, status, &headers, &body)
            .await
            .is_err()
            || close
        {
            return;
        }
    }
}

/// Counts a request in flight for its business while alive.
struct InFlight<'a> {
    shared: &'a Shared,
    business: Option<u64>,
    over_limit: bool,
}

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared, business: Option<u64>) -> Self {
        let over_limit = business.is_some_and(|business| {
            let mut state = shared.state();
            let count = state.in_flight.entry(business).or_default();
            *count += 1;
            shared
                .config
                .parallel_limit
                .is_some_and(|limit| *count > limit)
        });
        Self {
            shared,
            business,
            over_limit,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(business) = self.business
            && let Some(count) = self.shared.state().in_flight.get_mut(&business)
        {
            *count = count.saturating_sub(1);
        }
    }
}

/// Records the request (never the key) and returns its index.
fn record(shared: &Shared, request: &Request, fault: Option<Fault>) -> usize {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let key = shared.config.api_key.as_str();
    let authorized = request.header("api-key") == Some(key)
        || request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            == Some(key);
    let entry = RecordedRequest {
        method: request.method.clone(),
        path: path.to_owned(),
        query: url_query(query),
        body: serde_json::from_slice(&request.body).ok(),
        authorized,
        fault,
        status: None,
    };
    let mut state = shared.state();
    state.requests.push(entry);
    state.requests.len() - 1
}

fn url_query(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://sandbox/?{query}"))
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    request: &Request,
    fault: Option<String>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut outgoing = http.request(method, format!("{upstream}{}", request.target));
    for (name, value) in &request.headers {
        let skip = ["host", "content-length", "connection", FAULT_HEADER];
        if !skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            outgoing = outgoing.header(name, value);
        }
    }
    if let Some(fault) = fault {
        outgoing = outgoing.header(FAULT_HEADER, fault);
    }
    let response = match outgoing
        .body(request.body.clone())
        .timeout(Duration::from_secs(30))
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => {
            return (
                502,
                Vec::new(),
                format!("sandbox upstream failed: {e}").into_bytes(),
            );
        }
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            )
        })
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    (status, headers, body)
}

async fn write_response(
    socket: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    let reason = match status {
        420 => "Method Failure",
        _ => reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown"),
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    socket.write_all(&bytes).await?;
    socket.flush().await
}

/// Reads one request; `None` at the end of the connection or on garbage.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    const MAX_HEAD: usize = 64 * 1024;
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut request_line = lines.next()?.split(' ');
            let method = request_line.next()?.to_owned();
            let target = request_line.next()?.to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Some(Request {
                method,
                target,
                headers,
                body,
            });
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}
