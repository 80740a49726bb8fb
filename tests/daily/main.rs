//! The daily-use first-party skills end to end: each built skill is loaded
//! and called against a fake server on 127.0.0.1 that speaks the real
//! service's wire format (fixtures under tests/fixtures/daily/), with
//! grants, injected secrets and hostile responses.
//!
//! Build the skills first: `scripts/build-skills`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod calendar;
mod feeds;
mod home_assistant;
mod weather;
mod web_fetch;
mod web_search;
