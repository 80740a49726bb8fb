//! Filesystem capability: granted directories work with the granted access;
//! a hostile skill cannot read or write anything else (`..`, absolute paths,
//! planted or self-made symlinks, read-only mounts, no grant at all).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::capabilities::Grants;
use chitin::capabilities::fs::Access;
use serde_json::json;
use support::*;

const CANARY: &str = "TOP-SECRET-CANARY-7f3a";

/// A workspace with one file inside, and a secret directory beside it that
/// the skill must never reach, plus planted symlinks pointing out.
struct Layout {
    _tmp: tempfile::TempDir,
    ws: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn layout() -> Layout {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(ws.join("inside.txt"), "inside text").unwrap();
    std::fs::write(outside.join("secret.txt"), CANARY).unwrap();
    std::os::unix::fs::symlink(&outside, ws.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../outside", ws.join("rel-link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), ws.join("file-link")).unwrap();
    Layout {
        _tmp: tmp,
        ws,
        outside,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_directory_reads_and_writes_with_granted_access() {
    let l = layout();
    let skill = hostile();
    let ro = dir_grant(&l.ws, "/workspace", Access::ReadOnly);
    let out = call(
        &skill,
        &ro,
        "read",
        json!({"path": "/workspace/inside.txt"}),
    )
    .await;
    assert_eq!(ok(&out), "inside text");
    assert!(
        out.audit.iter().any(
            |e| e.capability == chitin::Capability::Fs && e.decision == chitin::Decision::Allow
        )
    );

    let rw = dir_grant(&l.ws, "/workspace", Access::ReadWrite);
    let out = call(
        &skill,
        &rw,
        "write",
        json!({"path": "/workspace/new.txt", "content": "made in wasm"}),
    )
    .await;
    assert_eq!(ok(&out), "written");
    assert_eq!(
        std::fs::read_to_string(l.ws.join("new.txt")).unwrap(),
        "made in wasm"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_are_refused_and_the_host_keeps_working() {
    let l = layout();
    let skill = hostile();
    let outside_abs = l.outside.join("secret.txt").display().to_string();
    // (attack, tool, input, access granted)
    let table = [
        (
            "dot-dot traversal",
            "read",
            json!({"path": "/workspace/../outside/secret.txt"}),
            Access::ReadWrite,
        ),
        (
            "deep traversal to /etc",
            "read",
            json!({"path": "/workspace/../../../../../../etc/passwd"}),
            Access::ReadWrite,
        ),
        (
            "absolute guest path",
            "read",
            json!({"path": "/etc/passwd"}),
            Access::ReadWrite,
        ),
        (
            "absolute host path",
            "read",
            json!({"path": outside_abs}),
            Access::ReadWrite,
        ),
        (
            "relative path without preopen",
            "read",
            json!({"path": "outside/secret.txt"}),
            Access::ReadWrite,
        ),
        (
            "planted absolute dir symlink",
            "read",
            json!({"path": "/workspace/abs-link/secret.txt"}),
            Access::ReadWrite,
        ),
        (
            "planted relative dir symlink",
            "read",
            json!({"path": "/workspace/rel-link/secret.txt"}),
            Access::ReadWrite,
        ),
        (
            "planted file symlink",
            "read",
            json!({"path": "/workspace/file-link"}),
            Access::ReadWrite,
        ),
        (
            "guest-made relative symlink",
            "symlink",
            json!({"dir": "/workspace", "target": "../outside", "link": "g1", "read": "secret.txt"}),
            Access::ReadWrite,
        ),
        (
            "guest-made absolute symlink",
            "symlink",
            json!({"dir": "/workspace", "target": l.outside.display().to_string(), "link": "g2", "read": "secret.txt"}),
            Access::ReadWrite,
        ),
        (
            "write on a read-only mount",
            "write",
            json!({"path": "/workspace/pwned.txt", "content": "x"}),
            Access::ReadOnly,
        ),
        (
            "write through traversal",
            "write",
            json!({"path": "/workspace/../outside/pwned.txt", "content": "x"}),
            Access::ReadWrite,
        ),
        (
            "write through planted symlink",
            "write",
            json!({"path": "/workspace/abs-link/pwned.txt", "content": "x"}),
            Access::ReadWrite,
        ),
        (
            "overwrite through file symlink",
            "write",
            json!({"path": "/workspace/file-link", "content": "x"}),
            Access::ReadWrite,
        ),
    ];
    for (attack, tool, input, access) in table {
        let grants = dir_grant(&l.ws, "/workspace", access);
        let out = call(&skill, &grants, tool, input).await;
        let text = format!("{:?}", out.result);
        assert!(
            out.result.is_err(),
            "{attack}: the sandbox let it through: {text}"
        );
        assert!(
            !text.contains(CANARY),
            "{attack}: leaked the canary: {text}"
        );
        assert_host_alive().await;
    }
    // Nothing was written outside, nor on the read-only mount, nor through the links.
    assert!(!l.outside.join("pwned.txt").exists());
    assert!(!l.ws.join("pwned.txt").exists());
    assert_eq!(
        std::fs::read_to_string(l.outside.join("secret.txt")).unwrap(),
        CANARY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_visible_without_a_grant() {
    let l = layout();
    let skill = hostile();
    let path = l.ws.join("inside.txt").display().to_string();
    for p in [path.as_str(), "/workspace/inside.txt", "/", "."] {
        let out = call(&skill, &Grants::default(), "read", json!({"path": p})).await;
        assert!(
            out.result.is_err(),
            "read {p} without a grant: {:?}",
            out.result
        );
    }
    // The files skill says which capability is missing.
    let files = load("files");
    let out = call(
        &files,
        &Grants::default(),
        "read",
        json!({"path": "inside.txt"}),
    )
    .await;
    assert!(
        matches!(&out.result, Err(chitin::CallError::Denied(m)) if m.contains("/workspace")),
        "{:?}",
        out.result
    );
    assert_eq!(out.ungranted.len(), 1);
    assert!(
        out.ungranted[0].hint.contains("--allow-dir"),
        "{:?}",
        out.ungranted
    );
}
