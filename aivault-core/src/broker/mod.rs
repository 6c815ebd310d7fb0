//! The broker: invoke a capability with a credential the caller never sees (DESIGN §5).
//!
//! [`Vault::invoke`](crate::Vault::invoke) runs the pipeline in `pipeline.rs`; each step has
//! its own file: request checks (`path`, `headers`, `params`), auth rendering (`auth`, `fields` for
//! JSON secrets of several roles, `oauth2` with `token_state` and `jwt`, `sigv4`, `hmac_sign`, `tls`), the network guard
//! (`netguard`), the HTTP agents
//! (`transport`), response redaction (`redact`) and responses read whole (`buffered`). `request_json` reads the JSON form of a
//! request and `markdown` renders JSON responses, for every wrapper alike.

mod auth;
mod buffered;
pub(crate) mod call_cache;
mod fields;
pub(crate) mod headers;
pub(crate) mod hmac_sign;
pub mod json_tree;
mod jwt;
pub mod markdown;
pub mod netguard;
mod oauth2;
pub(crate) mod params;
pub(crate) mod path;
mod pipeline;
pub(crate) mod redact;
mod request;
mod request_json;
mod response;
pub(crate) mod sigv4;
pub(crate) mod tls;
pub(crate) mod token_state;
pub(crate) mod transport;
pub(crate) mod tunnel;

pub use buffered::{BufferedResponse, DEFAULT_BUFFERED_CAP, Decoded};
pub use json_tree::Json;
pub(crate) use pipeline::Unsealed;
pub use request::{Invocation, MultipartPart, RequestBody};
pub use request_json::FileReferences;
pub use response::{InvokeResponse, Planned, ResponseStream};
