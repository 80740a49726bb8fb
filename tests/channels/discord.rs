//! Discord: end-to-end tests.
