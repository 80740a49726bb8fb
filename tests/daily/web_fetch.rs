//! `web-fetch` tests (placeholder while the skill is written).
