//! Which of a skill's scripts can run in Chitin's sandbox: Python and
//! JavaScript run in interpreter components; anything else (shell, other
//! languages, binaries) would need a host program and is not offered.

use super::{Runner, Script};
use std::collections::BTreeMap;

/// How a file under `scripts/` would be run, from its extension, else its
/// `#!` line.
pub fn runner(path: &str, bytes: &[u8]) -> Runner {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.contains('/'));
    match ext.as_deref() {
        Some("py") => return Runner::Python,
        Some("js" | "mjs" | "cjs") => return Runner::JavaScript,
        Some("sh" | "bash" | "zsh" | "fish" | "ps1" | "bat" | "cmd") => {
            return Runner::Host("a shell script".into());
        }
        Some("ts" | "mts" | "tsx") => {
            return Runner::Host("a TypeScript file (the sandbox runs JavaScript only)".into());
        }
        _ => {}
    }
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    if let Some(shebang) = first.strip_prefix("#!") {
        let prog = shebang
            .split_whitespace()
            .find(|w| !w.ends_with("/env") && !w.starts_with('-'))
            .map(|w| w.rsplit('/').next().unwrap_or(w))
            .unwrap_or_default();
        return match prog {
            p if p.starts_with("python") => Runner::Python,
            "node" => Runner::JavaScript,
            "sh" | "bash" | "zsh" | "dash" => Runner::Host("a shell script".into()),
            other => Runner::Host(format!(
                "run by `{}`, a host program",
                chitin_sandbox::text::one_line(other, 40)
            )),
        };
    }
    let why = match ext.as_deref() {
        Some(e) => format!(
            "a `.{}` file, not Python or JavaScript",
            chitin_sandbox::text::one_line(e, 16)
        ),
        None => "not Python or JavaScript".into(),
    };
    Runner::Host(why)
}

/// Every file under `scripts/`, with its runner.
pub fn all(files: &BTreeMap<String, Vec<u8>>) -> Vec<Script> {
    files
        .iter()
        .filter(|(p, _)| p.starts_with("scripts/"))
        .map(|(p, b)| Script {
            path: p.clone(),
            runner: runner(p, b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runners() {
        assert_eq!(runner("scripts/a.py", b""), Runner::Python);
        assert_eq!(runner("scripts/a.mjs", b""), Runner::JavaScript);
        assert!(matches!(runner("scripts/run.sh", b""), Runner::Host(w) if w.contains("shell")));
        assert_eq!(
            runner("scripts/tool", b"#!/usr/bin/env python3\n"),
            Runner::Python
        );
        assert_eq!(
            runner("scripts/tool", b"#!/usr/bin/env node\n"),
            Runner::JavaScript
        );
        assert!(matches!(
            runner("scripts/tool", b"#!/bin/bash\n"),
            Runner::Host(_)
        ));
        assert!(matches!(runner("scripts/x.rb", b"puts 1"), Runner::Host(w) if w.contains(".rb")));
    }
}
