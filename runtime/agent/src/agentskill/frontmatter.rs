//! SKILL.md: YAML frontmatter between `---` lines, then the Markdown body.
//! The fields follow the Agent Skills specification: `name` (1-64 of
//! `a-z`, `0-9`, `-`, no leading, trailing or doubled `-`, equal to the
//! folder's name), `description` (1-1024 characters), and the optional
//! `license`, `compatibility` (at most 500 characters), `metadata` (a map
//! of strings) and `allowed-tools` (space-separated). Anything else is
//! tolerated with a warning, never a failure.

use super::error::AgentSkillError;
use serde_yaml_ng::Value;

/// Largest frontmatter read (YAML is parsed only within it).
pub const MAX_FRONTMATTER_BYTES: usize = 64 * 1024;
/// Longest description (characters).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Longest compatibility note (characters).
pub const MAX_COMPATIBILITY_CHARS: usize = 500;
/// Body length the specification recommends staying under.
pub const BODY_LINES_ADVISED: usize = 500;

const KNOWN: [&str; 6] = [
    "name",
    "description",
    "license",
    "compatibility",
    "metadata",
    "allowed-tools",
];

/// The parsed frontmatter and body.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `license`.
    pub license: Option<String>,
    /// `compatibility`.
    pub compatibility: Option<String>,
    /// `allowed-tools`, split.
    pub allowed_tools: Vec<String>,
    /// `metadata`, as JSON (values of any shape; the spec says strings).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Everything after the closing `---`.
    pub body: String,
    /// Tolerated oddities.
    pub warnings: Vec<String>,
}

fn field(field: &'static str, why: impl Into<String>) -> AgentSkillError {
    AgentSkillError::Field {
        field,
        why: why.into(),
    }
}

/// Whether `name` follows the specification's naming rule.
pub fn spec_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("use 1-64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("use only lowercase letters a-z, digits and `-`".into());
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err("`-` may not start or end the name, or appear twice in a row".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("Chitin skill names start with a letter".into());
    }
    Ok(())
}

/// Split SKILL.md into frontmatter text and body.
fn split(text: &str) -> Result<(&str, &str), AgentSkillError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let no_fm = || {
        AgentSkillError::Frontmatter(
            "no frontmatter: the file must start with a `---` line, then YAML with `name` and `description`, then `---`".into(),
        )
    };
    let first_end = text.find('\n').ok_or_else(no_fm)?;
    if text[..first_end].trim_end() != "---" {
        return Err(no_fm());
    }
    let rest = &text[first_end + 1..];
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Ok((yaml, body));
        }
        offset += line.len();
        if offset > MAX_FRONTMATTER_BYTES {
            break;
        }
    }
    if offset > MAX_FRONTMATTER_BYTES {
        return Err(AgentSkillError::Frontmatter(format!(
            "the frontmatter is longer than {MAX_FRONTMATTER_BYTES} bytes (or its closing `---` is missing)"
        )));
    }
    Err(AgentSkillError::Frontmatter(
        "the frontmatter is not terminated: no closing `---` line".into(),
    ))
}

fn string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parse SKILL.md text; `folder` is the skill folder's name, if known.
pub fn parse(text: &str, folder: Option<&str>) -> Result<Parsed, AgentSkillError> {
    let (yaml, body) = split(text)?;
    let value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| {
        AgentSkillError::Frontmatter(format!(
            "the frontmatter is not valid YAML: {}",
            chitin_sandbox::text::one_line(&e.to_string(), 300)
        ))
    })?;
    let Value::Mapping(map) = value else {
        return Err(AgentSkillError::Frontmatter(
            "the frontmatter is not a YAML map of `key: value` lines".into(),
        ));
    };
    let mut out = Parsed {
        body: body.to_string(),
        ..Parsed::default()
    };
    let get = |k: &str| map.get(Value::String(k.to_string()));
    for key in map.keys() {
        match key.as_str() {
            Some(k) if KNOWN.contains(&k) => {}
            Some(k) => out.warnings.push(format!(
                "unknown frontmatter key `{}` (ignored)",
                chitin_sandbox::text::one_line(k, 64)
            )),
            None => out
                .warnings
                .push("a frontmatter key is not a string (ignored)".into()),
        }
    }

    let name = get("name").ok_or_else(|| field("name", "missing; add `name: <folder name>`"))?;
    let name = name
        .as_str()
        .ok_or_else(|| field("name", "must be a string"))?;
    spec_name(name).map_err(|why| {
        field(
            "name",
            format!("`{}`: {why}", chitin_sandbox::text::one_line(name, 80)),
        )
    })?;
    if let Some(folder) = folder
        && folder != name
    {
        return Err(field(
            "name",
            format!(
                "`{name}` does not match the folder's name `{}`; rename one of them",
                chitin_sandbox::text::one_line(folder, 80)
            ),
        ));
    }
    out.name = name.to_string();

    let description = get("description").ok_or_else(|| {
        field(
            "description",
            "missing; say what the skill does and when to use it",
        )
    })?;
    let description = description
        .as_str()
        .ok_or_else(|| field("description", "must be a string"))?;
    if description.trim().is_empty() {
        return Err(field("description", "must not be empty"));
    }
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(field(
            "description",
            format!("is {chars} characters, over the {MAX_DESCRIPTION_CHARS}-character limit"),
        ));
    }
    out.description = description.to_string();

    match get("license") {
        None | Some(Value::Null) => {}
        Some(v) => match string(v) {
            Some(s) => out.license = Some(s),
            None => out
                .warnings
                .push("`license` is not a string (ignored)".into()),
        },
    }
    match get("compatibility") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let s = string(v).ok_or_else(|| field("compatibility", "must be a string"))?;
            let n = s.chars().count();
            if n > MAX_COMPATIBILITY_CHARS {
                return Err(field(
                    "compatibility",
                    format!(
                        "is {n} characters, over the {MAX_COMPATIBILITY_CHARS}-character limit"
                    ),
                ));
            }
            out.compatibility = Some(s);
        }
    }
    match get("allowed-tools") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.allowed_tools = s.split_whitespace().map(str::to_string).collect();
        }
        Some(Value::Sequence(items)) => {
            out.warnings.push(
                "`allowed-tools` is a list; the specification says a space-separated string".into(),
            );
            out.allowed_tools = items.iter().filter_map(string).collect();
        }
        Some(_) => out
            .warnings
            .push("`allowed-tools` is not a string (ignored)".into()),
    }
    match get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                let Some(k) = k.as_str() else {
                    out.warnings
                        .push("a `metadata` key is not a string (ignored)".into());
                    continue;
                };
                let shown = chitin_sandbox::text::one_line(k, 64);
                if !matches!(v, Value::String(_)) && k != "openclaw" {
                    out.warnings.push(format!(
                        "`metadata.{shown}` is not a string (the specification says string values)"
                    ));
                }
                match serde_json::to_value(v) {
                    Ok(j) => {
                        out.metadata.insert(k.to_string(), j);
                    }
                    Err(_) => out
                        .warnings
                        .push(format!("`metadata.{shown}` cannot be read (ignored)")),
                }
            }
        }
        Some(_) => out
            .warnings
            .push("`metadata` is not a map (ignored)".into()),
    }
    let lines = out.body.lines().count();
    if lines > BODY_LINES_ADVISED {
        out.warnings.push(format!(
            "the SKILL.md body is {lines} lines, over the {BODY_LINES_ADVISED} the specification advises (move detail into references/)"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(fm: &str) -> Parsed {
        parse(&format!("---\n{fm}\n---\n# Body\n"), Some("pdf-tools")).unwrap()
    }

    fn err(text: &str) -> String {
        parse(text, Some("pdf-tools")).unwrap_err().to_string()
    }

    #[test]
    fn good_frontmatter_and_body() {
        let p = ok(
            "name: pdf-tools\ndescription: Fill PDF forms.\nlicense: MIT\ncompatibility: needs python\nallowed-tools: Bash(git:*) Read\nmetadata:\n  version: \"1.2.0\"\n  author: me",
        );
        assert_eq!(p.name, "pdf-tools");
        assert_eq!(p.description, "Fill PDF forms.");
        assert_eq!(p.license.as_deref(), Some("MIT"));
        assert_eq!(p.allowed_tools, ["Bash(git:*)", "Read"]);
        assert_eq!(p.metadata["version"], "1.2.0");
        assert_eq!(p.body, "# Body\n");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let crlf = parse(
            "---\r\nname: pdf-tools\r\ndescription: d\r\n---\r\nbody",
            None,
        )
        .unwrap();
        assert_eq!(crlf.body, "body");
    }

    #[test]
    fn oddities_warn() {
        let p = ok("name: pdf-tools\ndescription: d\nhomepage: x\nmetadata:\n  n: 3");
        assert!(
            p.warnings.iter().any(|w| w.contains("homepage")),
            "{:?}",
            p.warnings
        );
        assert!(
            p.warnings.iter().any(|w| w.contains("metadata.n")),
            "{:?}",
            p.warnings
        );
        let long = parse(
            &format!(
                "---\nname: x\ndescription: d\n---\n{}",
                "line\n".repeat(501)
            ),
            None,
        )
        .unwrap();
        assert!(
            long.warnings.iter().any(|w| w.contains("501 lines")),
            "{:?}",
            long.warnings
        );
    }

    #[test]
    fn invalid_frontmatter_is_refused_with_the_reason() {
        for (text, needle) in [
            ("# no frontmatter\n", "no frontmatter"),
            ("---\nname: pdf-tools\ndescription: d\n", "not terminated"),
            ("---\n- a\n- b\n---\n", "not a YAML map"),
            ("---\nname: [unclosed\n---\n", "not valid YAML"),
            ("---\ndescription: d\n---\n", "`name`: missing"),
            ("---\nname: other\ndescription: d\n---\n", "does not match"),
            ("---\nname: Pdf_Tools\ndescription: d\n---\n", "lowercase"),
            ("---\nname: -pdf\ndescription: d\n---\n", "`-`"),
            ("---\nname: pdf--tools\ndescription: d\n---\n", "`-`"),
            ("---\nname: pdf-tools\n---\n", "`description`: missing"),
            ("---\nname: pdf-tools\ndescription: \"  \"\n---\n", "empty"),
        ] {
            let e = err(text);
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let e = err(&format!(
            "---\nname: pdf-tools\ndescription: {}\n---\n",
            "d".repeat(1025)
        ));
        assert!(e.contains("1025") && e.contains("1024"), "{e}");
        let e = err(&format!(
            "---\nname: pdf-tools\ndescription: d\ncompatibility: {}\n---\n",
            "c".repeat(501)
        ));
        assert!(e.contains("500"), "{e}");
    }
}
