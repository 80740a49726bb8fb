//! Benchmarks: a warm tool call (fresh Store from the InstancePre + a
//! trivial tool) through Chitin, the same call on raw wasmtime (the floor),
//! spawning a process that does the same trivial work (the baseline that
//! matters), and cold loads with and without the compiled-component cache.
//!
//! Run: `scripts/build-skills && cargo bench -p chitin --profile dev --bench calls`
//! The summary (medians and ratios, all from this run) is printed at the end
//! and written to target/criterion/summary.md.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chitin::audit::Audit;
use chitin::capabilities::Grants;
use chitin::capabilities::descriptors::Descriptors;
use chitin::capabilities::net::NetHooks;
use chitin::skill::bindings::{Skill, SkillPre, chitin::skill::log};
use chitin::{HostConfig, NoSecrets, SkillHost};
use common::root;
use criterion::{Criterion, criterion_group};
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

fn component() -> PathBuf {
    let p = root().join("target/wasm32-wasip2/release/skill_hostile.wasm");
    assert!(p.exists(), "build the skills first: scripts/build-skills");
    p
}

const INPUT: &str = r#"{"n":3}"#;

/// Minimal store state for the raw-wasmtime floor: no grants, no policy.
struct Raw {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    /// Never invoked by this skill; wasi:http needs some hooks.
    hooks: NetHooks,
}

impl WasiView for Raw {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Raw {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl log::Host for Raw {
    fn log(&mut self, _: log::Level, _: String) {}
}

fn warm_calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("warm_call");

    let grants = Grants::default();
    // (benchmark name, pooling allocator)
    let mut hosts = Vec::new();
    for (name, pooling) in [("chitin", true), ("chitin_on_demand", false)] {
        let host = SkillHost::new(HostConfig {
            pooling,
            ..HostConfig::default()
        })
        .unwrap();
        let skill = host.load(&component()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let out = rt.block_on(host.call(&skill, &grants, &NoSecrets, "output", INPUT));
                assert_eq!(out.result.as_deref(), Ok("AAA"));
            })
        });
        hosts.push(host);
    }

    // The floor: the same engine (same allocator), a minimal store, no policy.
    let engine = hosts[0].engine().engine().clone();
    let mut linker = Linker::<Raw>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    log::add_to_linker::<Raw, HasSelf<Raw>>(&mut linker, |s| s).unwrap();
    let comp = wasmtime::component::Component::from_file(&engine, component()).unwrap();
    let pre = SkillPre::new(linker.instantiate_pre(&comp).unwrap()).unwrap();
    g.bench_function("raw_wasmtime", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut store = Store::new(
                    &engine,
                    Raw {
                        wasi: WasiCtx::builder().build(),
                        http: WasiHttpCtx::new(),
                        table: ResourceTable::new(),
                        hooks: NetHooks::new(
                            Vec::new(),
                            Vec::new(),
                            chitin::redact::Redactor::default(),
                            Audit::default(),
                            0,
                            0,
                            Descriptors::new(),
                        ),
                    },
                );
                // Same engine as Chitin, so epoch interruption is on: give
                // the floor a deadline it never reaches.
                store.set_epoch_deadline(u64::MAX / 2);
                let inst: Skill = pre.instantiate_async(&mut store).await.unwrap();
                let out = inst
                    .chitin_skill_tools()
                    .call_call(&mut store, "output", INPUT)
                    .await
                    .unwrap();
                assert!(matches!(out.as_deref(), Ok("AAA")));
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("process_spawn");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("printf", |b| {
        b.iter(|| {
            let out = std::process::Command::new("printf")
                .arg("AAA")
                .output()
                .unwrap();
            assert_eq!(out.stdout, b"AAA");
        })
    });
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .output()
        .is_ok()
    {
        g.bench_function("python3", |b| {
            b.iter(|| {
                let out = std::process::Command::new("python3")
                    .args(["-c", "print('A'*3, end='')"])
                    .output()
                    .unwrap();
                assert_eq!(out.stdout, b"AAA");
            })
        });
    }
    g.finish();
}

fn cold_loads(c: &mut Criterion) {
    let mut g = c.benchmark_group("cold_load");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    let wasm = component();
    let uncached = SkillHost::new(HostConfig {
        pooling: false,
        ..HostConfig::default()
    })
    .unwrap();
    g.bench_function("compile", |b| b.iter(|| uncached.load(&wasm).unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let cached = SkillHost::new(HostConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        pooling: false,
        ..HostConfig::default()
    })
    .unwrap();
    cached.load(&wasm).unwrap();
    g.bench_function("cache_hit", |b| {
        b.iter(|| {
            let s = cached.load(&wasm).unwrap();
            assert_eq!(s.cache, chitin::cache::CacheStatus::Hit);
        })
    });
    g.finish();
}

fn summary() {
    let rows = [
        (
            "warm_call",
            "chitin",
            "warm call through Chitin (pooling allocator, the default)",
        ),
        (
            "warm_call",
            "chitin_on_demand",
            "same, with on-demand allocation",
        ),
        (
            "warm_call",
            "raw_wasmtime",
            "same call on raw wasmtime, same engine (floor)",
        ),
        (
            "process_spawn",
            "printf",
            "spawn `printf AAA` (process baseline)",
        ),
        (
            "process_spawn",
            "python3",
            "spawn `python3 -c ...` (interpreter baseline)",
        ),
        ("cold_load", "compile", "cold load, no cache (compile)"),
        (
            "cold_load",
            "cache_hit",
            "cold load from the compiled cache",
        ),
    ];
    common::ratio_table(
        ("warm_call", "chitin"),
        "Chitin warm call",
        &rows,
        "summary.md",
    );
}

criterion_group!(benches, warm_calls, cold_loads);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
