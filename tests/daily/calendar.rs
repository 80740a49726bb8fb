//! `calendar` tests (placeholder while the skill is written).
