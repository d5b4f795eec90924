//! The end-to-end tests, one binary (one link, tests run two at a time): each file is a module.
//! Tests that check timings take the machine alone (`stackperf_e2e::quiet`); see tests/machine.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
#![allow(clippy::disallowed_methods)] // tests start programs as a user would (core's builder is for the app)

// Tests start in name order: `agent_suite` (the longest) sorts first on purpose.
mod agent_suite;
mod api;
mod api_machines;
mod capture_contract;
mod cli;
mod compose_file;
mod db_copy;
mod edge_crash;
mod edge_fidelity;
mod edge_hostile;
mod edge_security;
mod fuzz_inputs;
mod harness_clis;
mod hostile_inputs;
mod ingest_kill;
mod ingest_live;
mod otlp_cli;
mod runs;
mod sdk_clients;
mod secrets_keychain;
mod sessions;
mod sim_protocols;
mod stack_native;
mod team_run;
mod usage;
