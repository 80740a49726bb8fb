//! Shared test support: skills built from source once per run, one shared
//! host, a real HTTP server on 127.0.0.1, and small call helpers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod agent;
pub mod browser;
pub mod discord;
pub mod dns;
pub mod model;
pub mod server;
pub mod shapes;
pub mod slack;
pub mod telegram;

use chitin::capabilities::Grants;
use chitin::capabilities::fs::{Access, FsGrant};
use chitin::capabilities::net::rules::NetRule;
use chitin::{CallOutcome, HostConfig, LoadedSkill, NoSecrets, SecretSource, SkillHost};
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};

#[allow(unused_imports)]
pub use server::{Request, TestServer};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Build every Rust skill for wasm32-wasip2 (once per test binary; a no-op
/// when they are up to date).
pub fn build_skills() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(root())
            .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
            .args(["-p", "skill-files", "-p", "skill-web-fetch", "-p", "skill-github", "-p", "skill-hostile"])
            .args(["-p", "skill-web-search", "-p", "skill-weather", "-p", "skill-feeds"])
            .args(["-p", "skill-calendar", "-p", "skill-home-assistant"])
            .status()
            .expect("running cargo to build the skills");
        assert!(status.success(), "building the skills failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)");
    });
}

/// Where scripts/build-interpreters puts the interpreter components
/// (built once per test binary; quick when up to date).
pub fn interpreters_dir() -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let out = std::process::Command::new(root().join("scripts/build-interpreters"))
            .output()
            .expect("running scripts/build-interpreters");
        assert!(
            out.status.success(),
            "scripts/build-interpreters: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    target_dir().join("interpreters")
}

/// The compiled component of a first-party skill, e.g. `hostile`.
pub fn component(name: &str) -> PathBuf {
    build_skills();
    target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("skill_{}.wasm", name.replace('-', "_")))
}

/// A first-party skill directory (with skill.toml).
pub fn skill_dir(name: &str) -> PathBuf {
    build_skills();
    root().join("skills").join(name)
}

/// One host per test binary, caching compiled components in a temp dir.
pub fn host() -> &'static SkillHost {
    static HOST: OnceLock<(SkillHost, tempfile::TempDir)> = OnceLock::new();
    &HOST
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let host = SkillHost::new(HostConfig {
                cache_dir: Some(dir.path().to_path_buf()),
                ..HostConfig::default()
            })
            .unwrap();
            (host, dir)
        })
        .0
}

/// Load a first-party skill by name (from its directory, with manifest).
pub fn load(name: &str) -> LoadedSkill {
    host().load(&skill_dir(name)).unwrap()
}

/// Load the hostile test skill (a bare component: no manifest).
pub fn hostile() -> LoadedSkill {
    host().load(&component("hostile")).unwrap()
}

/// Call a tool with JSON input and no secrets.
pub async fn call(
    skill: &LoadedSkill,
    grants: &Grants,
    tool: &str,
    input: serde_json::Value,
) -> CallOutcome {
    host()
        .call(skill, grants, &NoSecrets, tool, &input.to_string())
        .await
}

/// Call a tool with secrets.
pub async fn call_with(
    skill: &LoadedSkill,
    grants: &Grants,
    secrets: &dyn SecretSource,
    tool: &str,
    input: serde_json::Value,
) -> CallOutcome {
    host()
        .call(skill, grants, secrets, tool, &input.to_string())
        .await
}

/// Grants with one directory.
pub fn dir_grant(host: &Path, guest: &str, access: Access) -> Grants {
    Grants {
        fs: vec![FsGrant::new(host, guest, access).unwrap()],
        ..Grants::default()
    }
}

/// Grants with some hosts.
pub fn net_grant(rules: &[&str]) -> Grants {
    Grants {
        net: rules.iter().map(|r| NetRule::parse(r).unwrap()).collect(),
        ..Grants::default()
    }
}

/// The output of a successful call (panics with the outcome otherwise).
pub fn ok(outcome: &CallOutcome) -> &str {
    match &outcome.result {
        Ok(s) => s,
        Err(e) => panic!("expected success, got {e}\naudit: {:#?}", outcome.audit),
    }
}

/// Assert the host still runs calls normally (after a hostile one).
pub async fn assert_host_alive() {
    let skill = hostile();
    let outcome = call(
        &skill,
        &Grants::default(),
        "output",
        serde_json::json!({"n": 3}),
    )
    .await;
    assert_eq!(
        ok(&outcome),
        "AAA",
        "host should still work after a hostile call"
    );
}

/// Run `cmd` (a `chitin` command, set up by the caller) with `stdin` piped
/// in; its exit code, stdout and stderr.
pub fn run_piped(cmd: &mut std::process::Command, stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .env_remove("CHITIN_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}
