//! What StackPerf's separate processes agree on, in one small crate that every other one depends
//! on (core, edge, sim, CLI) and that depends on none of them:
//! - [`record`]: the edge's spool lines, which the edge writes and ingest reads;
//! - [`Surface`]: the wire protocols (client, edge, simulator, request rows);
//! - [`registry`]: the session-key registry StackPerf writes and the edge and LiteLLM's auth hook
//!   read (its JSON Schema is committed and checked against the hook);
//! - [`Service`]: the programs of the stack and their default ports;
//! - [`wire`]: header names, the edge's paths, key limits;
//! - the file format every process reads ([`yaml`], with [`diag::Problem`]s that say where and
//!   what to do) and the seeded generator runs, statistics and the simulator draw from ([`rng`]).

pub mod diag;
pub mod record;
pub mod registry;
pub mod rng;
mod service;
mod surface;
pub mod wire;
pub mod yaml;

pub use service::Service;
pub use surface::Surface;
