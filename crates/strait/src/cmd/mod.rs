//! Subcommands of `strait`.

pub mod validate;
