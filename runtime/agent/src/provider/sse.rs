//! An incremental Server-Sent-Events parser: feed it bytes as they arrive
//! (split anywhere), get whole events back. Follows the WHATWG rules (LF,
//! CRLF or CR line ends, multi-line `data`, `:` comments, a leading BOM) and
//! caps one event's size. Used for model streams and the daemon's own stream.

use super::ProviderError;
use thiserror::Error;

/// The default cap on one event (field lines plus data): 4 MiB.
pub const DEFAULT_MAX_EVENT: usize = 4 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field (None when absent or empty: a "message" event).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The stream broke the parser's limits.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SseError {
    /// One event grew past the cap.
    #[error("a server-sent event is larger than {limit} bytes")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
}

impl From<SseError> for ProviderError {
    fn from(e: SseError) -> Self {
        ProviderError::Protocol(e.to_string())
    }
}

/// Parser state; reuse one per stream.
#[derive(Debug)]
pub struct SseParser {
    /// The current, unterminated line.
    line: Vec<u8>,
    /// The pending event's type.
    event: Option<String>,
    /// The pending event's data (each line followed by `\n`).
    data: String,
    /// The last byte seen was a CR: skip an LF right after it.
    after_cr: bool,
    /// Nothing parsed yet (a BOM may come).
    at_start: bool,
    /// Cap on one event.
    max: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default 4 MiB cap per event.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT)
    }

    /// A parser with a cap of `max` bytes per event.
    pub fn with_limit(max: usize) -> Self {
        SseParser {
            line: Vec::new(),
            event: None,
            data: String::new(),
            after_cr: false,
            at_start: true,
            max,
        }
    }

    /// Feed the next bytes; returns the events they complete, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        if self.at_start && !bytes.is_empty() {
            // A UTF-8 BOM may open the stream (possibly split across feeds).
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let mut pending = std::mem::take(&mut self.line);
            pending.extend_from_slice(bytes);
            if pending.len() < BOM.len() && BOM.starts_with(&pending) {
                self.line = pending;
                return Ok(out);
            }
            self.at_start = false;
            let skip = if pending.starts_with(BOM) {
                BOM.len()
            } else {
                0
            };
            let rest = pending.split_off(skip);
            return self.feed_lines(&rest, out);
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        self.feed_lines(bytes, std::mem::take(&mut out))
    }

    fn feed_lines(
        &mut self,
        mut bytes: &[u8],
        mut out: Vec<SseEvent>,
    ) -> Result<Vec<SseEvent>, SseError> {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.grow(pos)?;
            self.line.extend_from_slice(&bytes[..pos]);
            let cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            if let Some(ev) = self.line_done(&line) {
                out.push(ev);
            }
        }
        self.grow(bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(out)
    }

    /// The stream ended: an unterminated last event is dispatched too (some
    /// servers omit the final blank line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let line = std::mem::take(&mut self.line);
        let mut ev = None;
        if !line.is_empty() {
            ev = self.line_done(&line);
        }
        ev.or_else(|| self.line_done(b""))
    }

    /// Room for `n` more bytes of the current line within the event cap.
    fn grow(&mut self, n: usize) -> Result<(), SseError> {
        let size = self.data.len() + self.line.len();
        if size.saturating_add(n) > self.max {
            self.reset();
            self.line.clear();
            return Err(SseError::TooLarge { limit: self.max });
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.event = None;
        self.data.clear();
    }

    /// One whole line; a blank line dispatches the pending event.
    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.reset();
                return None;
            }
            let mut data = std::mem::take(&mut self.data);
            data.pop(); // the last line's `\n`
            let event = self.event.take();
            self.reset();
            return Some(SseEvent { event, data });
        }
        if line[0] == b':' {
            return None; // a comment
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = (!value.is_empty()).then(|| value.to_string()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            _ => {} // id, retry and unknown fields are ignored
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    /// Every split of `input` into two feeds gives the same events.
    fn all_splits(input: &[u8]) -> Vec<SseEvent> {
        let mut whole = SseParser::new();
        let expected = whole.feed(input).unwrap();
        for cut in 0..=input.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&input[..cut]).unwrap();
            got.extend(p.feed(&input[cut..]).unwrap());
            assert_eq!(got, expected, "split at {cut}");
        }
        // And byte by byte.
        let mut p = SseParser::new();
        let got: Vec<_> = input
            .iter()
            .flat_map(|b| p.feed(std::slice::from_ref(b)).unwrap())
            .collect();
        assert_eq!(got, expected, "byte by byte");
        expected
    }

    #[test]
    fn parses_events_split_anywhere() {
        let input = b"event: message_start\ndata: {\"a\":1}\n\ndata: two\n\n";
        assert_eq!(
            all_splits(input),
            vec![ev(Some("message_start"), "{\"a\":1}"), ev(None, "two")]
        );
    }

    #[test]
    fn handles_crlf_and_bare_cr() {
        let crlf = b"event: x\r\ndata: one\r\n\r\ndata: two\r\r";
        assert_eq!(
            all_splits(crlf),
            vec![ev(Some("x"), "one"), ev(None, "two")]
        );
    }

    #[test]
    fn joins_multi_line_data_and_keeps_inner_spaces() {
        let input = b"data:first\ndata:  second\ndata\n\n";
        assert_eq!(all_splits(input), vec![ev(None, "first\n second\n")]);
    }

    #[test]
    fn skips_comments_unknown_fields_and_empty_events() {
        let input = b": keep-alive\n\nid: 7\nretry: 10\nevent: only-type\n\n:c\ndata: x\n\n";
        assert_eq!(all_splits(input), vec![ev(None, "x")]);
    }

    #[test]
    fn strips_a_leading_bom() {
        let input = b"\xEF\xBB\xBFdata: a\n\n";
        assert_eq!(all_splits(input), vec![ev(None, "a")]);
    }

    #[test]
    fn finish_dispatches_an_unterminated_event() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: [DONE]").unwrap().is_empty());
        assert_eq!(p.finish(), Some(ev(None, "[DONE]")));
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn caps_one_event_but_not_the_stream() {
        let mut p = SseParser::with_limit(64);
        // Many small events are fine.
        for _ in 0..100 {
            assert_eq!(p.feed(b"data: 0123456789\n\n").unwrap().len(), 1);
        }
        // One big event, in pieces, is not.
        let err = (0..10)
            .map(|_| p.feed(b"data: 0123456789\n"))
            .find_map(Result::err);
        assert_eq!(err, Some(SseError::TooLarge { limit: 64 }));
        // A line with no end is capped too.
        let mut p = SseParser::with_limit(64);
        assert!(p.feed(&[b'x'; 65]).is_err());
        assert!(matches!(
            ProviderError::from(SseError::TooLarge { limit: 1 }),
            ProviderError::Protocol(_)
        ));
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let mut p = SseParser::new();
        let got = p.feed(b"data: \xFF\xFE\n\n").unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].data.contains('\u{FFFD}'));
    }
}
