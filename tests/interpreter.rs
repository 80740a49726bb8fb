//! The code interpreters (`skills/interp-python`, `skills/interp-js`, built
//! by scripts/build-interpreters) run untrusted code in the real sandbox:
//! the code's results and mistakes come back as JSON results; CPU and memory
//! limits stop it; processes, raw sockets, ungranted hosts and files outside
//! the grants are refused (and audited); one call's scratch directory is
//! invisible to the next; output is capped. Each security test also grants
//! what it denied once, to show its assertion would notice a missing check.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::capabilities::fs::{Access, FsGrant};
use chitin::capabilities::net::rules::NetRule;
use chitin::{CallError, CallOutcome, Capability, Grants, LoadedSkill};
use serde_json::{Value, json};
use std::sync::Once;
use std::time::Duration;
use support::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lang {
    Py,
    Js,
}
use Lang::{Js, Py};

const LANGS: [Lang; 2] = [Py, Js];

/// Build both interpreters (once per test binary; quick when up to date).
fn build() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let out = std::process::Command::new(root().join("scripts/build-interpreters"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/build-interpreters: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn skill(lang: Lang) -> LoadedSkill {
    build();
    let dir = match lang {
        Py => "interp-python",
        Js => "interp-js",
    };
    host().load(&root().join("skills").join(dir)).unwrap()
}

/// The limits the interpreter's manifest asks for (what the host grants it).
fn grants(lang: Lang) -> Grants {
    let manifest = skill(lang).manifest.unwrap();
    Grants {
        limits: manifest.requested_limits(),
        ..Grants::default()
    }
}

fn with_scratch(lang: Lang, dir: &std::path::Path) -> Grants {
    Grants {
        fs: vec![FsGrant::new(dir, "/scratch", Access::ReadWrite).unwrap()],
        ..grants(lang)
    }
}

async fn run_with(lang: Lang, grants: &Grants, input: Value) -> CallOutcome {
    call(&skill(lang), grants, "run", input).await
}

/// Run `code` and return the parsed result object (the call must succeed).
async fn run(lang: Lang, grants: &Grants, code: &str) -> Value {
    let out = run_with(lang, grants, json!({ "code": code })).await;
    serde_json::from_str(ok(&out)).unwrap()
}

fn stderr(v: &Value) -> &str {
    v["stderr"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calculations_and_output_come_back_as_json() {
    // (language, code, result, stdout)
    let table: &[(Lang, &str, Value, &str)] = &[
        (Py, "1+1", json!("2"), ""),
        (Py, "print('hi'); print(6*7)", Value::Null, "hi\n42\n"),
        (Py, "sum(range(10**6))", json!("499999500000"), ""),
        (Py, "x = 'a'\nx * 3", json!("'aaa'"), ""),
        (Js, "1+1", json!("2"), ""),
        (
            Js,
            "console.log('hi'); console.log(6*7)",
            Value::Null,
            "hi\n42\n",
        ),
        (
            Js,
            "let s = 0; for (let i = 0; i < 1e6; i++) s += i; s",
            json!("499999500000"),
            "",
        ),
        (
            Js,
            "Promise.resolve(40).then((x) => x + 2)",
            json!("42"),
            "",
        ),
    ];
    for (lang, code, result, stdout) in table {
        let v = run(*lang, &grants(*lang), code).await;
        assert_eq!(v["exit_code"], 0, "{lang:?} {code}: {v}");
        assert_eq!(&v["result"], result, "{lang:?} {code}: {v}");
        assert_eq!(v["stdout"], *stdout, "{lang:?} {code}: {v}");
        assert_eq!(v["truncated"], false, "{lang:?} {code}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn args_stdin_filename_exit_codes_and_exceptions() {
    for lang in LANGS {
        let g = grants(lang);
        let (echo, exit3, raise) = match lang {
            Py => (
                "import sys\nprint(sys.argv[1:], sys.stdin.read())",
                "import sys; sys.exit(3)",
                "def f():\n    raise ValueError('boom')\nf()",
            ),
            Js => (
                "console.log(JSON.stringify(process.argv.slice(2)), process.stdin.read())",
                "process.exit(3)",
                "function f() { throw new RangeError('boom'); }\nf()",
            ),
        };
        let input = json!({"code": echo, "args": ["a", "b c"], "stdin": "in put"});
        let v: Value = serde_json::from_str(ok(&run_with(lang, &g, input).await)).unwrap();
        let want = match lang {
            Py => "['a', 'b c'] in put\n",
            Js => "[\"a\",\"b c\"] in put\n",
        };
        assert_eq!(v["stdout"], want, "{lang:?}");
        assert_eq!(run(lang, &g, exit3).await["exit_code"], 3, "{lang:?}");
        let input = json!({"code": raise, "filename": "/skill/scripts/tool.x"});
        let v: Value = serde_json::from_str(ok(&run_with(lang, &g, input).await)).unwrap();
        assert_eq!(v["exit_code"], 1, "{lang:?}: {v}");
        assert!(stderr(&v).contains("boom"), "{lang:?}: {v}");
        assert!(
            stderr(&v).contains("/skill/scripts/tool.x"),
            "{lang:?}: {v}"
        );
        // A syntax error is the code's mistake too, not a tool error.
        let v = run(lang, &g, "1 +* (").await;
        assert_eq!(v["exit_code"], 1, "{lang:?}: {v}");
        assert!(stderr(&v).contains("SyntaxError"), "{lang:?}: {v}");
        // Bad input is.
        for input in [
            json!({}),
            json!({"code": 1}),
            json!({"code": "1", "args": "x"}),
        ] {
            let out = run_with(lang, &g, input.clone()).await;
            assert!(
                matches!(out.result, Err(CallError::InvalidInput(_))),
                "{lang:?} {input}: {:?}",
                out.result
            );
        }
        // Nothing leaks from one call to the next: a fresh instance each.
        let set = match lang {
            Py => "import sys; sys.leak = 1; leak = 1",
            Js => "globalThis.leak = 1",
        };
        run(lang, &g, set).await;
        let check = match lang {
            Py => "import sys; hasattr(sys, 'leak') or 'leak' in globals()",
            Js => "typeof leak !== 'undefined'",
        };
        let v = run(lang, &g, check).await;
        assert_eq!(v["result"], if lang == Py { "False" } else { "false" });
    }
}

/// Python's standard library as offered (skills/interp-python/interp_preload.py):
/// each line must print `True`.
const PY_STDLIB: &[(&str, &str)] = &[
    ("json", "import json; json.loads('[1]') == [1]"),
    ("re", "import re; re.sub(r'\\d+', '#', 'a1b22') == 'a#b#'"),
    ("math", "import math; math.isclose(math.sqrt(2) ** 2, 2)"),
    (
        "datetime",
        "import datetime; (datetime.date(2024, 3, 1) - datetime.timedelta(days=1)).day == 29",
    ),
    (
        "csv",
        "import csv, io; list(csv.reader(io.StringIO('a,b\\n1,2\\n'))) == [['a', 'b'], ['1', '2']]",
    ),
    (
        "collections",
        "import collections; collections.Counter('abca').most_common(1) == [('a', 2)]",
    ),
    (
        "statistics",
        "import statistics; statistics.median([3, 1, 2]) == 2",
    ),
    (
        "decimal",
        "import decimal; decimal.Decimal('0.1') + decimal.Decimal('0.2') == decimal.Decimal('0.3')",
    ),
    (
        "fractions",
        "import fractions; fractions.Fraction(1, 3) * 3 == 1",
    ),
    (
        "itertools",
        "import itertools; list(itertools.combinations('abc', 2))[0] == ('a', 'b')",
    ),
    (
        "textwrap",
        "import textwrap; textwrap.wrap('aa bb cc', 5) == ['aa bb', 'cc']",
    ),
    (
        "base64",
        "import base64; base64.b64encode(b'hi') == b'aGk='",
    ),
    (
        "hashlib",
        "import hashlib; hashlib.sha256(b'abc').hexdigest()[:8] == 'ba7816bf'",
    ),
    ("random", "import random; 0 <= random.random() < 1"),
    (
        "sqlite3",
        "import sqlite3; c = sqlite3.connect(':memory:'); c.execute('create table t(x)'); c.execute('insert into t values (41)'); c.execute('select x + 1 from t').fetchone() == (42,)",
    ),
    (
        "zlib",
        "import zlib; zlib.decompress(zlib.compress(b'x' * 99)) == b'x' * 99",
    ),
    (
        "gzip",
        "import gzip; gzip.decompress(gzip.compress(b'y')) == b'y'",
    ),
    (
        "zipfile",
        "import zipfile, io; b = io.BytesIO(); z = zipfile.ZipFile(b, 'w'); z.writestr('a', 'hi'); z.close(); zipfile.ZipFile(b).read('a') == b'hi'",
    ),
    (
        "urllib.parse",
        "import urllib.parse; urllib.parse.urlsplit('https://h/p?q=1').query == 'q=1'",
    ),
    (
        "pathlib",
        "import pathlib; pathlib.PurePosixPath('/a/b.txt').suffix == '.txt'",
    ),
    ("io", "import io; io.StringIO('x').read() == 'x'"),
    (
        "struct",
        "import struct; struct.unpack('<I', struct.pack('<I', 7)) == (7,)",
    ),
    (
        "pickle",
        "import pickle; pickle.loads(pickle.dumps({'a': [1]})) == {'a': [1]}",
    ),
    ("uuid", "import uuid; uuid.uuid4().version == 4"),
    (
        "xml",
        "import xml.etree.ElementTree as E; E.fromstring('<a><b/></a>')[0].tag == 'b'",
    ),
    (
        "html.parser",
        "import html.parser; html.parser.HTMLParser().feed('<p>x</p>') is None",
    ),
    (
        "email",
        "import email; email.message_from_string('Subject: x\\n\\nbody')['Subject'] == 'x'",
    ),
    (
        "tomllib",
        "import tomllib; tomllib.loads('a = 1') == {'a': 1}",
    ),
    (
        "argparse",
        "import argparse; p = argparse.ArgumentParser(); p.add_argument('--x'); p.parse_args(['--x', '1']).x == '1'",
    ),
    (
        "unicodedata",
        "import unicodedata; unicodedata.name('a') == 'LATIN SMALL LETTER A'",
    ),
    (
        "heapq",
        "import heapq; heapq.nsmallest(2, [3, 1, 2]) == [1, 2]",
    ),
    ("time", "import time; time.time() > 1.6e9"),
];

/// JavaScript built-ins the engine offers: each must evaluate to `true`.
const JS_BUILTINS: &[(&str, &str)] = &[
    ("JSON", "JSON.parse('[1]')[0] === 1"),
    ("Math", "Math.hypot(3, 4) === 5"),
    ("RegExp", "'a1b22'.replace(/\\d+/g, '#') === 'a#b#'"),
    ("Date", "new Date(Date.UTC(2024, 2, 0)).getUTCDate() === 29"),
    ("BigInt", "2n ** 64n === 18446744073709551616n"),
    ("Map/Set", "new Map([[1, new Set([2])]]).get(1).has(2)"),
    (
        "TextEncoder",
        "new TextDecoder().decode(new TextEncoder().encode('é')) === 'é'",
    ),
    (
        "URL",
        "new URL('https://h/p?q=1').searchParams.get('q') === '1'",
    ),
    (
        "crypto",
        "crypto.getRandomValues(new Uint8Array(4)).length === 4",
    ),
    ("atob", "atob(btoa('hi')) === 'hi'"),
    ("structuredClone", "structuredClone({a: [1]}).a[0] === 1"),
    ("typed arrays", "new Float64Array([1.5])[0] === 1.5"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_library_offered_works() {
    for (lang, table) in [(Py, PY_STDLIB), (Js, JS_BUILTINS)] {
        let g = grants(lang);
        for (name, code) in table {
            let v = run(lang, &g, code).await;
            let want = if lang == Py { "True" } else { "true" };
            assert_eq!(v["result"], want, "{lang:?} {name}: {v}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    for lang in LANGS {
        let mut g = grants(lang);
        g.limits.cpu_ms = 500;
        let code = match lang {
            Py => "while True:\n    pass",
            Js => "for (;;) {}",
        };
        let out = run_with(lang, &g, json!({ "code": code })).await;
        assert!(
            matches!(out.result, Err(CallError::Limit(_))),
            "{lang:?}: {:?}",
            out.result
        );
        assert!(
            out.elapsed < Duration::from_secs(10),
            "{lang:?}: {:?}",
            out.elapsed
        );
        // The next call runs normally.
        assert_eq!(run(lang, &grants(lang), "1+1").await["result"], "2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    for lang in LANGS {
        let g = grants(lang);
        let code = match lang {
            Py => "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))",
            Js => "const chunks = []; for (;;) chunks.push(new Uint8Array(1 << 20).fill(1));",
        };
        let out = run_with(lang, &g, json!({ "code": code })).await;
        // Either the host stops the call at the limit, or the interpreter
        // sees the refused growth as its own out-of-memory error.
        let stopped = match &out.result {
            Err(CallError::Limit(m)) => m.contains("memory"),
            Ok(text) => {
                let v: Value = serde_json::from_str(text).unwrap();
                v["exit_code"] != 0 && stderr(&v).to_lowercase().contains("memory")
            }
            Err(_) => false,
        };
        assert!(stopped, "{lang:?}: {:?}", out.result);
        assert!(
            out.elapsed < Duration::from_secs(20),
            "{lang:?}: {:?}",
            out.elapsed
        );
        assert_eq!(run(lang, &g, "1+1").await["result"], "2", "{lang:?} after");
    }
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_cannot_be_started() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let py = [
        format!("import subprocess; subprocess.run({touch:?}, shell=True)"),
        format!("import subprocess; subprocess.Popen(['sh', '-c', {touch:?}])"),
        format!("import os; os.system({touch:?})"),
        format!("import os; os.popen({touch:?})"),
        "import os; os.fork()".to_string(),
        format!("import os; os.execv('/bin/sh', ['sh', '-c', {touch:?}])"),
        format!("import os; os.posix_spawn('/bin/sh', ['sh', '-c', {touch:?}], {{}})"),
        "import multiprocessing; multiprocessing.Process(target=print).start()".to_string(),
        "import threading; t = threading.Thread(target=print); t.start()".to_string(),
    ];
    let js = [
        format!("require('child_process').execSync({touch:?})"),
        format!("require('node:child_process').spawnSync('sh', ['-c', {touch:?}])"),
        "require('worker_threads')".to_string(),
        format!(
            "process.binding('spawn_sync').spawn({{file: 'sh', args: ['sh', '-c', {touch:?}]}})"
        ),
        "new Worker('x.js')".to_string(),
    ];
    let cases = py.iter().map(|c| (Py, c)).chain(js.iter().map(|c| (Js, c)));
    for (lang, code) in cases {
        let v = run(lang, &grants(lang), code).await;
        assert_ne!(v["exit_code"], 0, "{lang:?} {code}: {v}");
        assert!(!stderr(&v).is_empty(), "{lang:?} {code}: no error shown");
    }
    assert!(!marker.exists(), "a command ran on the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_socket_is_refused_and_audited() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'hello')"
    );
    let out = run_with(Py, &grants(Py), json!({ "code": code })).await;
    let v: Value = serde_json::from_str(ok(&out)).unwrap();
    assert_ne!(v["exit_code"], 0, "{v}");
    assert!(
        out.denials().any(|e| e.capability == Capability::Socket),
        "no socket denial in the audit: {:#?}",
        out.audit
    );
    // JavaScript has no socket API at all; its one way out is fetch, and an
    // ungranted loopback address is refused there.
    let v = run(Js, &grants(Js), "require('net')").await;
    assert_ne!(v["exit_code"], 0, "{v}");
    let code = format!("fetch('http://127.0.0.1:{port}/').then((r) => r.status)");
    let out = run_with(Js, &grants(Js), json!({ "code": code })).await;
    let v: Value = serde_json::from_str(ok(&out)).unwrap();
    assert_ne!(v["exit_code"], 0, "{v}");
    assert!(
        out.denials().any(|e| e.capability == Capability::Net),
        "no net denial in the audit: {:#?}",
        out.audit
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the listener saw a connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_goes_only_to_granted_hosts() {
    let server = TestServer::start();
    for lang in LANGS {
        let fetch = |url: &str| match lang {
            Py => format!(
                "from chitin_http import fetch\nr = fetch({url:?})\nprint(r.status, r.text())"
            ),
            Js => format!(
                "(async () => {{ const r = await fetch({url:?}); console.log(r.status, await r.text()); }})()"
            ),
        };
        let granted = Grants {
            net: vec![NetRule::parse(&server.base()).unwrap()],
            ..grants(lang)
        };
        let url = format!("{}/text", server.base());
        let before = server.requests().len();
        let v = run(lang, &granted, &fetch(&url)).await;
        assert_eq!(
            v["stdout"], "200 hello from the test server\n",
            "{lang:?}: {v}"
        );
        assert_eq!(server.requests().len(), before + 1, "{lang:?}");
        // The same server without the grant, and another host: refused.
        for (g, url) in [
            (grants(lang), url.as_str()),
            (granted.clone(), "http://example.com/"),
        ] {
            let out = run_with(lang, &g, json!({ "code": fetch(url) })).await;
            let v: Value = serde_json::from_str(ok(&out)).unwrap();
            assert_ne!(v["exit_code"], 0, "{lang:?} {url}: {v}");
            assert!(
                out.denials().any(|e| e.capability == Capability::Net),
                "{lang:?} {url}: no net denial: {:#?}",
                out.audit
            );
        }
        assert_eq!(
            server.requests().len(),
            before + 1,
            "{lang:?}: an ungranted request arrived"
        );
    }
}

/// Code that prints the file at `path`, or fails.
fn cat(lang: Lang, path: &str) -> String {
    match lang {
        Py => format!("print(open({path:?}).read(), end='')"),
        Js => format!("console.log(require('fs').readFileSync({path:?}, 'utf8'))"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_every_grant_cannot_be_read() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    let key = home.path().join(".ssh/id_rsa");
    std::fs::write(&key, "FAKE-PRIVATE-KEY-7f3a").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    for lang in LANGS {
        let g = with_scratch(lang, scratch.path());
        let host_key = key.display().to_string();
        for path in [
            "/etc/passwd",
            host_key.as_str(),
            "/scratch/../etc/passwd",
            "../../etc/passwd",
        ] {
            let v = run(lang, &g, &cat(lang, path)).await;
            assert_ne!(v["exit_code"], 0, "{lang:?} {path}: {v}");
            let all = v.to_string();
            assert!(
                !all.contains("root:") && !all.contains("FAKE-PRIVATE"),
                "{lang:?} {path}: {all}"
            );
        }
        // Granted, the same read works: the check above is the grant's doing.
        let exposed = with_scratch(lang, home.path());
        let v = run(lang, &exposed, &cat(lang, "/scratch/.ssh/id_rsa")).await;
        assert!(
            stderr(&v).is_empty() && v["stdout"].as_str().unwrap().contains("FAKE-PRIVATE"),
            "{lang:?}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_calls_scratch_is_invisible_to_a_call_with_another() {
    for lang in LANGS {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let write = match lang {
            Py => "open('note.txt', 'w').write('from call A')",
            Js => "require('fs').writeFileSync('note.txt', 'from call A')",
        };
        let v = run(lang, &with_scratch(lang, a.path()), write).await;
        assert_eq!(v["exit_code"], 0, "{lang:?}: {v}");
        assert_eq!(
            std::fs::read_to_string(a.path().join("note.txt")).unwrap(),
            "from call A"
        );
        let v = run(
            lang,
            &with_scratch(lang, b.path()),
            &cat(lang, "/scratch/note.txt"),
        )
        .await;
        assert_ne!(v["exit_code"], 0, "{lang:?}: {v}");
        assert!(!v.to_string().contains("from call A"), "{lang:?}: {v}");
        // The same read with A's directory finds it.
        let v = run(
            lang,
            &with_scratch(lang, a.path()),
            &cat(lang, "/scratch/note.txt"),
        )
        .await;
        assert!(
            v["stdout"].as_str().unwrap().contains("from call A"),
            "{lang:?}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_over_the_cap_is_truncated() {
    const CAP: usize = 64 * 1024;
    for lang in LANGS {
        let code = match lang {
            Py => {
                "import sys\nprint('x' * 200000)\nprint('e' * 100, file=sys.stderr)\n'r' * 100000"
            }
            Js => {
                "console.log('x'.repeat(200000)); console.error('e'.repeat(100)); 'r'.repeat(100000)"
            }
        };
        let v = run(lang, &grants(lang), code).await;
        assert_eq!(v["truncated"], true, "{lang:?}");
        assert_eq!(v["stdout"].as_str().unwrap().len(), CAP, "{lang:?}");
        assert_eq!(v["stderr"].as_str().unwrap().len(), 101, "{lang:?}");
        assert_eq!(v["result"].as_str().unwrap().len(), CAP, "{lang:?}");
        let small = run(lang, &grants(lang), "1").await;
        assert_eq!(small["truncated"], false, "{lang:?}");
    }
}
