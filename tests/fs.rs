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
        // Whatever reaches the host is refused on record; paths under no
        // granted directory fail in the guest's libc before any host call.
        let reaches_host = !attack.starts_with("absolute") && !attack.starts_with("relative path");
        if reaches_host {
            assert!(
                out.denials()
                    .any(|d| d.capability == chitin::Capability::Fs),
                "{attack}: refused but not audited: {:#?}",
                out.audit
            );
        }
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

/// Two grants: `/workspace` read-write on `ws`, and `/inner` on `ws/inner`.
fn nested(l: &Layout, inner_access: Access) -> Grants {
    std::fs::create_dir_all(l.ws.join("inner")).unwrap();
    std::fs::write(l.ws.join("inner/note.txt"), "inner note").unwrap();
    Grants {
        fs: vec![
            chitin::capabilities::fs::FsGrant::new(&l.ws, "/workspace", Access::ReadWrite).unwrap(),
            chitin::capabilities::fs::FsGrant::new(&l.ws.join("inner"), "/inner", inner_access)
                .unwrap(),
        ],
        ..Grants::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_cannot_redirect_a_grant_by_swapping_its_directory() {
    // (attack, swap input): a symlink to the secret directory in place of a
    // nested grant, and another directory renamed into its place.
    for (attack, swap, legacy) in [
        ("symlink", json!({"target": "../outside"}), false),
        ("rename", json!({"rename_from": "/workspace/decoy"}), false),
        // A grant recorded before identities were: no symlink is followed.
        ("symlink, old grant", json!({"target": "../outside"}), true),
    ] {
        let l = layout();
        let mut grants = nested(&l, Access::ReadOnly);
        if legacy {
            grants.fs[1].identity = None;
        }
        std::fs::create_dir_all(l.ws.join("decoy")).unwrap();
        let skill = hostile();
        let out = call(&skill, &grants, "read", json!({"path": "/inner/note.txt"})).await;
        assert_eq!(ok(&out), "inner note", "{attack}: the nested grant works");
        let mut input = swap.clone();
        input["dir"] = json!("/workspace/inner");
        let out = call(&skill, &grants, "swap", input).await;
        assert!(ok(&out).contains("swapped"), "{attack}: {:?}", out.result);
        // The next call would have opened the swapped path.
        let out = call(
            &skill,
            &grants,
            "read",
            json!({"path": "/inner/secret.txt"}),
        )
        .await;
        let text = format!("{:?}", out.result);
        assert!(
            !text.contains(CANARY),
            "{attack}: read outside every grant: {text}"
        );
        assert!(
            matches!(&out.result, Err(chitin::CallError::Denied(m)) if m.contains("no longer the one you granted")),
            "{attack}: {text}"
        );
        assert!(
            out.denials()
                .any(|d| d.capability == chitin::Capability::Fs && d.target.starts_with("/inner")),
            "{attack}: audited: {:#?}",
            out.audit
        );
        // The untouched grant alone still works, and so does the host.
        let ws_only = dir_grant(&l.ws, "/workspace", Access::ReadWrite);
        let out = call(
            &skill,
            &ws_only,
            "read",
            json!({"path": "/workspace/inside.txt"}),
        )
        .await;
        assert_eq!(ok(&out), "inside text");
        assert_host_alive().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_is_refused_at_open_and_pins_no_thread() {
    let l = layout();
    let fifo = l.ws.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let skill = hostile();
    let mut grants = dir_grant(&l.ws, "/workspace", Access::ReadWrite);
    grants.limits.timeout_ms = 3_000;
    use std::os::unix::fs::OpenOptionsExt;
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    for (tool, input) in [
        ("read", json!({"path": "/workspace/pipe"})),
        ("write", json!({"path": "/workspace/pipe", "content": "x"})),
    ] {
        let out = call(&skill, &grants, tool, input).await;
        // Is a host thread still waiting in open(2) on the FIFO? Opening the
        // write end without blocking finds no reader (ENXIO) unless one waits,
        // and then frees it; opening the read end frees a waiting writer. So
        // a failure below is reported, not hung on.
        let reader_stuck = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nonblocking)
            .open(&fifo)
            .is_ok();
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nonblocking)
            .open(&fifo);
        assert!(
            !reader_stuck,
            "{tool}: a host thread was waiting in open() on the FIFO"
        );
        assert!(out.result.is_err(), "{tool}: {:?}", out.result);
        assert_ne!(
            out.limit,
            Some(chitin::capabilities::limits::LimitKind::Timeout),
            "{tool}: it blocked"
        );
        assert!(
            out.denials().any(|d| d.reason.contains("FIFO")),
            "{tool}: {:#?}",
            out.audit
        );
    }
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_descriptors_are_capped_per_call() {
    let l = layout();
    let skill = hostile();
    let grants = dir_grant(&l.ws, "/workspace", Access::ReadWrite);
    let out = call(
        &skill,
        &grants,
        "hold",
        json!({"dir": "/workspace", "n": 5000}),
    )
    .await;
    assert_eq!(
        out.limit,
        Some(chitin::capabilities::limits::LimitKind::Descriptors),
        "{:?}",
        out.result
    );
    assert!(
        matches!(&out.result, Err(chitin::CallError::Limit(m)) if m.contains("descriptor limit")),
        "{:?}",
        out.result
    );
    // Within the cap, fine; and the host has descriptors left.
    let out = call(
        &skill,
        &grants,
        "hold",
        json!({"dir": "/workspace", "n": 100}),
    )
    .await;
    assert_eq!(ok(&out), "holding 100 files");
    assert!(std::fs::File::open(l.ws.join("inside.txt")).is_ok());
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_creations_are_held_to_the_disk_quota() {
    use chitin::capabilities::limits::{LimitKind, Limits};
    let l = layout();
    let skill = hostile();
    let quota = |mib, files| {
        let mut g = dir_grant(&l.ws, "/workspace", Access::ReadWrite);
        g.limits = Limits {
            disk_mib: mib,
            disk_files: files,
            ..Limits::default()
        };
        g
    };
    // (attack, tool, input, grants, expected limit)
    let table = [
        (
            "one big file",
            "fill",
            json!({"path": "/workspace/big", "mib": 40}),
            quota(8, 1000),
            LimitKind::Disk,
        ),
        (
            "a sparse giant",
            "fill",
            json!({"path": "/workspace/sparse", "mib": 0, "set_len": 1u64 << 40}),
            quota(8, 1000),
            LimitKind::Disk,
        ),
        (
            "many files",
            "spray",
            json!({"dir": "/workspace", "n": 3000}),
            quota(8, 100),
            LimitKind::DiskFiles,
        ),
    ];
    for (attack, tool, input, grants, kind) in table {
        let out = call(&skill, &grants, tool, input).await;
        assert_eq!(out.limit, Some(kind), "{attack}: {:?}", out.result);
        assert!(
            out.denials()
                .any(|d| d.capability == chitin::Capability::Limit && d.target == "disk"),
            "{attack}: audited"
        );
        assert_host_alive().await;
    }
    let big = std::fs::metadata(l.ws.join("big"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(big <= 8 << 20, "wrote {big} bytes past an 8 MiB quota");
    let sparse = std::fs::metadata(l.ws.join("sparse"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(sparse < 1 << 30, "grew a file to {sparse} bytes");
    let sprayed = std::fs::read_dir(&l.ws)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("spray-")
        })
        .count();
    assert!(
        sprayed <= 100,
        "created {sprayed} files past a quota of 100"
    );
    // The default quota lets normal work through, and a granted larger one more.
    let out = call(
        &skill,
        &quota(64, 1000),
        "fill",
        json!({"path": "/workspace/ok", "mib": 3}),
    )
    .await;
    assert_eq!(ok(&out), "wrote 3 MiB");
    let out = call(
        &skill,
        &quota(100, 1000),
        "fill",
        json!({"path": "/workspace/big", "mib": 40}),
    )
    .await;
    assert_eq!(ok(&out), "wrote 40 MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chitins_own_files_are_never_opened_for_a_skill() {
    // A host that protects a directory refuses, at the call, any grant that
    // contains it or lies inside it, however the grant was made.
    let l = layout();
    let own = l.outside.clone();
    let host = chitin::SkillHost::new(chitin::HostConfig {
        protected: vec![own.join("config")],
        ..chitin::HostConfig::default()
    })
    .unwrap();
    std::fs::create_dir_all(own.join("config")).unwrap();
    std::fs::write(own.join("config/secrets.json"), CANARY).unwrap();
    let skill = host.load(&component("hostile")).unwrap();
    for dir in [own.clone(), own.join("config")] {
        let grants = dir_grant(&dir, "/workspace", Access::ReadWrite);
        assert!(host.check_grants(&grants).is_err());
        let out = host
            .call(
                &skill,
                &grants,
                &chitin::NoSecrets,
                "read",
                &json!({"path": "/workspace/config/secrets.json"}).to_string(),
            )
            .await;
        let text = format!("{:?}", out.result);
        assert!(!text.contains(CANARY), "{text}");
        assert!(
            matches!(&out.result, Err(chitin::CallError::Denied(m)) if m.contains("Chitin's own files")),
            "{text}"
        );
    }
    let fine = dir_grant(&l.ws, "/workspace", Access::ReadOnly);
    let out = host
        .call(
            &skill,
            &fine,
            &chitin::NoSecrets,
            "read",
            &json!({"path": "/workspace/inside.txt"}).to_string(),
        )
        .await;
    assert_eq!(ok(&out), "inside text");
}
