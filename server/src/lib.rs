//! logq's server as a library: one [`ServerConfig`] (the `[server]` table of a config file),
//! [`run`] to serve it until a shutdown future completes, and [`start`] for callers that need
//! the bound address first (tests, the benchmark). The `logq serve` binary only overlays its
//! flags and the environment ([`ServeFlags`]) on a configuration and calls [`run`].
#![warn(missing_docs)]

mod config;
mod demo;
mod error;
mod flags;
mod history;
mod retention;
mod server;

pub use config::{DayGrace, ServerConfig, Target};
pub use error::ServerError;
pub use flags::{RetentionFlags, ServeFlags};

pub use server::{run, start};
