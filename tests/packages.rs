//! Signed packages: pack → verify → install → run → upgrade → remove, with
//! every tampering refused, upgrades re-asking for new capabilities,
//! downgrades and key changes refused, size and format limits enforced, and
//! an interrupted install leaving the previous version runnable.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::package::format::{self, FormatError, MANIFEST_SECTION};
use chitin::package::install::{self, InstallError, InstallOptions};
use chitin::package::review::{Outcome, ReviewOptions};
use chitin::package::state::{Installed, Record};
use chitin::package::trust::TrustStore;
use chitin::package::verify::VerifyError;
use chitin::package::{fetch, keys};
use chitin::skill::loader::SkillSource;
use chitin::{NoSecrets, ToolInfo};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use support::*;
use wasmsign2::{CustomSection, KeyPair, Module, Section};

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    key: KeyPair,
    trust: TrustStore,
    installed: Installed,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let ws = root.join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(ws.join("note.txt"), "hello").unwrap();
    let key = keys::generate(&root.join("publisher.pem")).unwrap();
    let mut trust = TrustStore::open(&root.join("trust.toml")).unwrap();
    trust.add("chitin", &keys::public_text(&key.pk)).unwrap();
    let installed = Installed::new(&root.join("skills"));
    Env {
        _tmp: tmp,
        root,
        ws,
        key,
        trust,
        installed,
    }
}

fn manifest(version: &str, extra: &str) -> String {
    format!(
        "[skill]\nname = \"notes\"\nversion = \"{version}\"\ndescription = \"Notes\"\npublisher = \"chitin\"\ncontract = \"0.1.0\"\n\n\
         [[capabilities.fs]]\nguest = \"/workspace\"\naccess = \"read-write\"\n{extra}"
    )
}

const NEW_HOST: &str = "\n[[capabilities.net]]\nurl = \"https://api.example.com\"\n";

async fn tools() -> Vec<ToolInfo> {
    host()
        .tools(&host().load(&component("files")).unwrap())
        .await
        .unwrap()
}

async fn pack(version: &str, extra: &str, key: &KeyPair) -> Vec<u8> {
    let wasm = std::fs::read(component("files")).unwrap();
    format::pack(&wasm, &manifest(version, extra), &tools().await, key).unwrap()
}

fn opts(e: &Env, yes: bool) -> InstallOptions {
    let dirs = HashMap::from([("/workspace".to_string(), e.ws.clone())]);
    InstallOptions {
        review: ReviewOptions {
            yes,
            dirs,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn id(text: &str) -> chitin::capabilities::id::CapabilityId {
    chitin::capabilities::id::CapabilityId::parse(text).unwrap()
}

fn do_install(
    e: &Env,
    bytes: Vec<u8>,
    o: &InstallOptions,
) -> Result<install::InstallReport, InstallError> {
    let inspected = install::inspect(bytes, o, &e.trust, &e.installed)?;
    install::install(host(), &e.installed, inspected, o, None)
}

async fn run_installed(e: &Env, name: &str) -> chitin::CallOutcome {
    let r: Record = e.installed.get(name).unwrap().expect("installed");
    let skill = host()
        .load_source(SkillSource {
            manifest: Some(r.manifest.clone()),
            component: e.installed.package_path(&r),
        })
        .unwrap();
    host()
        .call(
            &skill,
            &r.grants,
            &NoSecrets,
            "read",
            &json!({"path": "note.txt"}).to_string(),
        )
        .await
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Replace one custom section's payload, keeping everything else (including
/// the now stale signature).
fn replace_section(bytes: &[u8], name: &str, payload: Vec<u8>) -> Vec<u8> {
    let mut m = Module::deserialize(&mut &bytes[..]).unwrap();
    for s in m.sections.iter_mut() {
        if matches!(s, Section::Custom(c) if c.name() == name) {
            *s = Section::Custom(CustomSection::new(name.to_string(), payload.clone()));
        }
    }
    let mut out = Vec::new();
    m.serialize(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_run_upgrade_downgrade_remove() {
    let e = env();
    let v1 = pack("0.1.0", "", &e.key).await;
    let report = do_install(&e, v1.clone(), &opts(&e, true)).unwrap();
    assert!(report.record.provenance.verified);
    assert_eq!(
        report.record.provenance.publisher.as_deref(),
        Some("chitin")
    );
    assert_eq!(
        report.record.grants.fs[0].host,
        e.ws.canonicalize().unwrap()
    );
    assert_eq!(ok(&run_installed(&e, "notes").await), "hello");
    // Install precompiled it into the component cache.
    let cache = host().cache().unwrap();
    assert!(cache.entry_path(&report.record.provenance.digest).exists());

    // v0.2.0 asks for a new host: not granted without approval; v0.1.0 stays.
    let v2 = pack("0.2.0", NEW_HOST, &e.key).await;
    let err = do_install(&e, v2.clone(), &opts(&e, false)).unwrap_err();
    assert!(
        err.to_string().contains("net:https://api.example.com"),
        "{err}"
    );
    assert_eq!(e.installed.get("notes").unwrap().unwrap().version, "0.1.0");
    // Approving just the new host: the directory grant is kept, not re-asked.
    let mut o = opts(&e, false);
    o.review.grant = vec![id("net:https://api.example.com")];
    let report = do_install(&e, v2, &o).unwrap();
    assert_eq!(report.record.version, "0.2.0");
    let outcomes: Vec<(String, Outcome)> = report
        .review
        .iter()
        .map(|l| (l.request.id.to_string(), l.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("fs:/workspace".to_string(), Outcome::Kept),
            ("net:https://api.example.com".to_string(), Outcome::Granted)
        ]
    );
    assert_eq!(ok(&run_installed(&e, "notes").await), "hello");
    // Only the current package file is left.
    assert_eq!(files_in(&e.installed.skill_dir("notes")).len(), 2);

    // Denying the new host on upgrade keeps it out of the grants.
    let v3 = pack("0.3.0", NEW_HOST, &e.key).await;
    e.installed.remove("notes").unwrap();
    do_install(&e, v1.clone(), &opts(&e, true)).unwrap();
    let mut o = opts(&e, false);
    o.review.deny = vec![id("net:https://api.example.com")];
    let report = do_install(&e, v3, &o).unwrap();
    assert!(report.record.grants.net.is_empty());

    // An upgrade asking for another directory is not granted without approval either.
    let extra_dir = "\n[[capabilities.fs]]\nguest = \"/extra\"\naccess = \"read-only\"\n";
    let v4 = pack("0.4.0", extra_dir, &e.key).await;
    let mut o = opts(&e, false);
    o.review.dirs.insert("/extra".into(), e.root.clone());
    let err = do_install(&e, v4.clone(), &o).unwrap_err();
    assert!(err.to_string().contains("fs:/extra"), "{err}");
    assert_eq!(e.installed.get("notes").unwrap().unwrap().version, "0.3.0");
    o.review.grant = vec![id("fs:/extra")];
    let r = do_install(&e, v4, &o).unwrap().record;
    assert_eq!(r.grants.fs.len(), 2);
    e.installed.remove("notes").unwrap();
    do_install(&e, pack("0.3.0", "", &e.key).await, &opts(&e, true)).unwrap();

    // Downgrade refused unless asked for.
    let err = do_install(&e, v1.clone(), &opts(&e, true)).unwrap_err();
    assert!(matches!(err, InstallError::Downgrade { .. }), "{err}");
    let mut o = opts(&e, true);
    o.allow_downgrade = true;
    assert_eq!(do_install(&e, v1, &o).unwrap().record.version, "0.1.0");

    assert!(e.installed.remove("notes").unwrap());
    assert!(e.installed.get("notes").unwrap().is_none());
    assert!(!e.installed.skill_dir("notes").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_packages_are_refused() {
    let e = env();
    let good = pack("0.1.0", "", &e.key).await;
    let mallory = KeyPair::generate();

    let mut flipped = good.clone();
    let code_byte = flipped.len() / 3;
    flipped[code_byte] ^= 0x01;
    let more_caps = replace_section(
        &good,
        MANIFEST_SECTION,
        manifest("0.1.0", NEW_HOST).into_bytes(),
    );
    let unsigned = format::strip_signature(&good).unwrap();
    let untrusted = pack("0.1.0", "", &mallory).await;
    // Re-signed by another key, still naming the trusted key as publisher.
    let wasm = std::fs::read(component("files")).unwrap();
    let resigned = {
        let mut b = format::pack(&wasm, &manifest("0.1.0", ""), &tools().await, &mallory).unwrap();
        b = replace_section(
            &b,
            format::PUBLISHER_SECTION,
            keys::public_text(&e.key.pk).into_bytes(),
        );
        b
    };

    // (tampering, package, check on the error)
    type Check = fn(&InstallError) -> bool;
    let table: Vec<(&str, Vec<u8>, Check)> = vec![
        ("one byte of code flipped", flipped, |e| {
            matches!(
                e,
                InstallError::Verify(VerifyError::BadSignature)
                    | InstallError::Format(FormatError::Malformed)
            )
        }),
        ("manifest edited to add a capability", more_caps, |e| {
            matches!(e, InstallError::Verify(VerifyError::BadSignature))
        }),
        ("signature removed", unsigned.clone(), |e| {
            matches!(e, InstallError::Verify(VerifyError::Unsigned))
        }),
        ("signed by an untrusted key", untrusted, |e| {
            matches!(
                e,
                InstallError::Verify(VerifyError::UnknownPublisher { .. })
            ) && e.to_string().contains("chitin trust add chitin ed25519:")
        }),
        ("re-signed by another key", resigned, |e| {
            matches!(e, InstallError::Verify(VerifyError::BadSignature))
        }),
    ];
    for (what, bytes, check) in table {
        let err = do_install(&e, bytes, &opts(&e, true)).expect_err(what);
        assert!(check(&err), "{what}: unexpected error {err:?}");
        assert!(
            e.installed.get("notes").unwrap().is_none(),
            "{what}: installed anyway"
        );
        assert!(
            files_in(&e.installed.skill_dir("notes")).is_empty(),
            "{what}: left files behind"
        );
    }

    // Unsigned is accepted only on request, and recorded as unverified.
    let mut o = opts(&e, true);
    o.allow_unsigned = true;
    let r = do_install(&e, unsigned, &o).unwrap().record;
    assert!(!r.provenance.verified && r.provenance.publisher.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_publisher_key_needs_explicit_acceptance() {
    let mut e = env();
    do_install(&e, pack("0.1.0", "", &e.key).await, &opts(&e, true)).unwrap();
    // The publisher rotates keys and the user trusts the new one.
    let rotated = KeyPair::generate();
    e.trust
        .add("chitin", &keys::public_text(&rotated.pk))
        .unwrap();
    let v2 = pack("0.2.0", "", &rotated).await;
    let err = do_install(&e, v2.clone(), &opts(&e, true)).unwrap_err();
    assert!(matches!(err, InstallError::KeyChanged { .. }), "{err}");
    let mut o = opts(&e, true);
    o.accept_new_key = true;
    assert_eq!(do_install(&e, v2, &o).unwrap().record.version, "0.2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_install_leaves_the_old_version_runnable() {
    let e = env();
    do_install(&e, pack("0.1.0", "", &e.key).await, &opts(&e, true)).unwrap();
    let before = files_in(&e.installed.skill_dir("notes"));
    let mut o = opts(&e, true);
    o.fail_before_commit = true;
    let err = do_install(&e, pack("0.2.0", NEW_HOST, &e.key).await, &o).unwrap_err();
    assert!(matches!(err, InstallError::Interrupted));
    assert_eq!(e.installed.get("notes").unwrap().unwrap().version, "0.1.0");
    assert_eq!(
        files_in(&e.installed.skill_dir("notes")),
        before,
        "no partial files"
    );
    assert_eq!(ok(&run_installed(&e, "notes").await), "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_interrupted_installs_left_is_cleaned_but_a_running_install_is_not_touched() {
    let e = env();
    do_install(&e, pack("0.1.0", "", &e.key).await, &opts(&e, true)).unwrap();
    let dir = e.installed.skill_dir("notes");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    let leftover = |name: &str| {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        f.set_modified(old).unwrap();
        (path, f)
    };
    // (file, still held by an install in progress, expected to remain)
    let (abandoned, _a) = leftover(".incoming-abandoned");
    let (running, held) = leftover(".incoming-running");
    chitin::package::state::hold(&held).unwrap();
    let fresh = dir.join(".incoming-fresh");
    std::fs::write(&fresh, b"x").unwrap();
    drop(_a);
    assert_eq!(e.installed.clean_incoming(), 1);
    assert!(!abandoned.exists());
    assert!(running.exists(), "a held file belongs to a running install");
    assert!(
        fresh.exists(),
        "a fresh file may be an install about to lock it"
    );
    // The next install cleans too, and still works.
    drop(held);
    do_install(&e, pack("0.2.0", "", &e.key).await, &opts(&e, true)).unwrap();
    assert!(!running.exists());
    assert_eq!(ok(&run_installed(&e, "notes").await), "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_and_format_limits() {
    let e = env();
    let good = pack("0.1.0", "", &e.key).await;
    let mut small = opts(&e, true);
    small.max_bytes = Some(1024);
    assert!(matches!(
        do_install(&e, good.clone(), &small),
        Err(InstallError::Format(FormatError::TooLarge { .. }))
    ));
    let truncated = good[..good.len() / 2].to_vec();
    assert!(matches!(
        do_install(&e, truncated, &opts(&e, true)),
        Err(InstallError::Format(FormatError::Malformed))
    ));
    assert!(matches!(
        do_install(&e, b"\0asm\x01\0\0\0".to_vec(), &opts(&e, true)),
        Err(InstallError::Format(FormatError::NotComponent))
    ));
    assert!(matches!(
        do_install(&e, b"not wasm at all".to_vec(), &opts(&e, true)),
        Err(InstallError::Format(FormatError::NotComponent))
    ));
    let bare = std::fs::read(component("files")).unwrap();
    assert!(matches!(
        do_install(&e, bare, &opts(&e, true)),
        Err(InstallError::Format(FormatError::Missing(_)))
    ));
    // Two manifest sections (validly signed): refused as ambiguous.
    let mut m = Module::deserialize(&mut &good[..]).unwrap();
    m.sections.push(Section::Custom(CustomSection::new(
        MANIFEST_SECTION.into(),
        manifest("0.1.0", NEW_HOST).into_bytes(),
    )));
    let signed = e.key.sk.sign(m, None).unwrap();
    let mut dup = Vec::new();
    signed.serialize(&mut dup).unwrap();
    assert!(matches!(
        do_install(&e, dup, &opts(&e, true)),
        Err(InstallError::Format(FormatError::Duplicate(_)))
    ));
    let bad_manifest = replace_section(&good, MANIFEST_SECTION, b"[skill]\nname = 3\n".to_vec());
    assert!(matches!(
        do_install(&e, bad_manifest, &opts(&e, true)),
        Err(InstallError::Format(FormatError::Manifest(_)))
    ));
    assert!(e.installed.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_installs_check_the_pin() {
    let e = env();
    let server = TestServer::start();
    let bytes = pack("0.1.0", "", &e.key).await;
    let digest = chitin::cache::digest(&bytes);
    server.serve("notes.wasm", bytes);
    let url = format!("{}/files/notes.wasm", server.base());
    let fetched = fetch::get(&url, 64 << 20).await.unwrap();

    let mut o = opts(&e, true);
    o.sha256 = Some("00".repeat(32));
    assert!(matches!(
        do_install(&e, fetched.clone(), &o),
        Err(InstallError::PinMismatch { .. })
    ));
    assert!(e.installed.get("notes").unwrap().is_none());
    o.sha256 = Some(digest);
    do_install(&e, fetched, &o).unwrap();

    // Size cap while downloading; plain http only to loopback; 404s are errors.
    assert!(matches!(
        fetch::get(&url, 1000).await,
        Err(fetch::FetchError::TooLarge { .. })
    ));
    assert!(matches!(
        fetch::get("http://example.com/x.wasm", 1000).await,
        Err(fetch::FetchError::Scheme(_))
    ));
    assert!(
        fetch::get(&format!("{}/files/none.wasm", server.base()), 1000)
            .await
            .is_err()
    );
    let redirect = format!("{}/redirect?to={}", server.base(), url);
    assert!(fetch::get(&redirect, 64 << 20).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_cannot_redirect_a_secret_without_asking() {
    let e = env();
    let secret_to = |host: &str| {
        format!(
            "\n[[capabilities.net]]\nurl = \"https://{host}\"\n\n[[capabilities.secrets]]\nname = \"TOKEN\"\nhost = \"https://{host}\"\nprefix = \"Bearer \"\n"
        )
    };
    do_install(
        &e,
        pack("0.1.0", &secret_to("api.example.com"), &e.key).await,
        &opts(&e, true),
    )
    .unwrap();
    // Same secret name, sent somewhere else: asked again, not "kept".
    let v2 = pack("0.2.0", &secret_to("collector.example.net"), &e.key).await;
    let mut o = opts(&e, false);
    o.review.grant = vec![id("net:https://collector.example.net")];
    let err = do_install(&e, v2, &o).unwrap_err().to_string();
    assert!(
        err.contains("secret:TOKEN") && err.contains("collector.example.net"),
        "{err}"
    );
    let r = e.installed.get("notes").unwrap().unwrap();
    assert_eq!(r.version, "0.1.0");
    assert_eq!(r.grants.secrets[0].host, "https://api.example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigger_limits_need_approval() {
    let e = env();
    let greedy = pack(
        "0.1.0",
        "\n[limits]\nmemory_mib = 1024\ncpu_ms = 60000\n",
        &e.key,
    )
    .await;
    let err = do_install(&e, greedy.clone(), &opts(&e, false))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("limits") && err.contains("memory 1024 MiB (default 64 MiB)"),
        "{err}"
    );
    let mut o = opts(&e, false);
    o.review.grant = vec![id("fs:/workspace")];
    o.review.deny = vec![id("limits")];
    let r = do_install(&e, greedy.clone(), &o).unwrap().record;
    assert_eq!(
        r.grants.limits,
        chitin::capabilities::limits::Limits::default()
    );
    e.installed.remove("notes").unwrap();
    let r = do_install(&e, greedy, &opts(&e, true)).unwrap().record;
    assert_eq!(
        (r.grants.limits.memory_mib, r.grants.limits.cpu_ms),
        (1024, 60000)
    );
}
