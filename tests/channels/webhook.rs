//! Webhook: end-to-end tests.
