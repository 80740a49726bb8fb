//! Agent Skills (SKILL.md folders) as Chitin packages, through the CLI as a
//! user runs it: pack and verify, install from a folder, a zip or a URL,
//! the review (what runs sandboxed, what needs the host, warnings, hostile
//! text cleaned), `skill list`, and refusals that leave nothing installed
//! (a tampered package, zip traversal and bombs, symlinks).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod install;
mod run;
