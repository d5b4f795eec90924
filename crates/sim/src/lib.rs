//! The simulated upstream LLM provider.
//!
//! It speaks the wire protocols real clients use (OpenAI chat completions and responses,
//! Anthropic messages, Google generateContent), with latency, token rate, jitter and errors drawn
//! from a per-model [`profile::Profile`], and a ground-truth [`truth::TruthLog`] of what it did.

pub mod profile;
pub mod rng;
mod server;
mod surface;
pub mod truth;

pub use server::{router, serve, SimConfig, SimState};

/// Errors of the simulated provider.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator profiles:\n{0}\nFix the profiles file or run without --profiles to use the built-in ones.")]
    Profiles(String),
    #[error("{0}")]
    Io(String),
    #[error("cannot listen on {addr}: {source}. Pick a free port (or 0 for any) on 127.0.0.1.")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}
