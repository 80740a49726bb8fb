//! Agent Skills at run time, through the agent with a scripted model: the
//! model sees each skill's name and description, activates one (its body,
//! then a reference file), runs its script in the sandboxed interpreter
//! with the granted folder, and answers; `/name` activates directly;
//! hostile scripts are stopped and audited; the code interpreter tools run
//! the model's own code with a scratch directory per session.

use crate::support::agent::{Home, Scripted, turn, turn_in};
use crate::support::model::{ModelServer, Reply};
use chitin::agent::events::{Stop, TurnEvent};
use chitin::provider::ProviderKind;
use serde_json::{Value, json};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    crate::support::root()
        .join("tests/fixtures/agent-skills")
        .join(name)
}

/// A home with the interpreters, the user's key, and `skill` installed
/// from its folder (with `extra` install flags).
fn home_with(skill: &str, extra: &[&str]) -> Home {
    let home = Home::new();
    home.install_interpreters().own_key();
    let dir = fixture(skill);
    let mut args = vec!["skill", "install", dir.to_str().unwrap(), "--yes"];
    args.extend_from_slice(extra);
    let (code, _, err) = home.chitin(&args);
    assert_eq!(code, 0, "installing {skill}: {err}");
    home
}

/// The finished tool calls of a turn: (tool, ok, output, audit).
fn finished(events: &[TurnEvent]) -> Vec<Finished> {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolCallFinished {
                tool,
                ok,
                output,
                capabilities,
                ..
            } => Some((tool.clone(), *ok, output.clone(), capabilities.clone())),
            _ => None,
        })
        .collect()
}

/// A finished tool call: (tool, ok, output, audit).
type Finished = (String, bool, String, Vec<chitin::AuditEvent>);

/// Run a turn that approves whatever asks and must end in an answer with
/// `n` finished tool calls; those calls.
async fn answered(agent: &chitin::agent::Agent, text: &str, n: usize) -> Vec<Finished> {
    let (summary, events, _) = turn(agent, text, &Scripted(Some(true))).await;
    assert_eq!(summary.stop, Stop::Answer, "{:?}", summary.error);
    let calls = finished(&events);
    assert_eq!(calls.len(), n, "{calls:?}");
    calls
}

/// The tool results the model was sent in request `i` (OpenAI wire).
fn tool_results(server: &ModelServer, i: usize) -> Vec<String> {
    server.requests()[i].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn tool_named(server: &ModelServer, i: usize, name: &str) -> Option<Value> {
    server.requests()[i].body["tools"]
        .as_array()?
        .iter()
        .find(|t| t["function"]["name"] == name)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_activates_a_skill_reads_it_and_runs_its_script_on_the_granted_folder() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("spend.csv"),
        "category,amount\nfood,12.50\nrent,30.00\nfood,0.25\n",
    )
    .unwrap();
    let grant = format!("/data={}", data.path().display());
    let home = home_with("csv-report", &["--dir", &grant]);
    let server = ModelServer::start(vec![
        Reply::tool("activate_skill", r#"{"name":"csv-report"}"#),
        Reply::tool(
            "activate_skill",
            r#"{"name":"csv-report","file":"references/format.md"}"#,
        ),
        Reply::tool(
            "csv-report__run_script",
            r#"{"script":"scripts/report.py","args":["spend.csv"]}"#,
        ),
        Reply::text("You spent 42.75: rent 30.00, food 12.75."),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    // A read-only folder: its scripts run without asking (nothing to approve).
    assert_eq!(
        agent.policy("csv-report__run_script"),
        chitin::policy::Policy::Allow
    );
    let (summary, events, session) = turn(&agent, "What did I spend?", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Answer, "{:?}", summary.error);
    assert_eq!(summary.text, "You spent 42.75: rent 30.00, food 12.75.");

    // Up front: the skill's name and description, not its body.
    let activate = tool_named(&server, 0, "activate_skill").expect("activate_skill offered");
    let described = activate["function"]["description"].as_str().unwrap();
    assert!(
        described.contains("csv-report: Summarize a CSV of expenses"),
        "{described}"
    );
    assert!(
        !described.contains("format guide"),
        "the body is loaded on use only"
    );
    assert!(tool_named(&server, 0, "csv-report__run_script").is_some());

    // The body, then the reference file, reach the model as tool output.
    let body: Value = serde_json::from_str(&tool_results(&server, 1)[0]).unwrap();
    assert!(
        body["instructions"]
            .as_str()
            .unwrap()
            .contains("scripts/report.py FILE")
    );
    assert_eq!(
        body["scripts"],
        json!(["scripts/money.py", "scripts/report.py"])
    );
    let reference: Value = serde_json::from_str(&tool_results(&server, 2)[1]).unwrap();
    assert!(
        reference["content"]
            .as_str()
            .unwrap()
            .contains("Start with the total")
    );

    // The script ran in the interpreter: the granted folder read, its
    // sibling module imported from /skill, the scratch copy written.
    let calls = finished(&events);
    let (tool, ok, output, audit) = &calls[2];
    assert_eq!(tool, "csv-report__run_script");
    assert!(ok, "{output}");
    let run: Value = serde_json::from_str(output).unwrap();
    assert_eq!(run["exit_code"], 0, "{run}");
    let report: Value = serde_json::from_str(run["stdout"].as_str().unwrap().trim()).unwrap();
    assert_eq!(report["total"], 42.75);
    assert_eq!(report["by_category"]["food"], 12.75);
    let mounts: Vec<&str> = audit.iter().map(|e| e.target.as_str()).collect();
    assert!(
        mounts.iter().any(|t| t.starts_with("/data -> ")),
        "{mounts:?}"
    );
    assert!(
        mounts.iter().any(|t| t.starts_with("/skill -> ")),
        "{mounts:?}"
    );
    assert!(
        audit.iter().all(|e| e.skill == "csv-report"),
        "audited as the skill"
    );
    let scratch = home.home.join("data/scratch/sessions").join(&session);
    let own: Vec<PathBuf> = std::fs::read_dir(&scratch)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("skill-csv-report-")
        })
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    let copy = std::fs::read_to_string(own[0].join("last.json")).unwrap();
    assert!(copy.contains("42.75"), "{copy}");
    // The skill's own files stay read-only to it: nothing was written there.
    assert!(!walk_has(&home.home.join("data/skills"), "last.json"));
    let (_, out, _) = home.chitin(&["doctor"]);
    assert!(
        out.contains("ok    interpreters: python and js installed"),
        "{out}"
    );
}

fn walk_has(dir: &std::path::Path, name: &str) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            seen += 1;
            assert!(seen < 10_000);
            if e.file_name() == name {
                return true;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_activates_the_skill_before_the_model_is_asked() {
    let data = tempfile::tempdir().unwrap();
    let grant = format!("/data={}", data.path().display());
    let home = home_with("csv-report", &["--dir", &grant]);
    let server = ModelServer::start(vec![Reply::text("Which file?"), Reply::text("Hello.")]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, _, _) = turn(
        &agent,
        "/csv-report@chitin_bot what did I spend in May?",
        &Scripted(None),
    )
    .await;
    assert_eq!(summary.stop, Stop::Answer, "{:?}", summary.error);
    let first = tool_results(&server, 0);
    assert_eq!(first.len(), 1, "the activation is in the first request");
    assert!(first[0].contains("scripts/report.py FILE"), "{}", first[0]);
    // A slash word that is no skill is left to the model as written.
    let (summary, _, _) = turn(&agent, "/nosuchskill hello", &Scripted(None)).await;
    assert_ne!(summary.stop, Stop::Error, "{:?}", summary.error);
    assert!(tool_results(&server, 1).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scripts_are_stopped_audited_and_the_host_is_fine() {
    // A key where a real one would be; the scripts must never see it.
    let fake_home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fake_home.path().join(".ssh")).unwrap();
    let key = fake_home.path().join(".ssh/id_rsa");
    std::fs::write(&key, "PRIVATE-KEY-CANARY").unwrap();
    // The script knows where the key is: its host path, and the same path
    // climbed to from each mount and from the working directory.
    let key = key.display().to_string();
    let up = "../".repeat(16);
    let tries = [
        key.clone(),
        format!("/skill/{up}{key}"),
        format!("/scratch/{up}{key}"),
        format!("{up}{key}"),
    ];
    let home = home_with("hostile-scripts", &[]);
    let server = ModelServer::start(vec![
        Reply::tool(
            "hostile-scripts__run_script",
            &json!({"script": "scripts/read_ssh_key.py", "args": tries}).to_string(),
        ),
        Reply::tool(
            "hostile-scripts__run_script",
            r#"{"script":"scripts/spawn_shell.py"}"#,
        ),
        Reply::tool(
            "hostile-scripts__run_script",
            r#"{"script":"scripts/fetch_other_host.js"}"#,
        ),
        Reply::tool("python", r#"{"code":"6*7"}"#),
        Reply::text("done"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    // It may reach the network: its scripts ask first (allowed here).
    assert_eq!(
        agent.policy("hostile-scripts__run_script"),
        chitin::policy::Policy::Ask
    );
    let calls = answered(&agent, "run them", 4).await;
    for (tool, _, output, _) in &calls[..3] {
        assert!(!output.contains("PRIVATE-KEY-CANARY"), "{tool}: {output}");
        assert!(!output.contains("uid="), "{tool}: {output}");
        assert!(!output.contains("root:x:0"), "{tool}: {output}");
        let v: Value = serde_json::from_str(output).unwrap();
        assert_ne!(v["exit_code"], 0, "{output}");
    }
    let (_, _, output, audit) = &calls[0];
    let stderr = serde_json::from_str::<Value>(output).unwrap()["stderr"].to_string();
    assert_eq!(
        stderr.matches("refused").count(),
        6,
        "every path tried: {output}"
    );
    assert!(
        audit.iter().any(|e| e.decision == chitin::Decision::Deny
            && e.reason.contains("outside the granted directories")),
        "a climb out of a mount is refused and audited: {output} {audit:?}"
    );
    let (_, _, output, audit) = &calls[2];
    assert!(
        audit.iter().any(|e| e.target.contains("exfil.example.net")
            && e.decision == chitin::Decision::Deny),
        "the fetch is refused and audited: {output} {audit:?}"
    );
    // And the sandbox goes on working.
    let (tool, ok, output, _) = &calls[3];
    assert_eq!(tool, "python");
    assert!(ok, "{output}");
    assert_eq!(
        serde_json::from_str::<Value>(output).unwrap()["result"],
        "42"
    );
}

/// A script importing a module the sandbox lacks (`numpy`) fails as a
/// script does: a nonzero exit and Python's own `ModuleNotFoundError` on
/// stderr, shown to the model; the next sandboxed call works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_importing_a_missing_module_fails_cleanly() {
    let home = home_with("data-stats", &[]);
    let server = ModelServer::start(vec![
        Reply::tool(
            "data-stats__run_script",
            r#"{"script":"scripts/stats.py","args":["values.csv"]}"#,
        ),
        Reply::tool("python", r#"{"code":"sum(range(10))"}"#),
        Reply::text("numpy is not available here."),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let calls = answered(&agent, "stats please", 2).await;
    let (tool, _, output, _) = &calls[0];
    assert_eq!(tool, "data-stats__run_script");
    let v: Value = serde_json::from_str(output).unwrap();
    assert_ne!(v["exit_code"], 0, "{output}");
    let stderr = v["stderr"].as_str().unwrap_or_default();
    assert!(
        stderr.contains("ModuleNotFoundError") && stderr.contains("numpy"),
        "{output}"
    );
    assert!(
        tool_results(&server, 1)[0].contains("ModuleNotFoundError"),
        "the model is told why"
    );
    let (tool, ok, output, _) = &calls[1];
    assert_eq!(tool, "python");
    assert!(ok, "{output}");
    assert_eq!(
        serde_json::from_str::<Value>(output).unwrap()["result"],
        "45"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_needing_the_host_are_not_offered() {
    let home = home_with("shell-tool", &[]);
    let server = ModelServer::start(vec![
        Reply::tool("activate_skill", r#"{"name":"shell-tool"}"#),
        Reply::tool("shell-tool__run_script", r#"{"script":"scripts/run.sh"}"#),
        Reply::text("ok"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (_, events, _) = turn(&agent, "run it", &Scripted(Some(true))).await;
    assert!(tool_named(&server, 0, "shell-tool__run_script").is_none());
    let calls = finished(&events);
    let body: Value = serde_json::from_str(&calls[0].2).unwrap();
    assert_eq!(body["scripts_not_offered"][0]["script"], "scripts/run.sh");
    assert!(!calls[1].1, "not a tool: {}", calls[1].2);
    assert!(!calls[1].2.contains("hello from the host shell"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_interpreter_keeps_each_sessions_scratch_apart_and_stops_runaway_code() {
    let home = Home::new();
    home.install_interpreters();
    let server = ModelServer::start(vec![
        Reply::tool(
            "python",
            r#"{"code":"open('/scratch/note.txt','w').write('session one')\nsum(range(10**6))"}"#,
        ),
        Reply::tool(
            "js",
            r#"{"code":"[1,2,3].map(x => x * 2).reduce((a, b) => a + b)"}"#,
        ),
        Reply::tool("python", r#"{"code":"while True: pass"}"#),
        Reply::text("first done"),
        Reply::tool("python", r#"{"code":"import os\nos.listdir('/scratch')"}"#),
        Reply::text("second done"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, events, first) = turn(&agent, "compute", &Scripted(None)).await;
    assert_eq!(summary.text, "first done", "{:?}", summary.error);
    let calls = finished(&events);
    let py: Value = serde_json::from_str(&calls[0].2).unwrap();
    assert_eq!(py["result"], "499999500000", "{py}");
    let js: Value = serde_json::from_str(&calls[1].2).unwrap();
    assert_eq!(js["result"], "12", "{js}");
    let (_, ok, output, _) = &calls[2];
    assert!(!ok, "an endless loop is stopped: {output}");
    let stopped: Value = serde_json::from_str(output).unwrap();
    assert_eq!(stopped["error"]["from"], "host", "{output}");
    assert_eq!(stopped["error"]["kind"], "limit", "{output}");

    let other = agent.store().create_session("").unwrap().id;
    let (summary, events) = turn_in(&agent, &other, "look", &Scripted(None)).await;
    assert_eq!(summary.text, "second done");
    let listing: Value = serde_json::from_str(&finished(&events)[0].2).unwrap();
    assert_eq!(
        listing["result"], "[]",
        "another session's scratch is empty: {listing}"
    );

    // Deleting a session deletes its scratch directory.
    let dir = home.home.join("data/scratch/sessions").join(&first);
    assert!(dir.join("code/note.txt").is_file());
    let (code, _, err) = home.chitin(&["sessions", "rm", &first, "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.exists(), "{}", dir.display());
}

/// A script's HTTP request gets the secret its `chitin.toml` asked for,
/// injected by the host for the one granted host; the script never reads
/// it, not even when the server echoes it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripts_request_carries_the_granted_secret_it_cannot_read() {
    const TOKEN: &str = "call-api-token-5f1e9c";
    let server = crate::support::TestServer::start();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("call-api");
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        "---\nname: call-api\ndescription: Calls the test API with its token.\n---\n# Call the API\n\nRun scripts/call.js.\n",
    )
    .unwrap();
    let base = server.base();
    std::fs::write(
        dir.join("chitin.toml"),
        format!(
            "version = \"0.1.0\"\n\n[[capabilities.net]]\nurl = \"{base}\"\nwhy = \"the API\"\n\n\
             [[capabilities.secrets]]\nname = \"CALL_API_TOKEN\"\nhost = \"{base}\"\nheader = \"authorization\"\nprefix = \"Bearer \"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("scripts/call.js"),
        format!(
            "const res = await fetch(\"{base}/echo-auth\");\nconsole.log(res.status, await res.text());\n"
        ),
    )
    .unwrap();

    let home = Home::new();
    home.install_interpreters().own_key();
    home.set_secret("CALL_API_TOKEN", TOKEN);
    let (code, _, err) = home.chitin(&["skill", "install", dir.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("CALL_API_TOKEN"),
        "the review names the secret: {err}"
    );

    let model = ModelServer::start(vec![
        Reply::tool("call-api__run_script", r#"{"script":"scripts/call.js"}"#),
        Reply::text("called"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &model, "");
    let calls = answered(&agent, "call it", 1).await;
    let (_, ok, output, _) = &calls[0];
    assert!(ok, "{output}");
    let v: Value = serde_json::from_str(output).unwrap();
    assert_eq!(v["exit_code"], 0, "{output}");
    assert!(
        v["stdout"].as_str().unwrap().starts_with("200 "),
        "{output}"
    );
    assert!(
        !output.contains(TOKEN),
        "the script read the secret: {output}"
    );
    assert!(
        !tool_results(&model, 1).iter().any(|r| r.contains(TOKEN)),
        "the model saw the secret"
    );
    let sent: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/echo-auth")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {TOKEN}").as_str()),
        "{:?}",
        sent[0].headers
    );
}
