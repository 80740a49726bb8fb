//! RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 documents to raw items, with a pull
//! parser (quick-xml) that never expands DTD entities. A DOCTYPE with an
//! internal subset (where entity bombs live) is refused outright, and the
//! nesting depth and item count are capped.

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 64;
/// Items parsed from one document; the rest are only counted.
pub const MAX_ITEMS: usize = 500;
/// Characters kept of one field while parsing (before the output caps).
const MAX_FIELD: usize = 64 * 1024;

/// Why a document is not a feed we can read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A DOCTYPE with declarations: the shape of an entity-expansion bomb.
    #[error(
        "the document declares a DOCTYPE with an internal subset (entity declarations); \
         refused, as entity expansion is how XML bombs work"
    )]
    Doctype,
    /// The root element is not `rss`, `feed` or `rdf:RDF`.
    #[error("this is not an RSS or Atom feed (its root element is `{0}`)")]
    NotAFeed(String),
    /// An HTML page instead of a feed.
    #[error(
        "this is an HTML page, not a feed: look in it for a <link rel=\"alternate\" \
         type=\"application/rss+xml\"> and read that URL"
    )]
    Html,
    /// Nesting deeper than any feed needs.
    #[error("the feed nests elements more than {MAX_DEPTH} deep; refused")]
    TooDeep,
    /// The XML is not well-formed.
    #[error("the feed is not well-formed XML near byte {at}: {why}")]
    Malformed {
        /// Byte offset of the problem.
        at: u64,
        /// The parser's message.
        why: String,
    },
    /// The document ended before its root element.
    #[error("the document is empty or has no root element")]
    Empty,
}

/// Which feed format the document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RSS 0.9x/2.0 (`<rss><channel><item>`).
    Rss,
    /// RSS 1.0 (`<rdf:RDF><channel/><item>`).
    Rdf,
    /// Atom 1.0 (`<feed><entry>`).
    Atom,
}

impl Format {
    /// The name shown to the model.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Rdf => "rss 1.0 (rdf)",
            Format::Atom => "atom",
        }
    }
}

/// Whether a field's text is HTML (to strip) or plain text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Markup {
    /// HTML or XHTML: tags are stripped later.
    #[default]
    Html,
    /// Plain text (Atom `type="text"`).
    Text,
}

/// Text of one element, with how to read it.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// The text, XML references resolved.
    pub text: String,
    /// HTML or plain.
    pub markup: Markup,
}

/// One item or entry, as found.
#[derive(Debug, Default)]
pub struct RawItem {
    /// Title.
    pub title: Field,
    /// Link to the item's page.
    pub link: Option<String>,
    /// RSS `guid` (a link fallback) or Atom `id`.
    pub id: Option<String>,
    /// Published date as written (RSS `pubDate`/`dc:date`, Atom `published`).
    pub published: Option<String>,
    /// Atom `updated`, used when there is no `published`.
    pub updated: Option<String>,
    /// RSS `description`, Atom `summary`.
    pub summary: Field,
    /// RSS `content:encoded`, Atom `content`.
    pub content: Field,
}

/// A parsed document.
#[derive(Debug)]
pub struct RawFeed {
    /// The format.
    pub format: Format,
    /// The feed's own title.
    pub title: Field,
    /// The feed's own link (its web site).
    pub link: Option<String>,
    /// Items in document order (at most [`MAX_ITEMS`]).
    pub items: Vec<RawItem>,
    /// Items past [`MAX_ITEMS`], not parsed.
    pub more: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Title,
    Link,
    Id,
    Published,
    Updated,
    Summary,
    Content,
}

/// Where captured text goes: the item's or the feed's field, and the
/// depth its element opened at.
struct Capture {
    slot: Slot,
    in_item: bool,
    depth: usize,
    markup: Markup,
    text: String,
}

/// Parse a feed document.
pub fn parse(doc: &str) -> Result<RawFeed, FeedError> {
    let mut reader = Reader::from_str(doc);
    reader.config_mut().expand_empty_elements = false;
    let mut format = None;
    let mut depth = 0usize;
    let mut feed = RawFeed {
        format: Format::Rss,
        title: Field::default(),
        link: None,
        items: Vec::new(),
        more: 0,
    };
    let mut item: Option<(RawItem, usize)> = None;
    let mut capture: Option<Capture> = None;
    loop {
        let event = reader.read_event().map_err(|e| FeedError::Malformed {
            at: reader.error_position(),
            why: e.to_string(),
        })?;
        match event {
            Event::DocType(d) => {
                if d.contains('[') || d.contains("ENTITY") {
                    return Err(FeedError::Doctype);
                }
            }
            Event::Start(e) if format.is_none() => {
                format = Some(root(&e)?);
                depth = 1;
            }
            Event::Empty(e) if format.is_none() => format = Some(root(&e)?),
            Event::Start(e) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(FeedError::TooDeep);
                }
                if let Some(c) = capture.as_mut() {
                    // Markup inside a field (Atom XHTML content): keep words apart.
                    c.text.push(' ');
                    continue;
                }
                let fmt = format.unwrap_or(Format::Rss);
                open(&e, depth, fmt, &mut feed, &mut item, &mut capture, false);
            }
            Event::Empty(e) => {
                if capture.is_none() {
                    let fmt = format.unwrap_or(Format::Rss);
                    open(&e, depth + 1, fmt, &mut feed, &mut item, &mut capture, true);
                }
            }
            Event::End(_) => {
                if capture.as_ref().is_some_and(|c| c.depth == depth)
                    && let Some(c) = capture.take()
                {
                    store(c, &mut feed, &mut item);
                }
                if item.as_ref().is_some_and(|(_, d)| *d == depth)
                    && let Some((done, _)) = item.take()
                {
                    feed.items.push(done);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => append(&mut capture, &t.xml10_content()),
            Event::CData(t) => append(&mut capture, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = reference(&r);
                append(&mut capture, &resolved);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    feed.format = format.ok_or(FeedError::Empty)?;
    Ok(feed)
}

/// The format named by the root element.
fn root(e: &BytesStart<'_>) -> Result<Format, FeedError> {
    let name = local(e);
    match name.as_str() {
        "rss" => Ok(Format::Rss),
        "RDF" => Ok(Format::Rdf),
        "feed" => Ok(Format::Atom),
        "html" | "HTML" => Err(FeedError::Html),
        _ => Err(FeedError::NotAFeed(
            crate::text::cap(&crate::text::collapse(&name), 40).0,
        )),
    }
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// An element opened at `depth`: maybe an item, maybe a field to capture.
#[allow(clippy::too_many_arguments)]
fn open(
    e: &BytesStart<'_>,
    depth: usize,
    format: Format,
    feed: &mut RawFeed,
    item: &mut Option<(RawItem, usize)>,
    capture: &mut Option<Capture>,
    empty: bool,
) {
    let name = local(e);
    let item_tag = if format == Format::Atom {
        "entry"
    } else {
        "item"
    };
    if item.is_none() && name == item_tag {
        if feed.items.len() >= MAX_ITEMS {
            feed.more += 1;
        } else if !empty {
            *item = Some((RawItem::default(), depth));
        }
        return;
    }
    let in_item = item.is_some();
    // Feed-level fields sit right under the channel (RSS, RDF) or the feed.
    let feed_level = match format {
        Format::Atom => depth == 2,
        Format::Rss | Format::Rdf => depth == 3,
    };
    if !in_item && !feed_level {
        return;
    }
    if format == Format::Atom && name == "link" {
        let rel = attr(e, "rel").unwrap_or_else(|| "alternate".into());
        if rel == "alternate"
            && let Some(href) = attr(e, "href")
        {
            let target = match item.as_mut() {
                Some((it, _)) => &mut it.link,
                None => &mut feed.link,
            };
            target.get_or_insert(href);
        }
        return;
    }
    let slot = match (format, name.as_str()) {
        (_, "title") => Slot::Title,
        (Format::Atom, "summary") | (Format::Rss | Format::Rdf, "description") => Slot::Summary,
        (Format::Atom, "content") | (Format::Rss | Format::Rdf, "encoded") => Slot::Content,
        (Format::Atom, "published") | (Format::Rss | Format::Rdf, "pubDate" | "date") => {
            Slot::Published
        }
        (Format::Atom, "updated") => Slot::Updated,
        (Format::Atom, "id") | (Format::Rss, "guid") => Slot::Id,
        (Format::Rss | Format::Rdf, "link") => Slot::Link,
        _ => return,
    };
    if empty {
        return;
    }
    let markup = match (format, attr(e, "type").as_deref()) {
        (Format::Atom, None | Some("text")) => Markup::Text,
        _ => Markup::Html,
    };
    *capture = Some(Capture {
        slot,
        in_item,
        depth,
        markup,
        text: String::new(),
    });
}

fn append(capture: &mut Option<Capture>, s: &str) {
    if let Some(c) = capture.as_mut()
        && c.text.len() < MAX_FIELD
    {
        let room = MAX_FIELD - c.text.len();
        let end = (0..=room.min(s.len()))
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        c.text.push_str(&s[..end]);
    }
}

/// An XML reference: one of the five predefined entities, a character, or
/// (leniently, as feeds are sloppy) an HTML entity name. Nothing is ever
/// looked up in a DTD.
fn reference(r: &BytesRef<'_>) -> String {
    if let Some(s) = quick_xml::escape::resolve_predefined_entity(r) {
        return s.to_string();
    }
    // Character references and HTML names go through the same decoder as
    // the text later: a reference to a control character becomes U+FFFD.
    crate::text::decode_entities(&format!("&{};", &**r))
}

fn store(c: Capture, feed: &mut RawFeed, item: &mut Option<(RawItem, usize)>) {
    let field = Field {
        text: c.text,
        markup: c.markup,
    };
    if field.text.trim().is_empty() {
        return;
    }
    let plain = || field.text.trim().to_string();
    match (c.in_item, item.as_mut()) {
        (true, Some((it, _))) => match c.slot {
            Slot::Title if it.title.text.is_empty() => it.title = field,
            Slot::Summary if it.summary.text.is_empty() => it.summary = field,
            Slot::Content if it.content.text.is_empty() => it.content = field,
            Slot::Link if it.link.is_none() => it.link = Some(plain()),
            Slot::Id if it.id.is_none() => it.id = Some(plain()),
            Slot::Published if it.published.is_none() => it.published = Some(plain()),
            Slot::Updated if it.updated.is_none() => it.updated = Some(plain()),
            _ => {}
        },
        _ => match c.slot {
            Slot::Title if feed.title.text.is_empty() => feed.title = field,
            Slot::Link if feed.link.is_none() => feed.link = Some(plain()),
            _ => {}
        },
    }
}
