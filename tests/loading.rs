//! Loading: the compiled-component cache (hit after miss, corrupt entries
//! ignored), and refusal of files that are not Chitin skills.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::cache::CacheStatus;
use chitin::skill::loader::LoadError;
use chitin::{HostConfig, SkillHost};
use support::*;

#[test]
fn cache_hits_after_a_miss_and_survives_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = component("files");
    let host = SkillHost::new(HostConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..HostConfig::default()
    })
    .unwrap();
    let first = host.load(&wasm).unwrap();
    assert_eq!(first.cache, CacheStatus::Miss);
    // A second host (a daemon restart) recompiles nothing.
    let host2 = SkillHost::new(HostConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..HostConfig::default()
    })
    .unwrap();
    let second = host2.load(&wasm).unwrap();
    assert_eq!(second.cache, CacheStatus::Hit);
    assert_eq!(first.digest, second.digest);

    // Flip a byte in the entry: it is ignored and rewritten, never loaded.
    let entry = host2.cache().unwrap().entry_path(&second.digest);
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    assert_eq!(host2.load(&wasm).unwrap().cache, CacheStatus::Miss);
    assert_eq!(host2.load(&wasm).unwrap().cache, CacheStatus::Hit);

    // Truncated entry: same.
    std::fs::write(&entry, &bytes[..100]).unwrap();
    assert_eq!(host2.load(&wasm).unwrap().cache, CacheStatus::Miss);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_entry_copied_under_another_skill_is_refused() {
    // What a skill with write access to the cache did: put its own compiled
    // entry (a valid one) in place of another skill's, so that skill's name
    // and grants would run its code. The copy is refused and recompiled.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let config = || HostConfig {
        cache_dir: Some(dir.path().join("cache")),
        cache_key_file: Some(key.clone()),
        ..HostConfig::default()
    };
    let host = SkillHost::new(config()).unwrap();
    let files = host.load(&component("files")).unwrap();
    let attacker = host.load(&component("hostile")).unwrap();
    let cache = host.cache().unwrap();
    std::fs::copy(
        cache.entry_path(&attacker.digest),
        cache.entry_path(&files.digest),
    )
    .unwrap();
    let restarted = SkillHost::new(config()).unwrap();
    let reloaded = restarted.load(&component("files")).unwrap();
    assert_eq!(
        reloaded.cache,
        CacheStatus::Miss,
        "the copied entry was loaded"
    );
    let out = restarted
        .call(
            &reloaded,
            &chitin::Grants::default(),
            &chitin::NoSecrets,
            "output",
            "{\"n\":3}",
        )
        .await;
    assert!(
        matches!(out.result, Err(chitin::CallError::UnknownTool(_))),
        "the files skill ran the attacker's code: {:?}",
        out.result
    );
    // Rewritten properly, it hits again.
    assert_eq!(
        restarted.load(&component("files")).unwrap().cache,
        CacheStatus::Hit
    );

    // An entry rewritten with another key (a forged header) is refused too.
    let other = tempfile::tempdir().unwrap();
    let forger = SkillHost::new(HostConfig {
        cache_dir: Some(other.path().join("cache")),
        cache_key_file: Some(other.path().join("key")),
        ..HostConfig::default()
    })
    .unwrap();
    let forged = forger.load(&component("hostile")).unwrap();
    std::fs::copy(
        forger.cache().unwrap().entry_path(&forged.digest),
        cache.entry_path(&forged.digest),
    )
    .unwrap();
    assert_eq!(
        restarted.load(&component("hostile")).unwrap().cache,
        CacheStatus::Miss
    );
}

#[test]
fn non_skills_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let h = host();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm\x0d\0\x01\0not really").unwrap();
    assert!(matches!(h.load(&garbage), Err(LoadError::Compile { .. })));

    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    assert!(matches!(h.load(&text), Err(LoadError::Compile { .. })));

    // A core module (not a component).
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    assert!(matches!(h.load(&core), Err(LoadError::Compile { .. })));

    // A valid, empty component: not a skill.
    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, b"\0asm\x0d\0\x01\0").unwrap();
    let err = h.load(&empty).unwrap_err();
    assert!(matches!(err, LoadError::NotASkill { .. }), "{err}");
    assert!(err.to_string().contains("chitin:skill/tools"), "{err}");

    let missing = dir.path().join("nope");
    assert!(matches!(h.load(&missing), Err(LoadError::NotFound { .. })));

    // A skill dir whose component was never built: the error says how to build it.
    let skill_dir = dir.path().join("s");
    std::fs::create_dir(&skill_dir).unwrap();
    std::fs::write(
        skill_dir.join("skill.toml"),
        "[skill]\nname='s'\nversion='1.0.0'\ndescription='d'\npublisher='p'\ncontract='0.1.0'\n",
    )
    .unwrap();
    let err = h.load(&skill_dir).unwrap_err().to_string();
    assert!(err.contains("s.wasm") && err.contains("build"), "{err}");

    // A bad manifest is refused before anything is compiled.
    std::fs::write(
        skill_dir.join("skill.toml"),
        "[skill]\nname='s'\nversion='1.0.0'\ndescription='d'\npublisher='p'\ncontract='0.9.0'\n",
    )
    .unwrap();
    let err = h.load(&skill_dir).unwrap_err().to_string();
    assert!(
        err.contains("skill.contract") && err.contains("0.9.0"),
        "{err}"
    );
}
