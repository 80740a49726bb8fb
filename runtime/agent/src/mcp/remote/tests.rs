//! The remote client against real servers on 127.0.0.1: an MCP server of
//! the official SDK (Streamable HTTP, in process) behind a gate that
//! records the credentials it is sent, a server that only redirects, and a
//! DNS server answering from a table. Every test is bounded in time.

use super::RemoteError;
use super::client::{Auth, Limits, RemoteServer, connect, connect_with};
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chitin_sandbox::capabilities::net::dns::Dns;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// No test runs longer than this.
const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("the test ran past its time limit")
}

// ---------------------------------------------------------------- server

/// How the echo server lists its tools.
#[derive(Clone, Copy, Default)]
enum Listing {
    /// One page: echo, big, sleep, fail.
    #[default]
    Plain,
    /// One tool a page, each with a fresh cursor, forever.
    Endless,
    /// One tool a page, always the same cursor.
    SameCursor,
}

#[derive(Clone, Default)]
struct Echo {
    listing: Listing,
    pages: Arc<AtomicUsize>,
}

fn tool(name: &str) -> Tool {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"text": {"type": "string"}, "bytes": {"type": "integer"}},
    });
    let serde_json::Value::Object(schema) = schema else {
        unreachable!()
    };
    Tool::new(
        name.to_string(),
        format!("The {name} tool."),
        Arc::new(schema),
    )
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let n = self.pages.fetch_add(1, Ordering::SeqCst);
        Ok(match self.listing {
            Listing::Plain => {
                ListToolsResult::with_all_items(["echo", "big", "sleep", "fail"].map(tool).to_vec())
            }
            Listing::Endless => {
                let mut page = ListToolsResult::with_all_items(vec![tool(&format!("t{n}"))]);
                page.next_cursor = Some(format!("c{n}"));
                page
            }
            Listing::SameCursor => {
                let mut page = ListToolsResult::with_all_items(vec![tool(&format!("t{n}"))]);
                page.next_cursor = Some("again".to_string());
                page
            }
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let text = args
            .get("text")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string();
        let bytes = args.get("bytes").and_then(|b| b.as_u64()).unwrap_or(0) as usize;
        let result = match request.name.as_ref() {
            "echo" => CallToolResult::success(vec![ContentBlock::text(text)]),
            "big" => CallToolResult::success(vec![ContentBlock::text("x".repeat(bytes))]),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(bytes as u64)).await;
                CallToolResult::success(vec![ContentBlock::text("slept")])
            }
            "fail" => CallToolResult::error(vec![ContentBlock::text("it failed")]),
            _ => return Err(McpError::invalid_params("unknown tool", None)),
        };
        Ok(result.into())
    }
}

/// What reached a server.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    authorization: Mutex<Vec<String>>,
    api_key: Mutex<Vec<String>>,
}

/// Who the gate lets through.
#[derive(Clone, Copy)]
enum Gate {
    Open,
    /// Only `Authorization: Bearer TOKEN`; 401 with a challenge otherwise.
    Bearer(&'static str),
    /// Only `Authorization: Bearer TOKEN`; 403 without a challenge otherwise.
    Forbidden(&'static str),
}

struct Running {
    addr: SocketAddr,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_app(app: Router, seen: Arc<Seen>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running { addr, seen, task }
}

/// The echo server behind `gate`; answers as JSON bodies when `json`,
/// else as event streams.
async fn mcp_server(echo: Echo, gate: Gate, json: bool) -> Running {
    let mut config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_sse_keep_alive(None);
    if json {
        config = config.with_json_response(true);
    }
    let service = StreamableHttpService::new(
        move || Ok(echo.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let app = Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let seen = s.clone();
                async move { gatekeep(gate, &seen, request, next).await }
            },
        ));
    serve_app(app, seen).await
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn gatekeep(gate: Gate, seen: &Seen, request: Request, next: Next) -> Response {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let authorization = header(&request, "authorization");
    let api_key = header(&request, "x-api-key");
    if let Some(a) = &authorization {
        seen.authorization.lock().unwrap().push(a.clone());
    }
    if let Some(k) = api_key {
        seen.api_key.lock().unwrap().push(k);
    }
    let pass = match gate {
        Gate::Open => true,
        Gate::Bearer(token) | Gate::Forbidden(token) => {
            authorization.as_deref() == Some(format!("Bearer {token}").as_str())
        }
    };
    if pass {
        return next.run(request).await;
    }
    match gate {
        Gate::Open | Gate::Bearer(_) => (
            http::StatusCode::UNAUTHORIZED,
            [(http::header::WWW_AUTHENTICATE, "Bearer realm=\"test\"")],
            "no",
        )
            .into_response(),
        Gate::Forbidden(_) => (http::StatusCode::FORBIDDEN, "not you").into_response(),
    }
}

/// A server that answers every request with a 307 to `to`.
async fn redirecting(to: String) -> Running {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let app = Router::new().route(
        "/mcp",
        axum::routing::any(move || {
            let to = to.clone();
            let seen = s.clone();
            async move {
                seen.requests.fetch_add(1, Ordering::SeqCst);
                (
                    http::StatusCode::TEMPORARY_REDIRECT,
                    [(http::header::LOCATION, to)],
                )
            }
        }),
    );
    serve_app(app, seen).await
}

// ------------------------------------------------------------------- DNS

/// The tests' DNS server (tests/support/dns.rs), as resolver settings.
fn resolver(server: &super::test_dns::DnsServer) -> Dns {
    Dns::servers(&[server.addr()])
}

// ----------------------------------------------------------------- tests

const TOKEN: &str = "tok-3f9a1c7e5b";

fn server(url: &str, auth: Option<Auth>) -> RemoteServer {
    let mut s = RemoteServer::new("docs", url);
    s.auth = auth;
    s.timeout = Duration::from_secs(10);
    s
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

#[tokio::test]
async fn tools_are_listed_and_called_with_the_bearer_token() {
    bounded(async {
        for json in [false, true] {
            let mcp = mcp_server(Echo::default(), Gate::Bearer(TOKEN), json).await;
            let s = server(&mcp.url(), Some(Auth::bearer("docs-token", TOKEN)));
            let conn = connect(&s, Dns::system()).await.unwrap();
            let tools = conn.list_tools().await.unwrap();
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, ["echo", "big", "sleep", "fail"]);
            assert_eq!(tools[0].description, "The echo tool.");
            assert_eq!(tools[0].input_schema["type"], "object");

            let reply = conn
                .call("echo", args(serde_json::json!({"text": "hello"})))
                .await
                .unwrap();
            assert!(!reply.is_error);
            assert_eq!(reply.text, "hello");
            let reply = conn.call("fail", serde_json::Map::new()).await.unwrap();
            assert!(reply.is_error);
            assert_eq!(reply.text, "it failed");
            // A server's JSON-RPC error is the server's, with its words.
            let e = conn.call("nope", serde_json::Map::new()).await.unwrap_err();
            assert!(
                matches!(&e, RemoteError::Protocol { .. })
                    && e.to_string().contains("unknown tool"),
                "{e}"
            );
            // A secret the server echoes back is cut out of the output.
            let reply = conn
                .call(
                    "echo",
                    args(serde_json::json!({"text": format!("got {TOKEN}")})),
                )
                .await
                .unwrap();
            assert_eq!(reply.text, "got <secret>");
            conn.close().await;
            assert!(format!("{conn:?}").contains("<secret>"));
            assert!(!format!("{conn:?}").contains(TOKEN));

            let sent = mcp.seen.authorization.lock().unwrap().clone();
            assert!(!sent.is_empty());
            assert!(
                sent.iter().all(|a| *a == format!("Bearer {TOKEN}")),
                "{sent:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_secret_can_go_in_a_header_of_its_own() {
    bounded(async {
        let mcp = mcp_server(Echo::default(), Gate::Open, false).await;
        let auth = Auth::header("docs-key", "X-Api-Key", "key ", TOKEN);
        let conn = connect(&server(&mcp.url(), Some(auth)), Dns::system())
            .await
            .unwrap();
        assert_eq!(conn.list_tools().await.unwrap().len(), 4);
        let keys = mcp.seen.api_key.lock().unwrap().clone();
        assert!(!keys.is_empty());
        assert!(
            keys.iter().all(|k| *k == format!("key {TOKEN}")),
            "{keys:?}"
        );
        assert!(mcp.seen.authorization.lock().unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_redirect_is_refused_not_followed() {
    bounded(async {
        let target = mcp_server(Echo::default(), Gate::Open, false).await;
        let redirect = redirecting(format!("{}?token=abc", target.url())).await;
        let started = Instant::now();
        let e = connect(
            &server(&redirect.url(), Some(Auth::bearer("docs-token", TOKEN))),
            Dns::system(),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{e}");
        let RemoteError::Redirect { to, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*to, target.url());
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "the server answered with a redirect to {}",
                target.url()
            )) && text.contains("Chitin does not follow redirects for MCP servers")
                && text.contains("configure the final URL"),
            "{text}"
        );
        assert!(e.is_denied());
        assert!(redirect.seen.requests.load(Ordering::SeqCst) >= 1);
        assert_eq!(target.seen.requests.load(Ordering::SeqCst), 0);
    })
    .await;
}

#[tokio::test]
async fn a_name_resolving_to_a_local_address_is_refused_unless_the_url_names_it() {
    bounded(async {
        let mcp = mcp_server(Echo::default(), Gate::Open, false).await;
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let dns = super::test_dns::DnsServer::start(&[
            (
                "mcp.example.test",
                super::test_dns::Answer::Addresses(vec![loopback]),
            ),
            (
                "localhost",
                super::test_dns::Answer::Addresses(vec![loopback]),
            ),
        ]);
        let port = mcp.addr.port();

        let url = format!("http://mcp.example.test:{port}/mcp");
        let started = Instant::now();
        let e = connect(&server(&url, None), resolver(&dns))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{e}");
        assert!(matches!(e, RemoteError::Refused { .. }), "{e:?}");
        assert!(e.is_denied());
        let text = e.to_string();
        assert!(
            text.contains("mcp.example.test resolved to 127.0.0.1 (loopback address)")
                && text.contains("only public addresses")
                && text.contains(&url),
            "{text}"
        );
        assert_eq!(mcp.seen.requests.load(Ordering::SeqCst), 0);

        // The URL names the address (or localhost) itself: allowed.
        for url in [
            format!("http://127.0.0.1:{port}/mcp"),
            format!("http://localhost:{port}/mcp"),
        ] {
            let conn = connect(&server(&url, None), resolver(&dns)).await.unwrap();
            assert_eq!(conn.list_tools().await.unwrap().len(), 4, "{url}");
        }

        // A name that does not resolve is an outage, not a refusal.
        let url = format!("http://missing.example.test:{port}/mcp");
        let e = connect(&server(&url, None), resolver(&dns))
            .await
            .unwrap_err();
        assert!(matches!(e, RemoteError::Unreachable { .. }), "{e:?}");
    })
    .await;
}

#[tokio::test]
async fn refused_credentials_name_the_secret_to_set() {
    bounded(async {
        for gate in [Gate::Bearer(TOKEN), Gate::Forbidden(TOKEN)] {
            let mcp = mcp_server(Echo::default(), gate, false).await;
            let wrong = "wrong-token-value";
            let e = connect(
                &server(&mcp.url(), Some(Auth::bearer("docs-token", wrong))),
                Dns::system(),
            )
            .await
            .unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, RemoteError::Unauthorized { .. }), "{e:?}");
            assert!(
                text.contains("chitin secret set docs-token") && text.contains(&mcp.url()),
                "{text}"
            );
            assert!(!text.contains(wrong) && !format!("{e:?}").contains(wrong));
            // Without a secret, it says how to configure one.
            let e = connect(&server(&mcp.url(), None), Dns::system())
                .await
                .unwrap_err();
            assert!(e.to_string().contains("chitin secret set NAME"), "{e}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_oversize_answer_is_refused_by_the_cap() {
    bounded(async {
        for json in [false, true] {
            let mcp = mcp_server(Echo::default(), Gate::Open, json).await;
            let limits = Limits {
                max_response_bytes: 16 * 1024,
                ..Limits::default()
            };
            let conn = connect_with(&server(&mcp.url(), None), Dns::system(), limits)
                .await
                .unwrap();
            let started = Instant::now();
            let e = conn
                .call("big", args(serde_json::json!({"bytes": 100_000})))
                .await
                .unwrap_err();
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "json {json}: {e}"
            );
            assert!(
                matches!(e, RemoteError::TooLarge { limit: 16384, .. }),
                "json {json}: {e:?}"
            );
            assert!(e.to_string().contains("larger than 16384 bytes"), "{e}");
        }
    })
    .await;
}

#[tokio::test]
async fn long_output_is_cut_to_the_output_cap() {
    bounded(async {
        let mcp = mcp_server(Echo::default(), Gate::Open, false).await;
        let limits = Limits {
            max_output_bytes: 100,
            ..Limits::default()
        };
        let conn = connect_with(&server(&mcp.url(), None), Dns::system(), limits)
            .await
            .unwrap();
        let reply = conn
            .call("big", args(serde_json::json!({"bytes": 5000})))
            .await
            .unwrap();
        assert!(reply.text.starts_with(&"x".repeat(100)), "{}", reply.text);
        assert!(reply.text.contains("[output truncated"), "{}", reply.text);
        assert!(reply.text.len() < 200);
    })
    .await;
}

#[tokio::test]
async fn a_tool_list_that_never_ends_is_bounded() {
    bounded(async {
        let echo = Echo {
            listing: Listing::Endless,
            ..Echo::default()
        };
        let pages = echo.pages.clone();
        let mcp = mcp_server(echo, Gate::Open, false).await;
        let conn = connect(&server(&mcp.url(), None), Dns::system())
            .await
            .unwrap();
        let tools = conn.list_tools().await.unwrap();
        assert_eq!(tools.len(), super::client::MAX_PAGES);
        assert_eq!(pages.load(Ordering::SeqCst), super::client::MAX_PAGES);

        let limits = Limits {
            max_tools: 5,
            ..Limits::default()
        };
        let conn = connect_with(&server(&mcp.url(), None), Dns::system(), limits)
            .await
            .unwrap();
        assert_eq!(conn.list_tools().await.unwrap().len(), 5);

        let echo = Echo {
            listing: Listing::SameCursor,
            ..Echo::default()
        };
        let pages = echo.pages.clone();
        let mcp = mcp_server(echo, Gate::Open, false).await;
        let conn = connect(&server(&mcp.url(), None), Dns::system())
            .await
            .unwrap();
        assert_eq!(conn.list_tools().await.unwrap().len(), 2);
        assert_eq!(pages.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test]
async fn a_slow_tool_times_out_and_a_dead_server_is_unreachable() {
    bounded(async {
        let mcp = mcp_server(Echo::default(), Gate::Open, false).await;
        let mut s = server(&mcp.url(), None);
        s.timeout = Duration::from_millis(700);
        let conn = connect(&s, Dns::system()).await.unwrap();
        let started = Instant::now();
        let e = conn
            .call("sleep", args(serde_json::json!({"bytes": 10_000})))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{e}");
        assert!(matches!(e, RemoteError::Timeout { .. }), "{e:?}");
        assert!(!e.is_connection());
        assert!(e.to_string().contains("timeout_secs"), "{e}");

        // Nothing listens there any more.
        let url = mcp.url();
        drop(mcp);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let e = connect(&server(&url, None), Dns::system())
            .await
            .unwrap_err();
        assert!(matches!(e, RemoteError::Unreachable { .. }), "{e:?}");
        assert!(e.is_connection());
    })
    .await;
}

#[tokio::test]
async fn bad_urls_are_refused_before_any_connection() {
    bounded(async {
        for (url, says) in [
            ("ftp://mcp.example.test/mcp", "only http"),
            ("https://user:pw@mcp.example.test/mcp", "credentials"),
            ("nonsense", "not a URL"),
        ] {
            let e = connect(&server(url, None), Dns::system())
                .await
                .unwrap_err();
            assert!(matches!(e, RemoteError::BadUrl { .. }), "{e:?}");
            let text = e.to_string();
            assert!(text.contains(says) && text.contains("docs"), "{text}");
            assert!(!text.contains("pw"), "{text}");
        }
    })
    .await;
}
