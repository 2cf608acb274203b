//! Per-connection memory guards: the size of the future each accepted connection's task holds
//! (every downstream connection carries one for its whole life) and of the in-flight request
//! future hyper boxes per connection (`proxy::handle`). With 1,000 keep-alive connections each
//! byte here costs a kilobyte of RSS, so the bounds are regression guards: a new large local
//! held across an `.await` on the common path, or a rare path no longer boxed, fails them.
//!
//! Sizes are taken from the future types (`size_of` of what the async fn returns), which is
//! what `size_of_val` of the unpolled future reports, without building sockets or requests.

use std::mem::size_of;

/// The size of the future `f` returns, for a three-argument async fn.
fn output3<A, B, C, F>(_: impl FnOnce(A, B, C) -> F) -> usize {
    size_of::<F>()
}

/// The connection task's future (`accept::serve`) and what it awaits on the HTTP path.
#[test]
fn connection_task_future_is_small() {
    let task = output3(super::accept::serve);
    let http = output3(crate::http::serve);
    println!("accept::serve future: {task} bytes; http::serve future: {http} bytes");
    assert!(task <= TASK_MAX, "accept::serve future is {task} bytes (bound {TASK_MAX})");
    assert!(http <= HTTP_MAX, "http::serve future is {http} bytes (bound {HTTP_MAX})");
}

/// The future hyper boxes per connection for the request in flight.
#[test]
fn request_future_is_small() {
    let handle = output3(crate::http::proxy::handle);
    println!("proxy::handle future: {handle} bytes");
    assert!(handle <= HANDLE_MAX, "proxy::handle future is {handle} bytes (bound {HANDLE_MAX})");
}

// Bounds ~20% above the sizes reached (debug build, rustc 1.95: 1,288 / 1,136 / 1,576 bytes;
// before: 12,704 / 3,328 / 6,800, when TLS, the TCP proxy and both hyper servers were inline
// and forwarding was part of the request future).
const TASK_MAX: usize = 1550;
const HTTP_MAX: usize = 1400;
const HANDLE_MAX: usize = 1900;
