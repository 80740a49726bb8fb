//! The remote MCP servers' tools as Chitin's agent sees them: namespaced
//! `NAME__tool`, offered only as the user accepted them ([`super::pins`]),
//! called through the checked egress ([`super::egress`]) with the server's
//! secret injected by the host. A server that is down, refused by the
//! egress checks or missing its secret offers no tools, and says why.

use super::RemoteError;
use super::client::{self, Auth, Connection, RemoteReply, RemoteServer};
use super::pins::{PinStore, Pins, PinsError, ToolShape, Verdict};
use crate::agent::config::{McpSection, McpServerSection};
use chitin_sandbox::capabilities::net::dns::Dns;
use chitin_sandbox::capabilities::secrets::SecretStore;
use chitin_sandbox::text::one_line;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How often the servers' tool lists are read again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// The longest a server's tool list may take to read.
pub const LIST_DEADLINE: Duration = Duration::from_secs(20);

/// Longest description offered to the model (the server's text).
const MAX_DESCRIPTION: usize = 4096;

/// One remote tool the model may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTool {
    /// Namespaced name (`server__tool`).
    pub name: String,
    /// The server's name.
    pub server: String,
    /// The tool's name on the server.
    pub tool: String,
    /// Its accepted description and schema.
    pub shape: ToolShape,
    /// What its policy is bound to (server, URL and pinned shape).
    pub digest: String,
}

/// A listed tool with how it compares with the user's pins.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The tool's name on the server.
    pub tool: String,
    /// As the server describes it now.
    pub shape: ToolShape,
    /// Accepted, new or changed.
    pub verdict: Verdict,
}

struct Server {
    section: McpServerSection,
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

#[derive(Default)]
struct Catalog {
    tools: BTreeMap<String, Arc<RemoteTool>>,
    problems: Vec<String>,
}

/// The configured remote MCP servers. Cheap to clone (shared).
#[derive(Clone)]
pub struct RemoteSource {
    inner: Arc<Inner>,
}

struct Inner {
    servers: Vec<Server>,
    pins: PinStore,
    secrets_file: PathBuf,
    dns: Dns,
    catalog: RwLock<Arc<Catalog>>,
    refreshed: tokio::sync::Mutex<Option<Instant>>,
}

/// Whether a server's tool name can be offered to a model.
fn name_ok(server: &str, tool: &str) -> bool {
    !tool.is_empty()
        && tool
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && server.len() + 2 + tool.len() <= 64
}

impl RemoteSource {
    /// The servers of `[mcp]`, with their pins under `pins_dir` and their
    /// secrets in `secrets_file`. Entries that cannot be used are left out;
    /// the strings say which and why.
    pub fn new(
        section: &McpSection,
        pins_dir: &Path,
        secrets_file: PathBuf,
    ) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let mut servers: Vec<Server> = Vec::new();
        for s in &section.servers {
            if let Some(p) = s.problem() {
                problems.push(p);
                continue;
            }
            if servers.iter().any(|o| o.section.name == s.name) {
                problems.push(format!(
                    "MCP server {} is configured twice; the first is used",
                    s.name
                ));
                continue;
            }
            servers.push(Server {
                section: s.clone(),
                conn: tokio::sync::Mutex::new(None),
            });
        }
        let source = RemoteSource {
            inner: Arc::new(Inner {
                servers,
                pins: PinStore::new(pins_dir),
                secrets_file,
                dns: Dns::servers(&section.nameservers),
                catalog: RwLock::default(),
                refreshed: tokio::sync::Mutex::new(None),
            }),
        };
        (source, problems)
    }

    /// Whether any server is configured.
    pub fn is_empty(&self) -> bool {
        self.inner.servers.is_empty()
    }

    /// The configured servers' names and URLs.
    pub fn servers(&self) -> Vec<(String, String)> {
        self.inner
            .servers
            .iter()
            .map(|s| (s.section.name.clone(), s.section.url.clone()))
            .collect()
    }

    fn current(&self) -> Arc<Catalog> {
        self.inner
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every accepted tool (as of the last refresh).
    pub fn entries(&self) -> Vec<Arc<RemoteTool>> {
        self.current().tools.values().cloned().collect()
    }

    /// An accepted tool by namespaced name.
    pub fn get(&self, name: &str) -> Option<Arc<RemoteTool>> {
        self.current().tools.get(name).cloned()
    }

    /// Read the servers' tool lists again when [`REFRESH_EVERY`] has passed
    /// (or never was); returns what keeps tools from being offered.
    pub async fn refresh(&self) -> Vec<String> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut refreshed = self.inner.refreshed.lock().await;
        if refreshed.is_some_and(|at| at.elapsed() < REFRESH_EVERY) {
            return self.current().problems.clone();
        }
        let mut next = Catalog::default();
        for server in &self.inner.servers {
            let name = &server.section.name;
            // One deadline for the whole listing: a slow server cannot
            // hold every turn waiting.
            let listing = tokio::time::timeout(LIST_DEADLINE, self.list_server(server)).await;
            let listed = match listing {
                Ok(Ok(l)) => l,
                Err(_) => {
                    next.problems.push(format!(
                        "MCP server {name}: its tool list took longer than {} s; its tools are left out until the next try",
                        LIST_DEADLINE.as_secs()
                    ));
                    continue;
                }
                Ok(Err(e)) => {
                    next.problems.push(format!("MCP server {name}: {e}"));
                    continue;
                }
            };
            let mut held = Vec::new();
            for l in listed {
                match l.verdict {
                    Verdict::Accepted => {
                        let full = format!("{name}{}{}", crate::agent::toolbox::SEPARATOR, l.tool);
                        // Bound to the server's URL too: a policy given to
                        // one server does not carry over to another.
                        let digest = format!(
                            "mcp:{name}:{}",
                            hex::encode(sha2::Sha256::digest(
                                format!("{}\n{}", server.section.url, l.shape.digest()).as_bytes()
                            ))
                        );
                        next.tools.insert(
                            full.clone(),
                            Arc::new(RemoteTool {
                                name: full,
                                server: name.clone(),
                                tool: l.tool,
                                shape: l.shape,
                                digest,
                            }),
                        );
                    }
                    Verdict::New => held.push(format!("{} (new)", l.tool)),
                    Verdict::Changed => {
                        held.push(format!("{} (description or schema changed)", l.tool))
                    }
                }
            }
            if !held.is_empty() {
                next.problems.push(format!(
                    "MCP server {name}: tools held back until you accept them with `chitin mcp accept {name}`: {}",
                    held.join(", ")
                ));
            }
        }
        let problems = next.problems.clone();
        *self
            .inner
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        *refreshed = Some(Instant::now());
        problems
    }

    /// List `server`'s tools now, compared with the user's pins.
    pub async fn list(&self, server: &str) -> Result<Vec<Listed>, RemoteError> {
        let s = self.server(server)?;
        self.list_server(s).await
    }

    /// Accept `server`'s tools as listed (the user reviewed them).
    pub fn accept(&self, server: &str, listed: &[Listed]) -> Result<(), PinsError> {
        let url = self
            .server(server)
            .map(|s| s.section.url.clone())
            .unwrap_or_default();
        let pins = Pins {
            url,
            tools: listed
                .iter()
                .map(|l| (l.tool.clone(), l.shape.clone()))
                .collect(),
        };
        self.inner.pins.set(server, &pins)
    }

    /// Forget the pins of `server`.
    pub fn forget(&self, server: &str) -> Result<(), PinsError> {
        self.inner.pins.remove(server)
    }

    /// Call `tool` with `arguments` (a JSON object as text).
    pub async fn call(
        &self,
        tool: &RemoteTool,
        arguments: &str,
    ) -> Result<RemoteReply, RemoteError> {
        let server = self.server(&tool.server)?;
        let args: serde_json::Map<String, serde_json::Value> = serde_json::from_str(arguments)
            .map_err(|e| RemoteError::Protocol {
                server: tool.server.clone(),
                detail: format!("the arguments are not a JSON object: {e}"),
            })?;
        let conn = self.connection(server).await?;
        let result = conn.call(&tool.tool, args).await;
        if matches!(&result, Err(e) if e.is_connection()) {
            // Never sent again: the server may have run it before the
            // connection broke. The next call connects anew.
            *server.conn.lock().await = None;
        }
        result
    }

    fn server(&self, name: &str) -> Result<&Server, RemoteError> {
        self.inner
            .servers
            .iter()
            .find(|s| s.section.name == name)
            .ok_or_else(|| {
                RemoteError::Config(format!(
                    "no MCP server named `{}` is configured (`chitin mcp list`)",
                    one_line(name, 40)
                ))
            })
    }

    async fn list_server(&self, server: &Server) -> Result<Vec<Listed>, RemoteError> {
        let name = &server.section.name;
        let pins = self
            .inner
            .pins
            .get(name)
            .map_err(|e| RemoteError::Config(e.to_string()))?;
        let conn = self.connection(server).await?;
        let tools = match conn.list_tools().await {
            Err(e) if e.is_connection() => {
                *server.conn.lock().await = None;
                self.connection(server).await?.list_tools().await?
            }
            other => other?,
        };
        Ok(tools
            .into_iter()
            .filter(|t| name_ok(name, &t.name))
            .map(|t| {
                let shape = ToolShape {
                    description: one_line(&t.description, MAX_DESCRIPTION),
                    input_schema: t.input_schema,
                };
                let verdict = pins.verdict(&server.section.url, &t.name, &shape);
                Listed {
                    tool: t.name,
                    shape,
                    verdict,
                }
            })
            .collect())
    }

    /// The server's connection, made (with its secret) when there is none.
    async fn connection(&self, server: &Server) -> Result<Arc<Connection>, RemoteError> {
        let mut slot = server.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let section = &server.section;
        let auth = match &section.secret {
            None => None,
            Some(secret) => {
                let store = SecretStore::open(&self.inner.secrets_file).map_err(|e| {
                    RemoteError::Config(format!("cannot open the secret store: {e}"))
                })?;
                let Some(value) = store.get(secret) else {
                    return Err(RemoteError::Config(format!(
                        "its secret `{secret}` is not in the secret store; set it with `chitin secret set {secret}`"
                    )));
                };
                let (header, prefix) = section.auth_header();
                Some(Auth {
                    secret_name: secret.clone(),
                    header,
                    prefix,
                    value: value.to_string(),
                })
            }
        };
        let config = RemoteServer {
            name: section.name.clone(),
            url: section.url.clone(),
            auth,
            timeout: Duration::from_secs(section.timeout_secs.unwrap_or(60).clamp(1, 600)),
        };
        let conn = Arc::new(client::connect(&config, self.inner.dns.clone()).await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }
}
