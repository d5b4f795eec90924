//! The store's model: the rows it reads and writes and the closed sets they are made of. The
//! modules above the store (ingest, session, run, usage) build and use these types — they import
//! them from here (re-exported where they were), never the other way round, so the store depends
//! on nothing above it and a second backend (PostgreSQL) implements one model.

pub mod hist;
mod machine;
mod request;
mod run;
mod session;
mod stack;
mod usage;

pub use hist::Hist;
pub use machine::*;
pub use request::*;
pub use run::*;
pub use session::*;
pub use stack::*;
pub use usage::*;
