//! The accept loop: the router over hyper's HTTP/1 connections, as `axum::serve` runs it, with
//! what `axum::serve` cannot be told: a header-read timeout, so that a client sending its request
//! line and headers slowly (or not at all: slowloris) cannot hold a connection for ever. A
//! connection whose request head has not arrived within the timeout is closed; so is a kept-alive
//! connection idle that long, since hyper times the wait for the next request's head too. A
//! request's body is bounded by the request timeout (`api::Options::request_timeout`).
//!
//! On shutdown it stops accepting, lets every connection finish the request it is serving
//! (hyper's graceful shutdown of the connection), and returns when all are closed.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use futures::FutureExt;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `app` on `listener` until `shutdown` resolves and every open connection has finished.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Dropping the receiver tells the loop and each connection that the shutdown began.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Each connection holds a receiver; the loop waits until none is left.
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = signal_tx.closed() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
            let mut stopping = pin!(signal_tx.closed().fuse());
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!("connection ended: {e}");
                        }
                        break;
                    }
                    _ = &mut stopping => conn.as_mut().graceful_shutdown(),
                }
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

/// An accept that failed: a connection reset before it was accepted is nothing; anything else
/// (out of file descriptors, say) is logged, and the loop waits a moment before trying again
/// rather than spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
