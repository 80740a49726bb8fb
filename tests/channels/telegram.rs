//! Telegram: end-to-end tests.
