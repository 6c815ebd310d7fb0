//! The Node binding of aivault (npm package `aivault`): a thin napi-rs translation of
//! [`aivault_core::Vault`]. Every call that touches disk, crypto or the network runs on the libuv
//! thread pool ([`call::Call`], an `AsyncTask`) and returns a Promise; the event loop never
//! blocks. Arguments are the core's shared structured requests ([`aivault_core::requests`],
//! camelCase, unknown fields refused), read from JS objects in [`args`]; results are the CLI's
//! JSON; failures are JS `Error`s whose `code` is the stable error kind, built in [`error`].
//! Every method is `#[napi(catch_unwind)]` and the pool-side work runs under `catch_unwind`
//! too, so a panic becomes an `internal` error, never an abort. No function returns a secret
//! value.
#![deny(unsafe_code)]

mod args;
pub mod audit;
pub mod call;
pub mod capabilities;
pub mod credentials;
pub mod error;
pub mod invoke;
pub mod remote;
pub mod secrets;
pub mod vault;
