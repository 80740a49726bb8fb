//! Slack: end-to-end tests.
