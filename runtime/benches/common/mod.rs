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

/// The `chitin` binary these benches drive.
pub const BIN: &str = env!("CARGO_BIN_EXE_chitin");

/// Run `chitin` in `home`; its stdout (it must succeed).
pub fn chitin(home: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env("CHITIN_HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chitin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pack the skill project `src` and install it in `home` with `/workspace`
/// granted on `ws` (the key must be trusted already).
pub fn pack_and_install(home: &Path, src: &Path, pkg: &Path, ws: &Path) {
    chitin(
        home,
        &[
            "skill",
            "pack",
            src.to_str().unwrap(),
            "-o",
            pkg.to_str().unwrap(),
        ],
    );
    chitin(
        home,
        &[
            "skill",
            "install",
            pkg.to_str().unwrap(),
            "--yes",
            "--dir",
            &format!("/workspace={}", ws.display()),
        ],
    );
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:`) or count (`Threads:`).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Start `chitin daemon` in `home` on a free port; the child and the
/// address it announced.
pub fn spawn_daemon(home: &Path, log: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(BIN)
        .args(["daemon", "--listen", "127.0.0.1:0"])
        .env("CHITIN_HOME", home)
        .env("CHITIN_LOG", log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("chitin daemon listening on http://")
        .trim_end_matches('/')
        .to_string();
    (child, addr)
}
