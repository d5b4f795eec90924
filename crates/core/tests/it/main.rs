//! Core's integration tests, one binary (one link of core): each file is a module.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
#![allow(clippy::disallowed_methods)] // tests start programs as a user would (core's builder is for the app)

mod common;

mod app;
mod capture;
mod capture_concurrency;
mod capture_contract;
mod config_rules;
mod fingerprint;
mod fuzz_configs;
mod honest_stats;
mod machines;
mod otlp;
mod otlp_settings;
mod pg_restart;
mod prune;
mod rollup;
mod rotation;
mod run_leases;
mod stack_state;
mod stack_tax;
mod store;
mod usage;
