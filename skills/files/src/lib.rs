//! `files`: list, read, write and search files inside the directory the user
//! granted (mounted at `/workspace`). Paths are relative to that directory;
//! the sandbox, not this code, is what keeps the skill inside it.

use chitin_skill_sdk::prelude::*;
use std::path::{Path, PathBuf};

const ROOT: &str = "/workspace";
const MAX_READ: u64 = 1024 * 1024;
const MAX_MATCHES: usize = 200;

#[derive(Deserialize)]
struct PathInput {
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct WriteInput {
    path: String,
    content: String,
    #[serde(default)]
    append: bool,
}

#[derive(Deserialize)]
struct SearchInput {
    query: String,
    #[serde(default)]
    path: String,
}

#[derive(Serialize)]
struct Entry {
    name: String,
    kind: &'static str,
    size: u64,
}

#[derive(Serialize)]
struct Match {
    path: String,
    line: usize,
    text: String,
}

/// Map a workspace-relative path into the mount, refusing early (with a
/// clear `denied`) when no directory was granted at all.
fn resolve(rel: &str) -> Result<PathBuf, ToolError> {
    if std::fs::metadata(ROOT).is_err() {
        return Err(ToolError::Denied(format!(
            "filesystem: no directory is granted at {ROOT}"
        )));
    }
    let rel = rel.trim_start_matches('/');
    let rel = rel.strip_prefix("workspace/").unwrap_or(rel);
    Ok(Path::new(ROOT).join(rel))
}

fn list(input: PathInput) -> Result<Vec<Entry>, ToolError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(resolve(&input.path)?)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let kind = if meta.is_dir() {
            "dir"
        } else if meta.is_file() {
            "file"
        } else {
            "other"
        };
        out.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            kind,
            size: meta.len(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn read(input: PathInput) -> Result<String, ToolError> {
    let path = resolve(&input.path)?;
    let len = std::fs::metadata(&path)?.len();
    if len > MAX_READ {
        return Err(ToolError::failed(format!(
            "{} is {len} bytes; the limit is {MAX_READ}",
            input.path
        )));
    }
    let bytes = std::fs::read(&path)?;
    String::from_utf8(bytes)
        .map_err(|_| ToolError::failed(format!("{} is not UTF-8 text", input.path)))
}

fn write(input: WriteInput) -> Result<Value, ToolError> {
    use std::io::Write;
    let path = resolve(&input.path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(input.append)
        .truncate(!input.append)
        .open(&path)?;
    file.write_all(input.content.as_bytes())?;
    Ok(json!({ "path": input.path, "bytes": input.content.len() }))
}

fn search_dir(dir: &Path, query: &str, out: &mut Vec<Match>) -> Result<(), ToolError> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            search_dir(&path, query, out)?;
        } else if kind.is_file() && entry.metadata()?.len() <= MAX_READ {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for (i, line) in text.lines().enumerate() {
                if line.contains(query) {
                    let rel = path.strip_prefix(ROOT).unwrap_or(&path);
                    out.push(Match {
                        path: rel.display().to_string(),
                        line: i + 1,
                        text: line.to_string(),
                    });
                    if out.len() >= MAX_MATCHES {
                        return Ok(());
                    }
                }
            }
        }
        if out.len() >= MAX_MATCHES {
            break;
        }
    }
    Ok(())
}

fn search(input: SearchInput) -> Result<Vec<Match>, ToolError> {
    if input.query.is_empty() {
        return Err(ToolError::invalid("query must not be empty"));
    }
    let mut out = Vec::new();
    search_dir(&resolve(&input.path)?, &input.query, &mut out)?;
    Ok(out)
}

fn path_schema() -> Value {
    json!({"type": "object", "properties": {"path": {"type": "string",
        "description": "Path relative to the granted directory; empty for its root"}}})
}

fn skill() -> Skill {
    Skill::new()
        .tool(
            Tool::new("list", "List the entries of a directory inside the workspace.", path_schema())
                .effects([Effect::ReadsFiles]),
            list,
        )
        .tool(
            Tool::new("read", "Read a UTF-8 text file (up to 1 MiB) from the workspace.", path_schema())
                .effects([Effect::ReadsFiles]),
            read,
        )
        .tool(
            Tool::new(
                "write",
                "Write (or append to) a text file in the workspace, creating directories as needed.",
                json!({"type": "object", "required": ["path", "content"], "properties": {
                    "path": {"type": "string"}, "content": {"type": "string"},
                    "append": {"type": "boolean", "default": false}}}),
            )
            .effects([Effect::WritesFiles]),
            write,
        )
        .tool(
            Tool::new(
                "search",
                "Find lines containing a text in the workspace's files (at most 200 matches).",
                json!({"type": "object", "required": ["query"], "properties": {
                    "query": {"type": "string"}, "path": {"type": "string"}}}),
            )
            .effects([Effect::ReadsFiles]),
            search,
        )
}

chitin_skill_sdk::export_skill!(skill);
