//! A tiny headless-Chromium driver over the Chrome DevTools Protocol: launch
//! a browser on a URL, evaluate JavaScript in the page, wait for conditions.
//! Only 127.0.0.1 is ever contacted (the DevTools port and the page's server).

#![allow(dead_code)]

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// Binary names looked up on `PATH`, in order.
const CANDIDATES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];
/// How long the browser may take to start and expose its page target.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one DevTools command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Polling interval of [`Browser::wait_for`].
const POLL: Duration = Duration::from_millis(50);

/// Whether a Chromium binary can be found (`CHITIN_CHROMIUM` or `PATH`).
pub fn chromium_available() -> bool {
    find_chromium().is_some()
}

/// The Chromium binary: `CHITIN_CHROMIUM` if set (a path, or a name looked up
/// on `PATH`), else the first of `chromium`, `chromium-browser`,
/// `google-chrome` found on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("CHITIN_CHROMIUM").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&v);
        if p.components().count() > 1 {
            return is_executable(&p).then_some(p);
        }
        return on_path(&v.to_string_lossy());
    }
    CANDIDATES.iter().find_map(|name| on_path(name))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A headless Chromium with one page, driven over DevTools. Dropping it
/// closes the browser and removes its profile directory.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    dir: tempfile::TempDir,
}

impl Browser {
    /// Start headless Chromium on `url` and connect to its page.
    pub fn launch(url: &str) -> Result<Browser> {
        let bin = find_chromium().ok_or_else(|| {
            anyhow!(
                "no Chromium found (tried $CHITIN_CHROMIUM, {}): run scripts/install-chromium",
                CANDIDATES.join(", ")
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("chitin-chromium-")
            .tempdir()
            .context("creating the browser's temp dir")?;
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).context("creating the browser profile dir")?;
        let log_path = dir.path().join("chromium.log");
        let log = std::fs::File::create(&log_path).context("creating the browser log")?;
        let log_err = log.try_clone().context("cloning the browser log handle")?;
        let child = Command::new(&bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                // Keep it off the network: no updates, sync, pings or lookups
                // of anything but literal addresses and localhost.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-pings",
                "--metrics-recording-only",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut partial = Partial {
            child: Some(child),
            log: log_path,
        };
        let deadline = Instant::now() + LAUNCH_TIMEOUT;
        let port = partial.devtools_port(&profile, deadline)?;
        let ws_url = partial.page_ws_url(port, deadline)?;
        let ws = connect(port, &ws_url).with_context(|| format!("connecting to {ws_url}"))?;
        let child = partial
            .child
            .take()
            .ok_or_else(|| anyhow!("browser process lost"))?;
        Ok(Browser {
            child,
            ws,
            next_id: 0,
            dir,
        })
    }

    /// Send one DevTools command to the page and return its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(msg.to_string()))
            .with_context(|| format!("sending {method}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if Instant::now() > deadline {
                bail!("no answer to {method} within {COMMAND_TIMEOUT:?}");
            }
            let frame = match self.ws.read() {
                Ok(frame) => frame,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("reading the answer to {method}")),
            };
            let text = match frame {
                Message::Text(t) => t.as_str().to_owned(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(_) => bail!("DevTools closed the connection during {method}"),
                _ => continue,
            };
            let v: Value = serde_json::from_str(&text).context("DevTools sent invalid JSON")?;
            if v.get("id").and_then(Value::as_u64) != Some(id) {
                continue; // an event, or an answer to an abandoned command
            }
            if let Some(err) = v.get("error") {
                bail!("{method} failed: {err}");
            }
            return Ok(v.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// Evaluate `js` in the page (promises are awaited) and return its value
    /// (`null` for `undefined` and non-serializable values); an exception is
    /// an error.
    pub fn eval(&mut self, js: &str) -> Result<Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            let what = ex
                .pointer("/exception/description")
                .and_then(Value::as_str)
                .or_else(|| ex.get("text").and_then(Value::as_str))
                .unwrap_or("exception");
            bail!("JavaScript error: {what}\n  in: {}", excerpt(js, 300));
        }
        Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
    }

    /// Evaluate `js_predicate` every 50 ms until it gives a truthy value
    /// (returned), or fail after `timeout` with the last value and an excerpt
    /// of the page's text. Evaluation errors (e.g. during a navigation) count
    /// as "not yet".
    pub fn wait_for(&mut self, js_predicate: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.eval(js_predicate) {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(v) => v.to_string(),
                Err(e) => format!("error: {e:#}"),
            };
            if Instant::now() >= deadline {
                let body = self
                    .eval("document.body ? document.body.innerText : '(no body)'")
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .unwrap_or_else(|e| format!("(unreadable: {e:#})"));
                bail!(
                    "timed out after {timeout:?} waiting for: {}\n  last value: {}\n  page text: {}",
                    excerpt(js_predicate, 300),
                    excerpt(&last, 500),
                    excerpt(&body, 1500)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Click the first element matching the CSS `selector` (via its
    /// `click()`); an error if there is none.
    pub fn click(&mut self, selector: &str) -> Result<()> {
        let sel = serde_json::to_string(selector)?;
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); \
             if (!e) throw new Error('no element matches ' + {sel}); e.click(); return true; }})()"
        ))?;
        Ok(())
    }

    /// Focus the element matching `selector` and type `text` into it as
    /// keyboard input (`Input.insertText`: fires real input events).
    pub fn type_text(&mut self, selector: &str, text: &str) -> Result<()> {
        let sel = serde_json::to_string(selector)?;
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); \
             if (!e) throw new Error('no element matches ' + {sel}); e.focus(); return true; }})()"
        ))?;
        self.call("Input.insertText", json!({"text": text}))?;
        Ok(())
    }

    /// The browser's profile and log directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the browser printed so far (for diagnostics).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromium.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely (lets Chromium reap its helpers), then insist.
        let _ = self
            .ws
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(500)));
        let _ = self.ws.send(Message::text(
            json!({"id": 0, "method": "Browser.close"}).to_string(),
        ));
        stop_child(&mut self.child, Duration::from_secs(3));
        // `dir` (a TempDir) is removed after this, when the fields drop.
    }
}

/// Owns the child until the launch succeeds, so every failure path kills it.
struct Partial {
    child: Option<Child>,
    log: PathBuf,
}

impl Partial {
    fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            bail!(
                "Chromium exited during startup ({status}); its output:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(3000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    /// Poll `<profile>/DevToolsActivePort` for the port Chromium chose.
    fn devtools_port(&mut self, profile: &Path, deadline: Instant) -> Result<u16> {
        let file = profile.join("DevToolsActivePort");
        loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
            {
                return Ok(port);
            }
            self.check_alive()?;
            if Instant::now() >= deadline {
                bail!(
                    "Chromium did not write {} within {LAUNCH_TIMEOUT:?}; its output:\n{}",
                    file.display(),
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Poll `/json/list` for the page target's WebSocket URL.
    fn page_ws_url(&mut self, port: u16, deadline: Instant) -> Result<String> {
        loop {
            let last = match http_get(port, "/json/list") {
                Ok(body) => {
                    let targets: Value = serde_json::from_str(&body)
                        .with_context(|| format!("/json/list is not JSON: {body}"))?;
                    let url = targets.as_array().and_then(|ts| {
                        ts.iter()
                            .filter(|t| t.get("type").and_then(Value::as_str) == Some("page"))
                            .find_map(|t| t.get("webSocketDebuggerUrl").and_then(Value::as_str))
                    });
                    if let Some(url) = url {
                        return Ok(url.to_owned());
                    }
                    body
                }
                Err(e) => format!("{e:#}"),
            };
            self.check_alive()?;
            if Instant::now() >= deadline {
                bail!("no page target in DevTools within {LAUNCH_TIMEOUT:?}; last answer: {last}");
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            stop_child(child, Duration::ZERO);
        }
    }
}

/// Wait up to `grace` for the process to exit, then kill it and reap it.
fn stop_child(child: &mut Child, grace: Duration) {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn devtools_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A minimal HTTP GET to the DevTools server; returns the body. HTTP/1.1,
/// since current Chromium refuses HTTP/1.0; it ignores `Connection: close`,
/// so the body is read by its `Content-Length`.
fn http_get(port: u16, path: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&devtools_addr(port), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let body_start = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if raw.len() > 64 << 10 {
            bail!("DevTools sent oversized HTTP headers");
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            bail!("DevTools closed the connection without an answer");
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..body_start]).into_owned();
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200") {
        bail!("DevTools answered {status}");
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| anyhow!("DevTools answered without a Content-Length"))?;
    if len > 4 << 20 {
        bail!("DevTools answer too large ({len} bytes)");
    }
    let mut body = raw[body_start..].to_vec();
    while body.len() < len {
        let n = s.read(&mut buf)?;
        if n == 0 {
            bail!("DevTools closed the connection mid-answer");
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(len);
    String::from_utf8(body).context("DevTools answer is not UTF-8")
}

/// Open the DevTools WebSocket (plain ws:// on 127.0.0.1).
fn connect(port: u16, ws_url: &str) -> Result<WebSocket<TcpStream>> {
    let stream = TcpStream::connect_timeout(&devtools_addr(port), Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(true)?;
    let (ws, _) = tungstenite::client(ws_url, stream)
        .map_err(|e| anyhow!("WebSocket handshake failed: {e}"))?;
    // Short reads so command deadlines are checked; tungstenite resumes
    // partially read frames after a timeout.
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(250)))?;
    Ok(ws)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn excerpt(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}
