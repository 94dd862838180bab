//! Accepting connections, with the limits `axum::serve` does not set: a deadline for a
//! request's headers, which is also how long an idle keep-alive connection is kept (hyper
//! starts it again while it waits for the next request), and a cap on open connections.
//! Without them, half-sent requests stay open forever and each holds a file descriptor
//! (slowloris), until the process can open no more.
//!
//! Each connection is served by hyper as `axum::serve` does (HTTP/1 and HTTP/2, with
//! upgrades for web sockets), with the peer's address as `ConnectInfo`.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
};
use tower::ServiceExt;

/// What a connection may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionLimits {
    /// For a request's headers to arrive, and for an idle connection's next request.
    pub(crate) header_read_timeout: Duration,
    /// Open connections (web sockets included); past it, new ones wait in the kernel's
    /// backlog until one closes.
    pub(crate) max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets every connection
/// finish (closing web sockets is the shutdown future's business).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection's task holds a receiver of `stop` (told to finish up) and a clone
    // of `running` (dropped when it ends), as axum::serve does.
    let (stop, stopping) = watch::channel(false);
    let (all_done, running) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was
                    // taken: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(connection(
            tcp,
            peer,
            app.clone(),
            limits,
            permit,
            stopping.clone(),
            running.clone(),
        ));
    }
    drop(running);
    let _ = stop.send(true);
    all_done.closed().await;
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    permit: OwnedSemaphorePermit,
    mut stopping: watch::Receiver<bool>,
    _running: watch::Receiver<()>,
) {
    // Chat frames are small and each should leave at once: with Nagle's algorithm a frame
    // written while the previous one is unacknowledged waits for that ACK, which the
    // receiver may delay by up to 40 ms (docs/benchmarks.md).
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    // hyper's deadline starts once it knows the protocol, which it learns from the first
    // bytes: a connection that sends none would wait forever.
    let mut first = [0u8; 1];
    match tokio::time::timeout(limits.header_read_timeout, tcp.peek(&mut first)).await {
        Ok(Ok(read)) if read > 0 => {}
        _ => return,
    }
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    // The permit goes with the connection's I/O, so that it is held until a web socket made
    // from it closes, not only until the upgrade.
    let io = TokioIo::new(Counted {
        tcp,
        _permit: permit,
    });
    let mut served = std::pin::pin!(builder.serve_connection_with_upgrades(io, service));
    let mut stopped = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::trace!(%error, "connection ended");
                }
                break;
            }
            _ = stopping.wait_for(|stop| *stop), if !stopped => {
                stopped = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A connection counted against the cap for as long as it is open.
struct Counted {
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(context, buffer)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(context, bytes)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(context)
    }
}
