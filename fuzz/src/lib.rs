//! The untrusted-input readers of pullrecon, compiled from the main crate's own source files (no
//! copies): the Task reader with request normalisation, and the log line reader.

#![allow(dead_code)]

#[path = "../../src/fhir/mod.rs"]
pub mod fhir;
#[path = "../../src/secret.rs"]
pub mod secret;
#[path = "../../src/time.rs"]
pub mod time;
#[path = "../../src/ingest/event.rs"]
pub mod event;
