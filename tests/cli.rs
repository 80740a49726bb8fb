//! The `chitin` command as a user runs it: each first-party skill works with
//! a grant and is refused without it, with a message naming the missing
//! capability and the flag that grants it; secrets are never printed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::*;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn chitin(args: &[&str], cache: &Path, stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chitin"));
    cmd.args(args)
        .env("CHITIN_CACHE_DIR", cache)
        .env_remove("CHITIN_SECRETS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into(),
        stderr: String::from_utf8_lossy(&stderr).into(),
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn files_skill_needs_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(ws.join("a.txt"), "from the host").unwrap();
    let dir = s(&skill_dir("files"));

    let r = chitin(
        &[
            "skill",
            "run",
            &dir,
            "read",
            "--input",
            r#"{"path":"a.txt"}"#,
        ],
        tmp.path(),
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("no directory is granted at /workspace"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--allow-dir <DIR>:/workspace:rw"),
        "{}",
        r.stderr
    );

    let r = chitin(
        &[
            "skill",
            "run",
            &dir,
            "read",
            "-i",
            r#"{"path":"a.txt"}"#,
            "--allow-dir",
            &s(&ws),
        ],
        tmp.path(),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "from the host");

    let ro = format!("{}:ro", s(&ws));
    let r = chitin(
        &[
            "skill",
            "run",
            &dir,
            "write",
            "-i",
            r#"{"path":"b.txt","content":"x"}"#,
            "--allow-dir",
            &ro,
        ],
        tmp.path(),
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!ws.join("b.txt").exists());
}

#[test]
fn web_fetch_needs_its_host() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let dir = s(&skill_dir("web-fetch"));
    let input = format!(r#"{{"url":"{}/html"}}"#, server.base());

    let r = chitin(
        &["skill", "run", &dir, "fetch", "-i", &input],
        tmp.path(),
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("--allow-host {}", server.base())),
        "{}",
        r.stderr
    );
    assert!(server.requests().is_empty());

    let r = chitin(
        &[
            "skill",
            "run",
            &dir,
            "fetch",
            "-i",
            &input,
            "--allow-host",
            &server.base(),
        ],
        tmp.path(),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Chitin & friends"), "{}", r.stdout);
}

#[test]
fn github_skill_uses_a_stored_secret_it_never_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let secrets = s(&tmp.path().join("secrets.json"));
    let token = "ghp_cli_secret_value_987654";

    // A copy of the github skill whose manifest points at the local server.
    let sk = tmp.path().join("gh");
    std::fs::create_dir(&sk).unwrap();
    std::fs::copy(component("github"), sk.join("github.wasm")).unwrap();
    std::fs::write(
        sk.join("skill.toml"),
        format!(
            "[skill]\nname = \"github\"\nversion = \"0.1.0\"\ndescription = \"GitHub\"\npublisher = \"chitin\"\ncontract = \"0.1.0\"\n\n\
             [[capabilities.net]]\nurl = \"{0}\"\n\n[[capabilities.secrets]]\nname = \"GITHUB_TOKEN\"\nhost = \"{0}\"\nprefix = \"Bearer \"\n",
            server.base()
        ),
    )
    .unwrap();

    let r = chitin(
        &["--secrets-file", &secrets, "secret", "set", "GITHUB_TOKEN"],
        tmp.path(),
        Some(token),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(token) && !r.stderr.contains(token));
    let r = chitin(
        &["--secrets-file", &secrets, "secret", "list"],
        tmp.path(),
        None,
    );
    assert_eq!(r.stdout.trim(), "GITHUB_TOKEN");

    let input = format!(
        r#"{{"owner":"chitin","repo":"chitin","api":"{}"}}"#,
        server.base()
    );
    let skill = s(&sk);
    let run_repo = |extra: &[&str]| {
        let mut args = vec![
            "--secrets-file",
            &secrets,
            "skill",
            "run",
            &skill,
            "repo",
            "-i",
            &input,
        ];
        args.extend_from_slice(extra);
        chitin(&args, tmp.path(), None)
    };
    // Host granted, secret not: the API refuses and the user is told which flag grants it.
    let r = run_repo(&["--allow-host", &server.base()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("--allow-secret GITHUB_TOKEN"),
        "{}",
        r.stderr
    );

    let r = run_repo(&["--grant-requested"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"stars\": 42"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("use your GITHUB_TOKEN secret, sent only to"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains(token) && !r.stderr.contains(token));
    assert_eq!(
        server.requests().last().unwrap().headers["authorization"],
        format!("Bearer {token}")
    );

    let r = chitin(
        &["--secrets-file", &secrets, "secret", "rm", "GITHUB_TOKEN"],
        tmp.path(),
        None,
    );
    assert_eq!(r.code, 0);
    let r = chitin(
        &["--secrets-file", &secrets, "secret", "list"],
        tmp.path(),
        None,
    );
    assert_eq!(r.stdout.trim(), "");
}

#[test]
fn bad_input_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let files = s(&skill_dir("files"));
    let hostile = s(&component("hostile"));
    // (args, exit code, text expected on stderr)
    let table: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["skill", "run", &files, "read", "-i", "{not json"],
            2,
            "--input is not valid JSON",
        ),
        (
            vec!["skill", "run", &files, "frobnicate"],
            2,
            "unknown tool",
        ),
        (
            vec![
                "skill",
                "run",
                &files,
                "list",
                "--allow-dir",
                "/definitely/not/here",
            ],
            2,
            "/definitely/not/here",
        ),
        (
            vec!["skill", "run", &files, "list", "--allow-host", "ftp://x"],
            2,
            "ftp://x",
        ),
        (
            vec!["skill", "run", &files, "list", "--limit", "fuel=3"],
            2,
            "unknown limit `fuel`",
        ),
        (
            vec!["skill", "run", &files, "list", "--allow-secret", "NOPE"],
            2,
            "does not request a secret named NOPE",
        ),
        (
            vec!["skill", "run", &hostile, "spin", "--limit", "cpu_ms=100"],
            4,
            "cpu limit",
        ),
        (vec!["skill", "run", "/no/such/skill", "x"], 2, "not found"),
        (vec!["secret", "set", "bad name"], 2, "invalid secret name"),
    ];
    for (args, code, text) in table {
        let r = chitin(&args, tmp.path(), Some(""));
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(text),
            "{args:?}: stderr should contain `{text}`: {}",
            r.stderr
        );
    }

    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("skill.toml"), "[skill]\nname='x'\nversion='1.0.0'\ndescription='d'\npublisher='p'\ncontract='0.1.0'\ncolour='red'\n").unwrap();
    let r = chitin(&["skill", "tools", &s(&bad)], tmp.path(), None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown field `colour`"), "{}", r.stderr);
}

#[test]
fn tools_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    let r = chitin(
        &["skill", "tools", &s(&skill_dir("github"))],
        tmp.path(),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("github.repo") && r.stdout.contains("uses-secret:GITHUB_TOKEN"),
        "{}",
        r.stdout
    );
    let r = chitin(
        &["skill", "tools", &s(&skill_dir("files")), "--json"],
        tmp.path(),
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    for args in [
        vec!["--help"],
        vec!["skill", "--help"],
        vec!["skill", "run", "--help"],
        vec!["skill", "tools", "--help"],
        vec!["secret", "--help"],
        vec!["secret", "set", "--help"],
    ] {
        let r = chitin(&args, tmp.path(), None);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(r.stdout.contains("Usage:"), "{args:?}: {}", r.stdout);
    }
    let r = chitin(&["skill", "run", "--help"], tmp.path(), None);
    assert!(r.stdout.contains("--allow-dir") && r.stdout.contains("--grant-requested"));
}

/// `chitin skill tools DIR | head -1`: a reader that goes away early ends
/// the command quietly (status 141, like SIGPIPE), never with a panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["skill", "tools", &s(&skill_dir("files"))])
        .env("CHITIN_CACHE_DIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the command prints anything (loading takes a while).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
