//! Per-sender rate limits.
