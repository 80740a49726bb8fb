//! Agent test support: a Chitin home with the `files` skill really packed,
//! trusted and installed through the CLI; config.toml pointing at a scripted
//! model server; an in-process agent; a real `chitin daemon` process and a
//! client for its API.

use super::model::{ModelServer, Reply};
use chitin::agent::Agent;
use chitin::agent::approvals::{ApprovalRequest, Approver};
use chitin::agent::config::{AgentSection, Config, InterpreterSection};
use chitin::agent::events::{Stop, TurnEvent};
use chitin::agent::toolbox::Toolbox;
use chitin::agent::turn::{TurnIo, TurnSummary};
use chitin::interpreter::Interpreters;
use chitin::package::state::Installed;
use chitin::provider::{self, BoxFuture, ProviderKind, ProviderSettings};
use chitin::store::Store;
use chitin::{HostConfig, SkillHost};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A Chitin home in a temp dir, with a workspace directory for `files`.
pub struct Home {
    /// Skills the last `agent()` left out, and why.
    pub problems: Mutex<Vec<String>>,
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub workspace: PathBuf,
}

impl Home {
    pub fn new() -> Self {
        super::build_skills();
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let workspace = tmp.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        Home {
            problems: Mutex::default(),
            tmp,
            home,
            workspace,
        }
    }

    /// Run the CLI; (exit code, stdout, stderr).
    pub fn chitin(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(args)
            .env("CHITIN_HOME", &self.home)
            .env_remove("CHITIN_API_KEY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.chitin(args);
        assert_eq!(code, 0, "chitin {args:?}: {err}");
        out
    }

    /// Sign, trust and install the `files` skill with the workspace granted.
    pub fn install_files(&self) -> &Self {
        self.install_files_granting(&self.workspace)
    }

    /// Same, granting `dir` as /workspace.
    pub fn install_files_granting(&self, dir: &Path) -> &Self {
        let public = self.ok(&["key", "generate"]);
        self.ok(&["trust", "add", "chitin", public.trim()]);
        let pkg = self.tmp.path().join("files.wasm");
        let src = super::skill_dir("files");
        self.ok(&[
            "skill",
            "pack",
            src.to_str().unwrap(),
            "-o",
            pkg.to_str().unwrap(),
        ]);
        let (code, _, err) = self.reinstall_files(dir);
        assert_eq!(code, 0, "installing files: {err}");
        self
    }

    /// Install the `files` package packed earlier again, granting `dir` as
    /// /workspace; (exit code, stdout, stderr).
    pub fn reinstall_files(&self, dir: &Path) -> (i32, String, String) {
        let pkg = self.tmp.path().join("files.wasm");
        let grant = format!("/workspace={}", dir.display());
        self.chitin(&[
            "skill",
            "install",
            pkg.to_str().unwrap(),
            "--yes",
            "--dir",
            &grant,
        ])
    }

    /// Install the `web-fetch` component as skill `fetch`, granted `url`
    /// (after `install_files`, which set up the key and trust).
    pub fn install_fetch(&self, url: &str) {
        self.install_fetch_with(url, "");
    }

    /// `install_fetch` with more manifest text (e.g. a secret request).
    pub fn install_fetch_with(&self, url: &str, manifest_extra: &str) {
        let src = self.tmp.path().join("fetch-src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::copy(super::component("web-fetch"), src.join("fetch.wasm")).unwrap();
        std::fs::write(
            src.join("skill.toml"),
            format!(
                "[skill]\nname = \"fetch\"\nversion = \"0.1.0\"\ndescription = \"Fetch\"\npublisher = \"chitin\"\ncontract = \"0.1.0\"\n\n[[capabilities.net]]\nurl = \"{url}\"\n{manifest_extra}"
            ),
        )
        .unwrap();
        let pkg = self.tmp.path().join("fetch.wasm");
        self.ok(&[
            "skill",
            "pack",
            src.to_str().unwrap(),
            "-o",
            pkg.to_str().unwrap(),
        ]);
        self.ok(&["skill", "install", pkg.to_str().unwrap(), "--yes"]);
    }

    /// Install the interpreter components (built by
    /// scripts/build-interpreters) into this home. Compiling them takes
    /// tens of seconds, so it is done once per test binary, in a template
    /// home, whose installed files, compiled cache and cache key are then
    /// linked in (a home that already has a cache key installs for real).
    pub fn install_interpreters(&self) -> &Self {
        let key = self.home.join("config/cache.key");
        if key.exists() {
            let from = super::interpreters_dir();
            self.ok(&["interpreter", "install", "--from", from.to_str().unwrap()]);
            return self;
        }
        let template = interpreter_template();
        for part in ["data/interpreters", "cache/components"] {
            link_tree(&template.join(part), &self.home.join(part));
        }
        std::fs::create_dir_all(key.parent().unwrap()).unwrap();
        std::fs::copy(template.join("config/cache.key"), &key).unwrap();
        self
    }

    /// Make this home's publisher key, trusted as `me` (signs folders
    /// installed as Agent Skills).
    pub fn own_key(&self) -> &Self {
        let public = self.ok(&["key", "generate"]);
        self.ok(&["trust", "add", "me", public.trim()]);
        self
    }

    /// Write config.toml for a scripted model server.
    pub fn configure(&self, kind: &str, server: &ModelServer, agent_extra: &str) {
        let dir = self.home.join("config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "[provider]\nkind = \"{kind}\"\nbase_url = \"{}\"\nmodel = \"test-model\"\ntimeout_secs = 5\nretry_base_ms = 10\n\n[agent]\n{agent_extra}\n",
                server.base_url()
            ),
        )
        .unwrap();
    }

    /// Put a secret in the home's secret store.
    pub fn set_secret(&self, name: &str, value: &str) {
        let path = self.home.join("config/secrets.json");
        let mut store = chitin::capabilities::secrets::SecretStore::open(&path).unwrap();
        store.set(name, value).unwrap();
    }

    pub fn store(&self) -> Store {
        Store::open(&self.home.join("data/sessions.db")).unwrap()
    }

    /// An in-process agent over the installed skills and `server`.
    pub fn agent(&self, kind: ProviderKind, server: &ModelServer, agent_toml: &str) -> Agent {
        self.agent_on(vec![provider_settings(kind, server)], agent_toml)
    }

    /// An in-process agent on `providers` (the first, then the fallbacks).
    pub fn agent_on(&self, providers: Vec<ProviderSettings>, agent_toml: &str) -> Agent {
        let settings: AgentSection = {
            let c = Config::parse(&format!("[agent]\n{agent_toml}"), Path::new("t.toml")).unwrap();
            c.agent
        };
        let mut providers = providers.into_iter().map(|s| provider::build(s).unwrap());
        let main = providers.next().expect("a provider");
        let host = Arc::new(
            SkillHost::new(HostConfig {
                cache_dir: Some(self.home.join("cache/components")),
                cache_key_file: Some(self.home.join("config/cache.key")),
                protected: vec![
                    self.home.join("config"),
                    self.home.join("data"),
                    self.home.join("cache"),
                ],
                ..HostConfig::default()
            })
            .unwrap(),
        );
        // The interpreters installed in this home (none unless a test
        // installed them: then no `python`/`js` tools are offered).
        let interpreters = Arc::new(Interpreters::new(
            host.clone(),
            &self.home.join("data/interpreters"),
            &self.home.join("data/scratch"),
            InterpreterSection::default(),
        ));
        let (toolbox, problems) = Toolbox::load(
            host,
            &Installed::new(&self.home.join("data/skills")),
            self.home.join("config/secrets.json"),
        );
        let toolbox = toolbox.with_interpreters(interpreters);
        self.problems.lock().unwrap().extend(problems);
        let store = Arc::new(Store::open(&self.home.join("data/sessions.db")).unwrap());
        Agent::new(settings, Ok(main), toolbox, store).with_fallbacks(providers.collect())
    }
}

/// A home where `chitin interpreter install` ran (once per test binary).
fn interpreter_template() -> PathBuf {
    static TEMPLATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = TEMPLATE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let from = super::interpreters_dir();
        let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(["interpreter", "install", "--from", from.to_str().unwrap()])
            .env("CHITIN_HOME", tmp.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chitin interpreter install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmp
    });
    dir.path().to_path_buf()
}

/// Hard-link every file under `from` into `to` (same tree).
fn link_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten().take(10_000) {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            link_tree(&e.path(), &target);
        } else if std::fs::hard_link(e.path(), &target).is_err() {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Settings for `server` speaking `kind` (model `test-model`, quick retries).
pub fn provider_settings(kind: ProviderKind, server: &ModelServer) -> ProviderSettings {
    ProviderSettings {
        kind,
        base_url: server.base_url(),
        model: "test-model".into(),
        api_key: Some("sk-test".into()),
        timeout: Duration::from_secs(5),
        max_retries: 2,
        retry_base: Duration::from_millis(10),
        options: Default::default(),
    }
}

/// Answers approvals with a fixed decision (`None`: never answers).
pub struct Scripted(pub Option<bool>);

impl Approver for Scripted {
    fn ask(&self, _r: ApprovalRequest) -> BoxFuture<'_, Option<bool>> {
        let d = self.0;
        Box::pin(async move {
            match d {
                Some(v) => Some(v),
                None => std::future::pending().await,
            }
        })
    }
}

/// Run one turn in a fresh session; the summary and every event.
pub async fn turn(
    agent: &Agent,
    text: &str,
    approver: &dyn Approver,
) -> (TurnSummary, Vec<TurnEvent>, String) {
    let session = agent.store().create_session("").unwrap().id;
    let (s, e) = turn_in(agent, &session, text, approver).await;
    (s, e, session)
}

/// Run one turn in `session`.
pub async fn turn_in(
    agent: &Agent,
    session: &str,
    text: &str,
    approver: &dyn Approver,
) -> (TurnSummary, Vec<TurnEvent>) {
    let events = Mutex::new(Vec::new());
    let sink = |e: TurnEvent| events.lock().unwrap().push(e);
    let io = TurnIo {
        events: &sink,
        approver,
        cancel: CancellationToken::new(),
    };
    let summary = agent.run_turn(session, text, &io).await;
    (summary, events.into_inner().unwrap())
}

/// A real `chitin daemon` process on 127.0.0.1 (any free port).
pub struct DaemonProc {
    pub child: Child,
    pub addr: String,
    pub token: String,
}

impl DaemonProc {
    pub fn start(home: &Home) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chitin"));
        cmd.args(["daemon", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::inherit());
        Self::spawn(home, cmd)
    }

    /// Start `cmd` (which runs `chitin daemon --listen 127.0.0.1:0`, maybe
    /// through a wrapper) in `home` and wait for its "listening" line.
    pub fn spawn(home: &Home, mut cmd: Command) -> Self {
        let mut child = cmd
            .env("CHITIN_HOME", &home.home)
            .env_remove("CHITIN_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("chitin daemon listening on http://")
            .unwrap_or_else(|| panic!("unexpected daemon output: {line:?}"))
            .trim_end_matches('/')
            .to_string();
        let token = std::fs::read_to_string(home.home.join("config/daemon.token"))
            .unwrap()
            .trim()
            .to_string();
        DaemonProc { child, addr, token }
    }

    /// [`spawn`](Self::spawn) with stderr (the daemon's log) collected
    /// by a thread until the daemon exits.
    pub fn spawn_logged(home: &Home, mut cmd: Command) -> (Self, std::thread::JoinHandle<String>) {
        cmd.stderr(Stdio::piped());
        let mut daemon = Self::spawn(home, cmd);
        let log = daemon.child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(log), &mut text);
            text
        });
        (daemon, log)
    }

    /// SIGTERM, then wait (bounded) for a clean exit; the exit code.
    pub fn stop(&mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the daemon did not stop within 15 s of SIGTERM");
    }

    pub fn client(&self, token: &str) -> Api {
        Api {
            http: chitin::provider::http::HttpClient::new(
                &format!("http://{}", self.addr),
                Duration::from_secs(30),
            )
            .unwrap(),
            token: token.to_string(),
        }
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client for the daemon's API (the real HTTP client of the crate).
pub struct Api {
    pub http: chitin::provider::http::HttpClient,
    pub token: String,
}

impl Api {
    /// (status, body as JSON or Null).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {}", self.token);
        let headers: Vec<(&str, &str)> = if self.token.is_empty() {
            vec![]
        } else {
            vec![("authorization", auth.as_str())]
        };
        let resp = self
            .http
            .send(
                method.parse().unwrap(),
                path,
                &headers,
                body.map(|b| b.to_string().into()),
            )
            .await
            .unwrap();
        let status = resp.status;
        let bytes = resp.bytes(16 << 20).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A new session's id.
    pub async fn session(&self) -> String {
        let (status, s) = self
            .call("POST", "/api/sessions", Some(serde_json::json!({})))
            .await;
        assert_eq!(status, 201, "{s}");
        s["id"].as_str().unwrap().to_string()
    }

    /// Post a message and read the whole turn; answers approvals with `approve`.
    pub async fn turn(&self, session: &str, text: &str, approve: Option<bool>) -> Vec<TurnEvent> {
        self.turn_with(session, text, |_| approve).await
    }

    /// Post a message and read the whole turn; `decide` sees each approval
    /// request (by id) and gives the answer to send, if any.
    pub async fn turn_with(
        &self,
        session: &str,
        text: &str,
        mut decide: impl FnMut(&str) -> Option<bool>,
    ) -> Vec<TurnEvent> {
        let auth = format!("Bearer {}", self.token);
        let mut resp = self
            .http
            .send(
                http::Method::POST,
                &format!("/api/sessions/{session}/messages"),
                &[("authorization", &auth)],
                Some(serde_json::json!({ "text": text }).to_string().into()),
            )
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        let mut parser = chitin::provider::sse::SseParser::new();
        let mut events = Vec::new();
        while let Some(chunk) = resp.chunk().await.unwrap() {
            for ev in parser.feed(&chunk).unwrap() {
                let e: TurnEvent = serde_json::from_str(&ev.data).unwrap();
                if let TurnEvent::ApprovalRequested { approval_id, .. } = &e
                    && let Some(a) = decide(approval_id)
                {
                    let (status, _) = self
                        .call(
                            "POST",
                            &format!("/api/sessions/{session}/approvals/{approval_id}"),
                            Some(serde_json::json!({ "approve": a })),
                        )
                        .await;
                    assert_eq!(status, 204);
                }
                events.push(e);
            }
        }
        events
    }
}

/// The stop and text of the turn whose events are `events`.
pub fn done(events: &[TurnEvent]) -> (Stop, String) {
    match events.last() {
        Some(TurnEvent::Done { stop, text }) => (*stop, text.clone()),
        other => panic!("the stream did not end with done: {other:?}"),
    }
}

/// A daemon whose model asks to write `file`, with that turn now waiting
/// for an approval nobody gives.
pub struct Waiting {
    pub home: Home,
    pub _server: ModelServer,
    pub daemon: DaemonProc,
    pub id: String,
    pub turn: tokio::task::JoinHandle<Vec<TurnEvent>>,
}

pub async fn waiting_for_approval(file: &str) -> Waiting {
    let home = Home::new();
    home.install_files();
    let write = serde_json::json!({ "path": file, "content": "x" }).to_string();
    let server = ModelServer::start(vec![Reply::tool("files__write", &write)]);
    home.configure("openai", &server, "approval_timeout_secs = 60");
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let (_, s) = api
        .call("POST", "/api/sessions", Some(serde_json::json!({})))
        .await;
    let id = s["id"].as_str().unwrap().to_string();
    let turn = tokio::spawn({
        let api = daemon.client(&daemon.token);
        let id = id.clone();
        async move { api.turn(&id, "write", None).await }
    });
    // The model's answer (and its usage) is recorded just before the approval is asked.
    for _ in 0..200 {
        if home
            .store()
            .events(&id)
            .unwrap()
            .iter()
            .any(|e| e.kind == "usage")
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Waiting {
                home,
                _server: server,
                daemon,
                id,
                turn,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the turn never reached its approval");
}
