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

/// Run the CLI with its state (home and cache) under `state`.
fn chitin(args: &[&str], state: &Path, stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chitin"));
    cmd.args(args)
        .env("CHITIN_CACHE_DIR", state.join("cache"))
        .env("CHITIN_HOME", state.join("home"))
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
        .env("CHITIN_CACHE_DIR", tmp.path().join("cache"))
        .env("CHITIN_HOME", tmp.path().join("home"))
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

/// The characters that must never reach a terminal raw from a skill.
fn has_raw_escapes(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}')
    })
}

#[test]
fn escape_sequences_from_a_skill_never_reach_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let hostile = s(&component("hostile"));
    // (where the skill puts them, extra flags, stream they show up on)
    for (place, flags, on_stdout) in [
        ("output", vec![], true),
        ("output", vec!["--json"], true),
        ("error", vec![], false),
        ("error", vec!["--json"], true),
        ("log", vec!["-v"], false),
        ("log", vec!["-vv"], false),
    ] {
        let input = format!("{{\"where\":\"{place}\"}}");
        let mut args = vec!["skill", "run", &hostile, "escape", "-i", &input];
        args.extend(flags.iter());
        let r = chitin(&args, tmp.path(), None);
        let shown = if on_stdout { &r.stdout } else { &r.stderr };
        assert!(shown.contains("safe"), "{place} {flags:?}: {shown}");
        for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            assert_eq!(
                has_raw_escapes(text),
                None,
                "{place} {flags:?}: a raw control character on {name}: {text:?}"
            );
        }
    }
}

#[test]
fn tool_descriptions_cannot_forge_the_hosts_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let hostile = component("hostile");
    let r = chitin(&["skill", "tools", &s(&hostile)], tmp.path(), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The tool's real effects are on its own line; its description, which
    // claims other lines, is shown as the skill's words only.
    assert!(
        r.stdout
            .contains("skill-hostile.forge  [effects: writes-files, network]"),
        "{}",
        r.stdout
    );
    for line in r.stdout.lines() {
        let t = line.trim_start();
        assert!(
            !(t.starts_with("effects: (none)") || t.starts_with("hostile.forge  [no declared")),
            "a forged line: {line:?}\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("│     effects: (none)"), "{}", r.stdout);

    // The same component with escape sequences patched into a description
    // is refused, and the refusal prints none of them.
    let mut bytes = std::fs::read(&hostile).unwrap();
    let marker = b"MARKER-FOR-DESCRIPTION-PATCHING-0123456789";
    let evil = b"\x1b[2J\x1b[1A\x1b[2K\x1b]0;pwned\x07\r\xc2\x9b0m---------------";
    assert_eq!(evil.len(), marker.len());
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker in the component");
    bytes[at..at + marker.len()].copy_from_slice(evil);
    let patched = tmp.path().join("patched.wasm");
    std::fs::write(&patched, &bytes).unwrap();
    let r = chitin(&["skill", "tools", &s(&patched)], tmp.path(), None);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("control"), "{}", r.stderr);
    assert_eq!(has_raw_escapes(&r.stderr), None, "{:?}", r.stderr);
    assert_eq!(has_raw_escapes(&r.stdout), None, "{:?}", r.stdout);
}

#[test]
fn a_symlinked_skill_toml_is_not_followed() {
    // A skill with write access to a project plants skill.toml -> a file of
    // the user's; running or packing the project must not read it (a parse
    // error would quote it).
    let tmp = tempfile::tempdir().unwrap();
    let private = tmp.path().join("private.txt");
    std::fs::write(&private, "PRIVATE-CANARY-8842 = [unterminated").unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::os::unix::fs::symlink(&private, project.join("skill.toml")).unwrap();
    for args in [
        vec!["skill", "run", &s(&project), "x"],
        vec!["skill", "tools", &s(&project)],
        vec!["skill", "pack", &s(&project)],
    ] {
        let r = chitin(&args, tmp.path(), None);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(r.stderr.contains("symlink"), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("PRIVATE-CANARY"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            !r.stdout.contains("PRIVATE-CANARY"),
            "{args:?}: {}",
            r.stdout
        );
    }
}

#[test]
fn a_fifo_cannot_keep_the_cli_from_exiting() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(ws.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args([
            "skill",
            "run",
            &s(&component("hostile")),
            "read",
            "-i",
            r#"{"path":"/workspace/pipe"}"#,
        ])
        .args([
            "--allow-dir",
            &format!("{}:/workspace:ro", s(&ws)),
            "--limit",
            "timeout_ms=2000",
        ])
        .env("CHITIN_CACHE_DIR", tmp.path().join("cache"))
        .env("CHITIN_HOME", tmp.path().join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if status.is_none() {
        // Unblock the stuck open() so the process can be reaped.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(ws.join("pipe"));
        let _ = child.kill();
        panic!("chitin did not exit: a thread is stuck opening the FIFO");
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIFO"));
}

#[test]
fn chitins_own_files_cannot_be_granted_to_skill_run() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("config")).unwrap();
    let files = s(&skill_dir("files"));
    for dir in [
        tmp.path().to_path_buf(),
        home.clone(),
        home.join("config"),
        tmp.path().join("cache"),
    ] {
        std::fs::create_dir_all(&dir).unwrap();
        let grant = format!("{}:/workspace:rw", s(&dir));
        let r = chitin(
            &["skill", "run", &files, "list", "--allow-dir", &grant],
            tmp.path(),
            None,
        );
        assert_eq!(r.code, 2, "{}: {}", dir.display(), r.stderr);
        assert!(
            r.stderr.contains("overlaps Chitin's own files"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn names_no_skill_can_have_never_reach_outside_the_skills_directory() {
    // `skill remove ..` used to resolve to the data directory itself.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("home/data");
    std::fs::create_dir_all(data.join("skills")).unwrap();
    std::fs::write(data.join("record.json"), "{}").unwrap();
    std::fs::write(data.join("keep.txt"), "mine").unwrap();
    let table: [&[&str]; 5] = [
        &["skill", "remove", ".."],
        &["skill", "remove", "../skills"],
        &["skill", "info", ".."],
        &["skill", "revoke", "..", "net:https://example.com"],
        &["skill", "grant", "..", "fs:/workspace"],
    ];
    for args in table {
        let run = chitin(args, tmp.path(), None);
        assert_ne!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("no installed skill"),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(
            std::fs::read_to_string(data.join("keep.txt")).unwrap(),
            "mine"
        );
        assert!(data.join("record.json").exists(), "{args:?}");
    }
}

/// Long work is shown (a plain line without a terminal, then how long it
/// took); work that is quick (a cached load) shows nothing.
#[test]
fn long_work_is_shown_and_quick_work_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    let dir = s(&skill_dir("files"));
    let grant = format!("{}:/workspace:rw", s(&ws));
    let args = ["skill", "run", &dir, "list", "--allow-dir", &grant];
    // As if compiling took longer than the delay: the first load compiles.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chitin"));
    let out = cmd
        .args(args)
        .env("CHITIN_CACHE_DIR", tmp.path().join("cache"))
        .env("CHITIN_HOME", tmp.path().join("home"))
        .env("CHITIN_PROGRESS_AFTER_MS", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let shown: Vec<&str> = stderr.lines().filter(|l| l.contains("compiling")).collect();
    assert_eq!(shown.len(), 2, "a start line and a time line: {stderr}");
    assert!(shown[0].ends_with("..."), "{stderr}");
    assert!(shown[1].ends_with(" s"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal codes without a terminal: {stderr:?}"
    );
    // The default delay: a load from the cache is quick and silent.
    let r = chitin(&args, tmp.path(), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("compiling"), "{}", r.stderr);
}

/// `chitin daemon link` is the web chat's address with the same token
/// `chitin daemon token` prints.
#[test]
fn the_daemon_link_carries_its_token() {
    let tmp = tempfile::tempdir().unwrap();
    let token = chitin(&["daemon", "token"], tmp.path(), None);
    assert_eq!(token.code, 0, "{}", token.stderr);
    let link = chitin(&["daemon", "link"], tmp.path(), None);
    assert_eq!(link.code, 0, "{}", link.stderr);
    assert_eq!(
        link.stdout.trim(),
        format!("http://127.0.0.1:7878/#token={}", token.stdout.trim())
    );
}
