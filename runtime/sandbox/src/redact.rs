//! Redaction of secret values from anything that flows back to a skill,
//! the model or the logs: whole strings, and byte streams that arrive in
//! chunks (a secret split across chunks is still caught).

/// What replaces a secret value wherever it is redacted.
pub const REDACTED: &str = "[REDACTED]";

/// The name a response header gets when its name carried a secret.
pub const REDACTED_HEADER: &str = "x-chitin-redacted";

/// Replaces secret values with [`REDACTED`].
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<Vec<u8>>,
}

impl Redactor {
    /// A redactor for these values (shorter than 4 bytes are ignored).
    /// Besides each value as is, its percent-encoded and JSON-escaped forms
    /// are redacted (what a server echoing it in a URL or JSON would send).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|v| v.len() >= 4)
            .flat_map(|v| [v.to_string(), percent_encode(v), json_escape(v)])
            .map(String::into_bytes)
            .collect();
        needles.sort();
        needles.dedup();
        // Longest first, so a secret containing another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor { needles }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Longest secret, in bytes.
    pub fn max_len(&self) -> usize {
        self.needles.first().map_or(0, Vec::len)
    }

    /// Redact a byte buffer.
    pub fn redact_bytes(&self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for needle in &self.needles {
            out = replace_all(&out, needle, REDACTED.as_bytes());
        }
        out
    }

    /// Whether `input` contains a secret, compared without ASCII case (for
    /// header names, which arrive lowercased).
    pub fn matches_ignoring_case(&self, input: &[u8]) -> bool {
        self.needles
            .iter()
            .any(|n| input.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)))
    }

    /// Redact a header map in place: values as [`Redactor::redact_bytes`],
    /// and every header whose *name* carries a secret is renamed to
    /// `x-chitin-redacted` (a name cannot hold `[REDACTED]`). Returns false
    /// if a redacted value could not be re-encoded (that value is dropped).
    pub fn redact_headers(&self, headers: &mut http::HeaderMap) -> bool {
        if self.is_empty() {
            return true;
        }
        if headers
            .keys()
            .any(|n| self.matches_ignoring_case(n.as_str().as_bytes()))
        {
            let old = std::mem::take(headers);
            let mut name = None;
            for (n, v) in old {
                if let Some(n) = n {
                    name = Some(if self.matches_ignoring_case(n.as_str().as_bytes()) {
                        http::HeaderName::from_static(REDACTED_HEADER)
                    } else {
                        n
                    });
                }
                if let Some(n) = &name {
                    headers.append(n.clone(), v);
                }
            }
        }
        let mut ok = true;
        for value in headers.values_mut() {
            let clean = self.redact_bytes(value.as_bytes());
            if clean != value.as_bytes() {
                match http::HeaderValue::from_bytes(&clean) {
                    Ok(v) => *value = v,
                    Err(_) => {
                        ok = false;
                        *value = http::HeaderValue::from_static(REDACTED);
                    }
                }
            }
        }
        ok
    }

    /// Redact a string.
    pub fn redact(&self, input: &str) -> String {
        if self.is_empty() {
            return input.to_string();
        }
        String::from_utf8_lossy(&self.redact_bytes(input.as_bytes())).into_owned()
    }
}

fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn json_escape(v: &str) -> String {
    let quoted = serde_json::to_string(v).unwrap_or_default();
    quoted.trim_matches('"').replace('/', "\\/")
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Redacts a byte stream that arrives in chunks: a secret split across
/// chunk boundaries is still caught, by holding back a short tail.
#[derive(Debug, Default)]
pub struct StreamRedactor {
    redactor: Redactor,
    pending: Vec<u8>,
}

impl StreamRedactor {
    /// A stream redactor.
    pub fn new(redactor: Redactor) -> Self {
        StreamRedactor {
            redactor,
            pending: Vec::new(),
        }
    }

    /// The underlying redactor.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Feed a chunk; returns the bytes that are safe to pass on.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.redactor.is_empty() {
            return chunk.to_vec();
        }
        self.pending.extend_from_slice(chunk);
        let cleaned = self.redactor.redact_bytes(&self.pending);
        let keep = (self.redactor.max_len() - 1).min(cleaned.len());
        let (emit, tail) = cleaned.split_at(cleaned.len() - keep);
        self.pending = tail.to_vec();
        emit.to_vec()
    }

    /// End of stream: the held-back tail.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.pending);
        self.redactor.redact_bytes(&rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_forms_are_redacted() {
        let r = Redactor::new(["a/b c+d=="]);
        for text in [
            "x a/b c+d== y",
            "x a%2Fb%20c%2Bd%3D%3D y",
            r"x a\/b c+d== y",
        ] {
            assert_eq!(r.redact(text), "x [REDACTED] y", "{text}");
        }
    }

    #[test]
    fn header_names_and_values_are_redacted() {
        let r = Redactor::new(["Tok3nValue"]);
        let mut h = http::HeaderMap::new();
        h.insert("x-echo-tok3nvalue", http::HeaderValue::from_static("a"));
        h.insert("x-plain", http::HeaderValue::from_static("Tok3nValue!"));
        assert!(r.redact_headers(&mut h));
        assert!(!h.keys().any(|k| k.as_str().contains("tok3n")), "{h:?}");
        assert_eq!(h[REDACTED_HEADER], "a");
        assert_eq!(h["x-plain"], "[REDACTED]!");
    }

    #[test]
    fn stream_redaction_catches_split_secrets() {
        let secret = "tok-123456789";
        let text = format!("a {secret} b {secret}{secret} c");
        for split in 1..text.len() {
            let mut r = StreamRedactor::new(Redactor::new([secret]));
            let (a, b) = text.as_bytes().split_at(split);
            let mut out = r.push(a);
            out.extend(r.push(b));
            out.extend(r.finish());
            let out = String::from_utf8(out).unwrap();
            assert!(!out.contains(secret), "split at {split}: {out}");
            assert_eq!(out, "a [REDACTED] b [REDACTED][REDACTED] c");
        }
    }
}
