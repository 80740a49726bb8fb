//! A real HTTP/1.1 server on 127.0.0.1 for tests: it records every request
//! and answers a few routes. One request per connection; the accept loop
//! stops when the server is dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// The running server.
pub struct TestServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    files: Files,
    routes: Routes,
    stop: Arc<AtomicBool>,
}

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;
/// Canned answers by path: status, headers, body (see [`TestServer::route`]).
type Routes = Arc<Mutex<HashMap<String, (u16, Vec<(String, String)>, Vec<u8>)>>>;

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn query(path: &str, key: &str) -> Option<String> {
    let q = path.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        kv.strip_prefix(&format!("{key}="))
            .map(|v| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

/// A `Transfer-Encoding: chunked` request body (at most 1 MiB, 10,000 chunks).
fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..10_000 {
        let mut size = String::new();
        if reader.read_line(&mut size).is_err() {
            break;
        }
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16).unwrap_or(0);
        if n == 0 || body.len() + n > 1 << 20 {
            break;
        }
        let mut chunk = vec![0; n + 2];
        if reader.read_exact(&mut chunk).is_err() {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body
}

fn handle(
    mut stream: TcpStream,
    requests: &Mutex<Vec<Request>>,
    files: &Files,
    routes: &Routes,
    base: &str,
) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        body = read_chunked(&mut reader);
    }
    let req = Request {
        method,
        path: path.clone(),
        headers: headers.clone(),
        body,
    };
    requests.lock().unwrap().push(req);

    let route = path.split('?').next().unwrap_or("/");
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    let canned = {
        let routes = routes.lock().unwrap();
        // Exact path first, then a `prefix*` route.
        routes.get(route).cloned().or_else(|| {
            routes
                .iter()
                .find(|(k, _)| k.strip_suffix('*').is_some_and(|p| route.starts_with(p)))
                .map(|(_, v)| v.clone())
        })
    };
    if let Some((status, hs, body)) = canned {
        let hs: Vec<(&str, String)> = hs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        return respond(&mut stream, &format!("{status} Canned"), &hs, &body);
    }
    match route {
        "/text" => respond(&mut stream, "200 OK", &[("Content-Type", "text/plain".into())], b"hello from the test server"),
        "/html" => respond(
            &mut stream,
            "200 OK",
            &[("Content-Type", "text/html".into())],
            b"<html><head><title>T</title><script>var x=1;</script></head><body><h1>Chitin &amp; friends</h1><p>Readable   text.</p></body></html>",
        ),
        "/echo-auth" => respond(&mut stream, "200 OK", &[("X-Echo", auth.clone())], format!("you sent: {auth}").as_bytes()),
        "/redirect" => {
            let to = query(&path, "to").unwrap_or_else(|| format!("{base}/text"));
            respond(&mut stream, "302 Found", &[("Location", to)], b"")
        }
        r if r.starts_with("/files/") => match files.lock().unwrap().get(&r["/files/".len()..]).cloned() {
            Some(bytes) => respond(&mut stream, "200 OK", &[("Content-Type", "application/wasm".into())], &bytes),
            None => respond(&mut stream, "404 Not Found", &[], b"no such file"),
        },
        "/echo-auth-name" => {
            // The token as a response header *name* (HTTP lowercases names).
            let token = auth.rsplit(' ').next().unwrap_or("").to_string();
            respond(&mut stream, "200 OK", &[(&format!("X-Echo-{token}"), "1".into())], b"ok")
        }
        "/encoded-echo" => respond(
            &mut stream,
            "200 OK",
            &[("Content-Encoding", "gzip".into())],
            format!("you sent: {auth}").as_bytes(),
        ),
        "/json-echo" => {
            let body = serde_json::json!({ "auth": auth, "url": format!("/cb?token={}", auth.replace(' ', "%20")) });
            respond(&mut stream, "200 OK", &[("Content-Type", "application/json".into())], body.to_string().replace('/', "\\/").as_bytes())
        }
        "/redirect-auth" => respond(
            &mut stream,
            "302 Found",
            &[("Location", format!("{base}/text?t={}", auth.replace(' ', "%20")))],
            b"",
        ),
        "/loop" => respond(&mut stream, "302 Found", &[("Location", format!("{base}/loop"))], b""),
        "/bytes" => {
            let n: usize = query(&path, "n").and_then(|v| v.parse().ok()).unwrap_or(1024);
            respond(&mut stream, "200 OK", &[], &vec![b'x'; n])
        }
        "/slow" => {
            let ms: u64 = query(&path, "ms").and_then(|v| v.parse().ok()).unwrap_or(1000);
            std::thread::sleep(Duration::from_millis(ms.min(10_000)));
            respond(&mut stream, "200 OK", &[], b"slow")
        }
        r if r.starts_with("/repos/") => {
            if auth.is_empty() {
                return respond(&mut stream, "401 Unauthorized", &[], b"{\"message\":\"Requires authentication\"}");
            }
            let body = if r.ends_with("/issues") {
                r#"[{"number":7,"title":"Sandbox all the things","state":"open","html_url":"https://example.invalid/7"}]"#.to_string()
            } else {
                r#"{"full_name":"chitin/chitin","description":"A hardened shell","stargazers_count":42,"forks_count":3,"open_issues_count":1,"default_branch":"main","language":"Rust","html_url":"https://example.invalid"}"#.to_string()
            };
            respond(&mut stream, "200 OK", &[("Content-Type", "application/json".into())], body.as_bytes())
        }
        _ => respond(&mut stream, "404 Not Found", &[], b"not found"),
    }
}

impl TestServer {
    /// Start on 127.0.0.1 with an ephemeral port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let files: Files = Arc::default();
        let routes: Routes = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stop2, files2) = (requests.clone(), stop.clone(), files.clone());
        let routes2 = routes.clone();
        let base = format!("http://{addr}");
        std::thread::spawn(move || {
            // Bounded: a test makes a handful of requests at most.
            for stream in listener.incoming().take(10_000) {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(s) = stream {
                    let (reqs, base, files) = (reqs.clone(), base.clone(), files2.clone());
                    let routes = routes2.clone();
                    std::thread::spawn(move || handle(s, &reqs, &files, &routes, &base));
                }
            }
        });
        TestServer {
            addr,
            requests,
            files,
            routes,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Serve `bytes` at `/files/<name>`.
    pub fn serve(&self, name: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(name.to_string(), bytes);
    }

    /// Answer every request to `path` (query ignored, any method; a final
    /// `*` matches any rest) with this status, headers and body, ahead of
    /// the built-in routes.
    pub fn route(
        &self,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), (status, headers, body.into()));
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}
