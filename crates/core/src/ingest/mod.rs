//! Ingest: the capture spools (LiteLLM's and the edge's) → one pure normalization per line →
//! rows written (and merged) in the store. `capture` tails and cursors, `normalize` /
//! `normalize_edge` turn lines into rows; the store's `write` upserts them.

pub mod capture;
pub mod normalize;
pub mod normalize_edge;
pub mod rotate;
