//! The HTTP side of the proxy: a hyper 1 server per accepted connection (HTTP/1.1 with
//! keep-alive, and h2c prior knowledge, detected per connection, or one of them when the
//! connection manager fixes the codec; upgrades enabled for CONNECT), each request handled by
//! [`proxy::handle`] with its route plan, and upstream pools per cluster ([`client`]).
//!
//! HTTP/1 input passes [`h1_guard`] first (Envoy's request-head rules, smuggling included);
//! HTTP/2 gets Envoy's header limits and h2's rapid-reset and CONTINUATION-flood bounds. When
//! the proxy drains, each connection finishes its requests in flight and closes ([`server`]).

/// `AsyncWrite` for an IO wrapper that changes only what is read: every write goes straight
/// to its `$field` (vectored writes included, so hyper keeps using `writev`).
macro_rules! write_through {
    ($ty:ty, $field:ident $(, $generic:ident)?) => {
        impl<$($generic: tokio::io::AsyncWrite + Unpin)?> tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.$field.is_write_vectored()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_shutdown(cx)
            }
        }
    };
}

pub mod body;
mod chunked;
pub mod client;
mod connect;
pub mod cors;
mod downstream;
mod forward;
pub mod grpc;
pub mod h1_guard;
pub mod h1_head;
pub mod headers;
mod mirror;
mod preface;
pub mod proxy;
mod server;
mod upgrade;
pub mod xff;

pub use server::{serve, serve_tls};
