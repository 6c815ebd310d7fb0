//! The conformance suite's shared pieces: the scenario list's model, `${name}` substitution,
//! the expectation checker, the C runner's flattened line format, and the check of a runner's
//! transcript. The protocol itself is described in `tests/README.md`.

pub mod expect;
pub mod flat;
pub mod scenario;
pub mod substitute;
pub mod transcript;

pub use scenario::{Scenario, Step, load};
