//! `github`: read repositories and issues from the GitHub REST API.
//!
//! The API token never enters this component: the host injects the user's
//! `GITHUB_TOKEN` secret into requests to the granted API host.

use chitin_skill_sdk::prelude::*;

const DEFAULT_API: &str = "https://api.github.com";

fn default_api() -> String {
    DEFAULT_API.to_string()
}

#[derive(Deserialize)]
struct RepoInput {
    owner: String,
    repo: String,
    /// API base URL, for GitHub Enterprise (must also be granted).
    #[serde(default = "default_api")]
    api: String,
}

#[derive(Deserialize)]
struct IssuesInput {
    owner: String,
    repo: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default = "default_api")]
    api: String,
}

fn segment(s: &str, what: &str) -> Result<(), ToolError> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "{what} `{s}` is not a valid GitHub name"
        )))
    }
}

fn get_json(url: &str) -> Result<Value, ToolError> {
    let resp = http::get(url)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "chitin-github-skill/0.1")
        .send()?;
    match resp.status {
        200 => serde_json::from_slice(&resp.body)
            .map_err(|e| ToolError::failed(format!("bad JSON from {url}: {e}"))),
        401 | 403 => Err(ToolError::failed(format!(
            "GitHub answered {} for {url}: is the GITHUB_TOKEN secret set and granted?",
            resp.status
        ))),
        404 => Err(ToolError::failed(format!("not found: {url}"))),
        s => Err(ToolError::failed(format!("GitHub answered {s} for {url}"))),
    }
}

fn repo(input: RepoInput) -> Result<Value, ToolError> {
    segment(&input.owner, "owner")?;
    segment(&input.repo, "repo")?;
    let v = get_json(&format!(
        "{}/repos/{}/{}",
        input.api.trim_end_matches('/'),
        input.owner,
        input.repo
    ))?;
    Ok(json!({
        "full_name": v["full_name"], "description": v["description"], "stars": v["stargazers_count"],
        "forks": v["forks_count"], "open_issues": v["open_issues_count"], "default_branch": v["default_branch"],
        "language": v["language"], "url": v["html_url"],
    }))
}

fn issues(input: IssuesInput) -> Result<Value, ToolError> {
    segment(&input.owner, "owner")?;
    segment(&input.repo, "repo")?;
    let state = input.state.unwrap_or_else(|| "open".into());
    if !["open", "closed", "all"].contains(&state.as_str()) {
        return Err(ToolError::invalid("state must be open, closed or all"));
    }
    let limit = input.limit.unwrap_or(10).clamp(1, 100);
    let url = format!(
        "{}/repos/{}/{}/issues?state={state}&per_page={limit}",
        input.api.trim_end_matches('/'),
        input.owner,
        input.repo
    );
    let list = get_json(&url)?;
    let items: Vec<Value> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| json!({"number": i["number"], "title": i["title"], "state": i["state"], "url": i["html_url"]}))
                .collect()
        })
        .unwrap_or_default();
    Ok(Value::Array(items))
}

fn skill() -> Skill {
    let effects = || [Effect::Network, Effect::UsesSecret("GITHUB_TOKEN".into())];
    let repo_schema = json!({"type": "object", "required": ["owner", "repo"], "properties": {
        "owner": {"type": "string"}, "repo": {"type": "string"},
        "api": {"type": "string", "description": "API base URL (default https://api.github.com)"}}});
    Skill::new()
        .tool(
            Tool::new("repo", "Describe a GitHub repository.", repo_schema).effects(effects()),
            repo,
        )
        .tool(
            Tool::new(
                "issues",
                "List a repository's issues.",
                json!({"type": "object", "required": ["owner", "repo"], "properties": {
                    "owner": {"type": "string"}, "repo": {"type": "string"},
                    "state": {"enum": ["open", "closed", "all"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    "api": {"type": "string"}}}),
            )
            .effects(effects()),
            issues,
        )
}

chitin_skill_sdk::export_skill!(skill);
