//! The HTTP side of the proxy: a hyper 1 server per accepted connection (HTTP/1.1 with
//! keep-alive, and h2c prior knowledge, detected per connection, or one of them when the
//! connection manager fixes the codec; upgrades enabled for CONNECT), each request handled by
//! [`proxy::handle`] with its route plan, and upstream pools per cluster ([`client`]).
//!
//! HTTP/1 input passes [`h1_guard`] first (Envoy's request-head rules, smuggling included);
//! HTTP/2 gets Envoy's header limits and h2's rapid-reset and CONTINUATION-flood bounds. When
//! the proxy drains, each connection finishes its requests in flight and closes ([`server`]).

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
