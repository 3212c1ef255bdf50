//! The server: hyper's HTTP/1.1 connection handling around one service, on
//! a thread with its own runtime, so that starting and stopping it never
//! depends on the caller's runtime (or on there being one). The same
//! runtime sends the notifications and runs the buyers who write on their
//! own; dropping it stops them too.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::notify::{self, Outbox};
use crate::service;
use crate::state::Shared;
use crate::talk;

/// How long dropping a sandbox waits for its thread to close the listener
/// and the connections. Bounded, since the caller may be on a runtime's
/// thread; past it the thread still ends on its own.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The running server. Dropping it stops the server.
pub(crate) struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    /// Says (by closing) that the thread has dropped its runtime. In a
    /// mutex only so that `Running` is `Sync`; `Drop` has it alone.
    stopped: Mutex<mpsc::Receiver<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // Waiting means a request sent after the drop finds no server, not
        // one about to stop. The runtime itself is dropped on its own
        // thread, never in the caller's async context.
        let stopped = self
            .stopped
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = stopped.recv_timeout(STOP_WAIT);
    }
}

/// Starts the server on 127.0.0.1 (an ephemeral port), with the delivery
/// of the notifications queued in `outbox` and, when configured, the
/// buyers who write on their own; returns once it accepts connections.
pub(crate) fn start(
    shared: Arc<Shared>,
    outbox: Option<Outbox>,
) -> io::Result<(Running, SocketAddr)> {
    // Bound here, so the address is known and a failure is the caller's.
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let (stopped_tx, stopped_rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("ymc-sandbox".into())
        .spawn(move || {
            // One thread is plenty: the work per request is tiny, and
            // latency and slow answers are timers, not blocked threads.
            let runtime = match tokio::runtime::Builder::new_current_thread()
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
                let listener = match TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                if let Some(outbox) = outbox {
                    tokio::spawn(notify::deliver(Arc::clone(&shared), outbox));
                }
                if let Some(every) = shared.config.buyers_write_every {
                    tokio::spawn(talk::buyers_write(Arc::clone(&shared), every));
                }
                tokio::spawn(accept(listener, shared));
                let _ = shutdown_rx.await;
            });
            // Cancels the accept loop, every connection (their sockets
            // close), the notifications not sent yet and the buyers.
            drop(runtime);
            drop(stopped_tx);
        })?;
    ready_rx
        .recv()
        .map_err(|_| io::Error::other("the sandbox thread stopped before listening"))??;
    let running = Running {
        shutdown: Some(shutdown_tx),
        stopped: Mutex::new(stopped_rx),
    };
    Ok((running, address))
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, say: give the system a moment
                // rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Answers are written whole; do not let Nagle hold one back.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| service::handle(Arc::clone(&shared), request));
            // Ends with an error when a fault drops the connection or the
            // client goes away; neither is worth reporting.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
