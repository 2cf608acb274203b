//! The strait CLI (being written).
fn main() {}
