//! Shared by the benchmarks: paths, criterion's medians of this run, and the
//! ratio table each bench prints and writes.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Median (ns) of one benchmark from criterion's estimates of this run.
pub fn median(group: &str, name: &str) -> Option<f64> {
    let path = root()
        .join("target/criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// `ns` as µs, ms or s.
pub fn fmt(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// A markdown table of `rows` (group, name, label) with each median as a
/// ratio to `base` (group, name); printed and written to
/// `target/criterion/<file>`. Nothing when the base was not measured.
pub fn ratio_table(base: (&str, &str), base_label: &str, rows: &[(&str, &str, &str)], file: &str) {
    let Some(b) = median(base.0, base.1) else {
        return;
    };
    let mut out = format!("| benchmark | median | ratio to {base_label} |\n|---|---|---|\n");
    for (g, n, label) in rows {
        if let Some(m) = median(g, n) {
            out.push_str(&format!("| {label} | {} | {:.2}× |\n", fmt(m), m / b));
        }
    }
    println!("\n{out}");
    let _ = std::fs::write(root().join("target/criterion").join(file), out);
}
