//! `chitin skill new NAME --lang rust|python|c`: a working skill project
//! with one example tool, its `skill.toml`, the contract's WIT and a README
//! with the build and run commands.

use super::{BuildError, Lang, wit};
use std::path::Path;

const MANIFEST: &str = r#"[skill]
name = "{name}"
version = "0.1.0"
description = "Says hello (replace with what your skill does)"
publisher = "you"
contract = "0.1.0"
component = "{component}"

# Request what the skill needs; the user decides what to grant:
# [[capabilities.fs]]
# guest = "/workspace"
# access = "read-write"
# host = "$WORKSPACE"
# why = "the files it works on"
#
# [[capabilities.net]]
# url = "https://api.example.com"
"#;

const README: &str = r#"# {name}

A Chitin skill written in {lang_name}.

```sh
chitin skill build .                                  # {toolchain}
chitin skill tools .                                  # its tools and schemas
chitin skill run . greet -i '{"name":"Ada"}'          # run it in the sandbox
chitin skill pack . && chitin skill install {name}-0.1.0.wasm
```

The contract it builds against is in `wit/` (`chitin:skill@0.1.0`).
"#;

const RUST_CARGO: &str = r#"[package]
name = "skill-{name}"
version = "0.1.0"
edition = "2024"

# Its own workspace, wherever it is created.
[workspace]

[lib]
crate-type = ["cdylib"]

[dependencies]
chitin-skill-sdk = { path = "{sdk}" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true
strip = true
"#;

const RUST_LIB: &str = r#"use chitin_skill_sdk::prelude::*;

#[derive(Deserialize)]
struct Greet {
    name: String,
}

fn greet(input: Greet) -> Result<String, ToolError> {
    Ok(format!("hello, {}", input.name))
}

fn skill() -> Skill {
    Skill::new().tool(
        Tool::new(
            "greet",
            "Say hello to someone.",
            json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}),
        ),
        greet,
    )
}

chitin_skill_sdk::export_skill!(skill);
"#;

const PYTHON_APP: &str = r#"# A Chitin skill in Python, built with componentize-py.
# Files: plain open() on the guest paths you request (e.g. /workspace/...).
# Import every module at the top: only top-level imports are bundled.
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import chitin_skill_types as t


class Tools(exports.Tools):
    def list_tools(self) -> list[t.Tool]:
        schema = json.dumps({"type": "object", "required": ["name"],
                             "properties": {"name": {"type": "string"}}})
        return [t.Tool("greet", "Say hello to someone.", schema, [])]

    def call(self, name: str, input: str) -> str:
        try:
            args = json.loads(input)
        except ValueError as e:
            raise Err(t.ToolError_InvalidInput(str(e)))
        try:
            if name == "greet":
                return "hello, " + str(args["name"])
        except Err:
            raise
        except Exception as e:  # an uncaught exception would crash the call
            raise Err(t.ToolError_Failed(f"{type(e).__name__}: {e}"))
        raise Err(t.ToolError_UnknownTool(name))
"#;

const C_SKILL: &str = r#"// A Chitin skill in C (clang + wasi-libc). `skill.h` is generated from the
// contract at build time. Everything returned must be heap memory: the
// generated post-return code frees it. The callee frees `name` and `input`.
#include <stdlib.h>
#include <string.h>
#include "skill.h"

void exports_chitin_skill_tools_list_tools(exports_chitin_skill_tools_list_tool_t *ret) {
  ret->len = 1;
  ret->ptr = calloc(1, sizeof(exports_chitin_skill_tools_tool_t));
  skill_string_dup(&ret->ptr[0].name, "greet");
  skill_string_dup(&ret->ptr[0].description, "Say hello to someone.");
  skill_string_dup(&ret->ptr[0].input_schema,
                   "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"}}}");
}

bool exports_chitin_skill_tools_call(skill_string_t *name, skill_string_t *input,
                                     skill_string_t *ret,
                                     exports_chitin_skill_tools_tool_error_t *err) {
  char *n = strndup((const char *)name->ptr, name->len);
  char *in = strndup((const char *)input->ptr, input->len);
  skill_string_free(name);
  skill_string_free(input);
  bool ok = false;
  if (strcmp(n, "greet") == 0) {
    // Tiny extraction of "name":"..." to stay dependency-free.
    const char *k = strstr(in, "\"name\"");
    const char *q = k ? strchr(k + 6, '"') : NULL;
    const char *e = q ? strchr(q + 1, '"') : NULL;
    if (e) {
      size_t len = (size_t)(e - q - 1);
      char *out = malloc(len + 8);
      memcpy(out, "hello, ", 7);
      memcpy(out + 7, q + 1, len);
      out[len + 7] = 0;
      skill_string_dup(ret, out);
      free(out);
      ok = true;
    } else {
      err->tag = CHITIN_SKILL_TYPES_TOOL_ERROR_INVALID_INPUT;
      skill_string_dup(&err->val.invalid_input, "`name` must be a string");
    }
  } else {
    err->tag = CHITIN_SKILL_TYPES_TOOL_ERROR_UNKNOWN_TOOL;
    skill_string_dup(&err->val.unknown_tool, n);
  }
  free(n);
  free(in);
  return ok;
}
"#;

/// Create the project `dir` (must not exist) for skill `name` in `lang`.
pub fn create(dir: &Path, name: &str, lang: Lang) -> Result<(), BuildError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(BuildError::Wit(format!(
            "skill name `{name}`: use lowercase letters, digits and `-`, starting with a letter"
        )));
    }
    if dir.exists() {
        return Err(BuildError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists; choose another directory",
            ),
        });
    }
    let (component, lang_name, toolchain) = match lang {
        Lang::Rust => (
            format!(
                "target/wasm32-wasip2/release/skill_{}.wasm",
                name.replace('-', "_")
            ),
            "Rust",
            "cargo build --release --target wasm32-wasip2",
        ),
        Lang::Python => (format!("{name}.wasm"), "Python", "componentize-py"),
        Lang::C => (
            format!("{name}.wasm"),
            "C",
            "clang + wasi-libc, bindings generated by chitin",
        ),
    };
    let fill = |t: &str| {
        t.replace("{name}", name)
            .replace("{component}", &component)
            .replace("{lang_name}", lang_name)
            .replace("{toolchain}", toolchain)
    };
    let mut files: Vec<(&str, String)> =
        vec![("skill.toml", fill(MANIFEST)), ("README.md", fill(README))];
    match lang {
        Lang::Rust => {
            let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skill-sdk");
            let sdk = sdk.canonicalize().unwrap_or(sdk);
            files.push((
                "Cargo.toml",
                fill(RUST_CARGO).replace("{sdk}", &sdk.display().to_string()),
            ));
            files.push(("src/lib.rs", RUST_LIB.to_string()));
        }
        Lang::Python => files.push(("app.py", PYTHON_APP.to_string())),
        Lang::C => files.push(("skill.c", C_SKILL.to_string())),
    }
    for (rel, text) in files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
        }
        std::fs::write(&p, text).map_err(BuildError::io(&p))?;
    }
    wit::write_to(&dir.join("wit"))
}
