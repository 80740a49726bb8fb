//! Skills in other languages under the same sandbox: the first-party
//! Python (`skills/notes-py`), JavaScript (`skills/notes-js`), C
//! (`skills/notes-c`) and Go (`skills/notes-go`) skills are built from
//! source with `chitin skill build`
//! (toolchains from scripts/install-toolchains),
//! then the granted operation works and the same escapes as for Rust skills
//! are refused: a file outside the grant, a write to a read-only mount, a
//! host outside the allow-list, a loopback address, a guest-set credential
//! header, and an infinite loop stopped by the CPU limit.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::capabilities::fs::Access;
use chitin::capabilities::secrets::SecretRule;
use chitin::{CallError, CallOutcome, Capability, Grants, LoadedSkill};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use support::*;

/// A toolchain program installed by scripts/install-toolchains.
fn toolchain(rel: &str) -> PathBuf {
    let p = root().join("target/toolchains").join(rel);
    assert!(
        p.exists(),
        "{rel} is missing: run scripts/install-toolchains (scripts/test does)"
    );
    p
}

/// `chitin ARGS` with the toolchains under target/toolchains.
fn chitin_with_toolchains(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"));
    cmd.args(args)
        .env(
            "CHITIN_COMPONENTIZE_PY",
            toolchain("python/bin/componentize-py"),
        )
        .env(
            "CHITIN_COMPONENTIZE_JS",
            toolchain("js/node_modules/.bin/componentize-js"),
        )
        .env("CHITIN_GO", toolchain("go/goroot/bin/go"));
    cmd
}

/// Build a skill project with the CLI, once per test binary.
fn built(name: &str) -> LoadedSkill {
    static BUILT: OnceLock<std::sync::Mutex<HashMap<String, ()>>> = OnceLock::new();
    let lock = BUILT.get_or_init(Default::default);
    let mut done = lock.lock().unwrap();
    let dir = root().join("skills").join(name);
    if !done.contains_key(name) {
        let out = chitin_with_toolchains(&["skill", "build"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chitin skill build {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        done.insert(name.to_string(), ());
    }
    host().load(&dir).unwrap()
}

const LANGS: [&str; 4] = ["notes-py", "notes-js", "notes-c", "notes-go"];

/// The skills that make HTTP requests, each through its language's usual API.
const HTTP_LANGS: [&str; 3] = ["notes-py", "notes-js", "notes-go"];

/// The call failed and the host's audit shows which rule refused it.
fn refused(out: &CallOutcome, capability: Capability, what: &str) {
    assert!(
        out.result.is_err(),
        "{what}: went through: {:?}",
        out.result
    );
    assert!(
        out.denials().any(|e| e.capability == capability),
        "{what}: no {capability:?} denial in the audit: {:#?}",
        out.audit
    );
}

fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("todo.txt"), "buy kumquats").unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_inside_the_grant_work_and_nothing_else() {
    for name in LANGS {
        let skill = built(name);
        let ws = workspace();
        let rw = dir_grant(ws.path(), "/workspace", Access::ReadWrite);
        let out = call(&skill, &rw, "read", json!({"path": "todo.txt"})).await;
        assert_eq!(ok(&out), "buy kumquats", "{name}");
        let out = call(
            &skill,
            &rw,
            "write",
            json!({"path": "new.txt", "content": "hello"}),
        )
        .await;
        ok(&out);
        assert_eq!(
            std::fs::read_to_string(ws.path().join("new.txt")).unwrap(),
            "hello",
            "{name}"
        );
        // Outside the grant: `..` and absolute paths lead nowhere.
        for path in ["../../../../etc/passwd", "../etc/hostname"] {
            let out = call(&skill, &rw, "read", json!({"path": path})).await;
            assert!(out.result.is_err(), "{name} read {path}: {:?}", out.result);
            assert!(
                !serde_json::to_string(&out).unwrap().contains("root:"),
                "{name}"
            );
        }
        // A read-only mount refuses writes.
        let ro = dir_grant(ws.path(), "/workspace", Access::ReadOnly);
        let out = call(
            &skill,
            &ro,
            "write",
            json!({"path": "todo.txt", "content": "x"}),
        )
        .await;
        assert!(
            matches!(out.result, Err(CallError::Denied(_))),
            "{name}: {:?}",
            out.result
        );
        assert_eq!(
            std::fs::read_to_string(ws.path().join("todo.txt")).unwrap(),
            "buy kumquats"
        );
        // Nothing granted: no files at all.
        let out = call(
            &skill,
            &Grants::default(),
            "read",
            json!({"path": "todo.txt"}),
        )
        .await;
        assert!(out.result.is_err(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    for name in LANGS {
        let skill = built(name);
        let mut grants = Grants::default();
        grants.limits.cpu_ms = 300;
        let out = call(&skill, &grants, "spin", json!({})).await;
        assert!(
            matches!(out.result, Err(CallError::Limit(_))),
            "{name}: {:?}",
            out.result
        );
        assert!(
            out.elapsed < std::time::Duration::from_secs(10),
            "{name}: {:?}",
            out.elapsed
        );
    }
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_through_the_languages_own_api_goes_through_the_hosts_checks() {
    for name in HTTP_LANGS {
        let skill = built(name);
        let server = TestServer::start();
        let grants = net_grant(&[&server.base()]);
        // Granted: works.
        let out = call(
            &skill,
            &grants,
            "fetch",
            json!({"url": format!("{}/text", server.base())}),
        )
        .await;
        assert!(ok(&out).starts_with("200 "), "{name}: {:?}", out.result);
        // A request with a method and a body.
        let out = call(
            &skill,
            &grants,
            "fetch",
            json!({"url": format!("{}/text", server.base()), "method": "POST", "body": "a note, posted"}),
        )
        .await;
        assert!(ok(&out).starts_with("200 "), "{name}: {:?}", out.result);
        let posted = server.requests().last().cloned().unwrap();
        assert_eq!(
            (posted.method.as_str(), posted.body.as_slice()),
            ("POST", b"a note, posted".as_slice()),
            "{name}"
        );
        // A host outside the allow-list.
        let out = call(
            &skill,
            &grants,
            "fetch",
            json!({"url": "http://example.com/"}),
        )
        .await;
        refused(&out, Capability::Net, &format!("{name}: example.com"));
        if name == "notes-py" || name == "notes-go" {
            // chitin_http and skill.Fetch tell the model it was a refusal, not a failure.
            assert!(
                matches!(out.result, Err(CallError::Denied(_))),
                "{:?}",
                out.result
            );
        }
        // Loopback behind a wildcard grant: refused after DNS.
        let port = server.base().rsplit(':').next().unwrap().to_string();
        let before = server.requests().len();
        let out = call(
            &skill,
            &net_grant(&["http://*"]),
            "fetch",
            json!({"url": format!("http://localhost:{port}/text")}),
        )
        .await;
        refused(&out, Capability::Net, &format!("{name}: localhost"));
        assert_eq!(server.requests().len(), before, "{name}: loopback reached");
        // A guest-set credential header for a host that has a secret rule.
        let with_secret = Grants {
            secrets: vec![SecretRule {
                name: "TOKEN".into(),
                host: server.base(),
                header: "authorization".into(),
                prefix: "Bearer ".into(),
            }],
            ..grants.clone()
        };
        let secrets = HashMap::from([("TOKEN".to_string(), "real-token-value".to_string())]);
        let out = call_with(
            &skill,
            &with_secret,
            &secrets,
            "fetch",
            json!({"url": format!("{}/echo-auth", server.base()), "headers": {"Authorization": "Bearer forged"}}),
        )
        .await;
        refused(&out, Capability::Secret, &format!("{name}: forged header"));
        assert!(
            server.requests().iter().all(
                |r| r.headers.get("authorization").map(String::as_str) != Some("Bearer forged")
            ),
            "{name}: a forged credential header went out"
        );
        // The secret itself is injected and never shown to the skill.
        let out = call_with(
            &skill,
            &with_secret,
            &secrets,
            "fetch",
            json!({"url": format!("{}/echo-auth", server.base())}),
        )
        .await;
        let text = ok(&out);
        assert!(!text.contains("real-token-value"), "{name}: {text}");
        assert_eq!(
            server
                .requests()
                .last()
                .unwrap()
                .headers
                .get("authorization")
                .map(String::as_str),
            Some("Bearer real-token-value"),
            "{name}"
        );
    }
}

/// `chitin skill new` + `build` + `tools` + `run`, as the README tells a new
/// user (from the directory above the project, by relative path, here one
/// with a space in it), in every language: Rust with the test's own cargo,
/// the others with the toolchains under target/toolchains. Then a build
/// that fails removes the component it had made, so nothing stale runs.
#[test]
fn a_new_project_builds_and_runs_in_every_language() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("my skills");
    std::fs::create_dir(&cwd).unwrap();
    let cache = tmp.path().join("cache");
    let chitin = |args: &[&str]| {
        let out = chitin_with_toolchains(args)
            .current_dir(&cwd)
            .env("CHITIN_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let ok = |args: &[&str]| {
        let (success, stdout, stderr) = chitin(args);
        assert!(success, "chitin {args:?}: {stderr}");
        (stdout, stderr)
    };
    for lang in ["rust", "python", "js", "c", "go"] {
        let name = format!("hello-{lang}");
        ok(&["skill", "new", &name, "--lang", lang]);
        let dir = cwd.join(&name);
        assert!(dir.join("wit/skill.wit").is_file(), "{lang}: no WIT");
        assert!(dir.join("README.md").is_file(), "{lang}: no README");
        let (_, log) = ok(&["skill", "build", &name]);
        assert!(log.contains(&format!("({lang}, ")), "{lang}: {log}");
        if lang == "python" {
            // Its long step is shown while it runs and timed at the end.
            let step = "componentize-py (bundles CPython: takes a while)";
            assert!(
                log.contains(&format!("{step} ...")) && log.contains(&format!("{step}: ")),
                "{log}"
            );
            assert!(!log.contains('\u{1b}'), "no terminal codes: {log:?}");
        }
        let (tools, _) = ok(&["skill", "tools", &name]);
        assert!(tools.contains("greet"), "{lang}: {tools}");
        let (out, _) = ok(&["skill", "run", &name, "greet", "-i", r#"{"name":"Ada"}"#]);
        assert_eq!(out.trim(), "hello, Ada", "{lang}");
    }

    // A C compile error: reported with the compiler's words, old output gone.
    let component = cwd.join("hello-c/hello-c.wasm");
    assert!(component.is_file());
    std::fs::write(cwd.join("hello-c/skill.c"), "int broken( {").unwrap();
    let (success, _, stderr) = chitin(&["skill", "build", "hello-c"]);
    assert!(!success, "a broken skill.c built");
    assert!(
        stderr.contains("clang failed") && stderr.contains("error"),
        "{stderr}"
    );
    assert!(!component.exists(), "the stale component is still there");
    assert!(!cwd.join("hello-c/hello-c.wasm.partial").exists());
}

/// A missing toolchain is named, with the command that installs it.
#[test]
fn a_missing_toolchain_is_named_with_how_to_install_it() {
    let tmp = tempfile::tempdir().unwrap();
    // (language, what the message must name, part of the install command)
    let table = [
        (
            "python",
            "componentize-py is not installed",
            "pip install componentize-py==0.25.1",
        ),
        ("js", "node is not installed", "apt install nodejs npm"),
        ("c", "clang", "apt"),
        ("go", "go is not installed", "scripts/install-toolchains"),
    ];
    for (lang, missing, hint) in table {
        let dir = tmp.path().join(lang);
        let new = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(["skill", "new", "x", "--lang", lang, "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(new.status.success(), "{lang}");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(["skill", "build"])
            .arg(&dir)
            .env("PATH", tmp.path().join("empty"))
            .env_remove("CHITIN_COMPONENTIZE_PY")
            .env_remove("CHITIN_COMPONENTIZE_JS")
            .env_remove("CHITIN_CLANG")
            .env_remove("CHITIN_NODE")
            .env_remove("CHITIN_NPM")
            // Empty: not even this checkout's target/toolchains/go.
            .env("CHITIN_GO", "")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{lang}: built without a toolchain");
        assert!(stderr.contains(missing), "{lang}: {stderr}");
        assert!(stderr.contains(hint), "{lang}: {stderr}");
    }
    // A toolchain variable that names nothing is reported as such.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["skill", "build"])
        .arg(tmp.path().join("python"))
        .env("CHITIN_COMPONENTIZE_PY", "/nonexistent/componentize-py")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent/componentize-py") && stderr.contains("cannot be run"),
        "{stderr}"
    );
}
