//! CalDAV (RFC 4791): the `calendar-query` REPORT with a time range, and
//! reading its `207 Multi-Status` answer (RFC 4918) with `quick-xml`.

use crate::window::Window;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

const DAV: &[u8] = b"DAV:";
const CALDAV: &[u8] = b"urn:ietf:params:xml:ns:caldav";
/// Resources read from one answer.
pub const MAX_RESOURCES: usize = 2_000;

/// The REPORT body: every VEVENT overlapping the window, with its ETag
/// and calendar data (RFC 4791 §7.8.1).
pub fn query_body(w: &Window) -> String {
    let f = "%Y%m%dT%H%M%SZ";
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="{}" end="{}"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>
"#,
        w.start.format(f),
        w.end.format(f)
    )
}

/// One `<D:response>`: the resource, its ETag and its iCalendar text.
#[derive(Debug, Default, Clone)]
pub struct Resource {
    /// `<D:href>`.
    pub href: String,
    /// `<D:getetag>`.
    pub etag: Option<String>,
    /// `<C:calendar-data>`.
    pub data: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    None,
    Href,
    Etag,
    Data,
}

/// Parse a multistatus body; element prefixes may be anything, namespaces
/// decide. Responses without calendar data (404 propstats) are skipped.
pub fn parse_multistatus(xml: &str) -> Result<Vec<Resource>, String> {
    let mut reader = NsReader::from_str(xml);
    let mut out = Vec::new();
    let mut cur: Option<Resource> = None;
    let mut field = Field::None;
    let mut saw_multistatus = false;
    // Bounded by the input: each read consumes bytes until Eof.
    loop {
        let (ns, ev) = reader
            .read_resolved_event()
            .map_err(|e| format!("bad XML: {e}"))?;
        let ns = match ns {
            ResolveResult::Bound(n) => n.as_ref().to_vec(),
            _ => Vec::new(),
        };
        match ev {
            Event::Start(ref e) => {
                let local = e.local_name();
                match (ns.as_slice(), local.as_ref()) {
                    (DAV, b"multistatus") => saw_multistatus = true,
                    (DAV, b"response") => cur = Some(Resource::default()),
                    (DAV, b"href") if cur.is_some() => field = Field::Href,
                    (DAV, b"getetag") if cur.is_some() => field = Field::Etag,
                    (CALDAV, b"calendar-data") if cur.is_some() => field = Field::Data,
                    _ => {}
                }
            }
            Event::Text(t) => {
                // Entities arrive as their own `GeneralRef` events.
                let text = t.decode().map_err(|e| format!("bad text in XML: {e}"))?;
                push(&mut cur, field, &text);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| format!("bad entity in XML: {e}"))?;
                let c = match name.as_ref() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    // Unknown named entities (no DTD here) are dropped.
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                if let Some(c) = c {
                    push(&mut cur, field, c.encode_utf8(&mut [0; 4]));
                }
            }
            Event::CData(c) => {
                let text = String::from_utf8_lossy(&c.into_inner()).into_owned();
                push(&mut cur, field, &text);
            }
            Event::End(ref e) => {
                let local = e.local_name();
                match (ns.as_slice(), local.as_ref()) {
                    (DAV, b"response") => {
                        if let Some(r) = cur.take().filter(|r| !r.data.trim().is_empty()) {
                            out.push(r);
                            if out.len() >= MAX_RESOURCES {
                                break;
                            }
                        }
                    }
                    (DAV, b"href" | b"getetag") | (CALDAV, b"calendar-data") => field = Field::None,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_multistatus {
        return Err("the answer is not a DAV:multistatus document".into());
    }
    Ok(out)
}

fn push(cur: &mut Option<Resource>, field: Field, text: &str) {
    let Some(r) = cur.as_mut() else { return };
    match field {
        Field::Href => r.href.push_str(text.trim()),
        Field::Etag => r.etag.get_or_insert_with(String::new).push_str(text.trim()),
        Field::Data => r.data.push_str(text),
        Field::None => {}
    }
}
