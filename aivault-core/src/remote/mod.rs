//! The wire protocol between `aivault serve` and its callers (the CLI's thin client, and the
//! bindings' remote form): one request per connection over a Unix socket, in frames.
//!
//! Every frame is a 4-byte big-endian payload length, a 1-byte kind and the payload
//! ([`frame`]). The caller sends a `H` head (JSON [`wire::RequestHead`]: version, token, the
//! call), the request body as `B` chunks, then `E`. The server answers with a `H` head (JSON
//! [`wire::ResponseHead`]: the upstream status), the rendered output as `B` chunks (exactly
//! the bytes the CLI would print), then a `T` trailer (JSON [`wire::Trailer`]: nothing, or the
//! error that ended the call, with its stable kind). A call refused before it starts gets only
//! the trailer. The server caps every size and every wait; a caller never learns more than
//! the direct CLI would print.

pub mod client;
pub mod frame;
pub mod wire;
