//! Redaction of secret values from anything that flows back to a skill,
//! the model or the logs: whole strings, and byte streams that arrive in
//! chunks (a secret split across chunks is still caught).

/// What replaces a secret value wherever it is redacted.
pub const REDACTED: &str = "[REDACTED]";

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
