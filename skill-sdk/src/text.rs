//! Plain text out of the HTML fragments search engines return (`<b>`,
//! `<strong>`, entities): tags dropped, entities decoded, control and
//! bidi-override characters removed, whitespace collapsed, length capped.

/// Named entities worth decoding in snippets; anything else is kept as is.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("ndash", '–'),
    ("mdash", '—'),
    ("hellip", '…'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("middot", '·'),
    ("bull", '•'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("deg", '°'),
    ("euro", '€'),
    ("pound", '£'),
];

/// Longest entity body we look at (`&#x10FFFF;` is 8 between `&` and `;`).
const MAX_ENTITY: usize = 10;

/// Elements that break a line: replaced by a space so words stay apart.
/// Inline ones (`b`, `a`, `em`…) vanish without one.
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// Elements whose content is code, not text.
const HIDDEN: &[&str] = &["script", "style", "template"];

/// `html` as one line of plain text.
pub fn plain(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        let after = &rest[lt + 1..];
        if !after.starts_with(|c: char| c.is_ascii_alphabetic() || "/!?".contains(c)) {
            text.push('<');
            rest = after;
            continue;
        }
        let name: String = after
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase();
        rest = after.find('>').map_or("", |gt| &after[gt + 1..]);
        if HIDDEN.contains(&name.as_str()) && !after.starts_with('/') {
            rest = close_tag(rest, &name).map_or("", |end| &rest[end..]);
            continue;
        }
        if BLOCK.contains(&name.as_str()) {
            text.push(' ');
        }
    }
    text.push_str(rest);
    collapse(&decode_entities(&text))
}

/// Where `</name` (any case) starts in `hay`.
fn close_tag(hay: &str, name: &str) -> Option<usize> {
    hay.match_indices("</").map(|(i, _)| i).find(|&i| {
        hay.as_bytes()
            .get(i + 2..i + 2 + name.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// Decode `&name;`, `&#N;` and `&#xH;`; unknown or invalid ones stay literal.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after
            .char_indices()
            .take(MAX_ENTITY + 1)
            .find(|&(_, c)| c == ';')
            .and_then(|(semi, _)| entity(&after[..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(body: &str) -> Option<char> {
    let code = if let Some(hex) = body.strip_prefix("#x").or_else(|| body.strip_prefix("#X")) {
        u32::from_str_radix(hex, 16).ok()?
    } else if let Some(dec) = body.strip_prefix('#') {
        dec.parse().ok()?
    } else {
        return NAMED.iter().find(|(n, _)| *n == body).map(|&(_, c)| c);
    };
    // A reference to NUL or a control character would smuggle in exactly
    // what `collapse` removes; it becomes a visible replacement instead.
    char::from_u32(code)
        .filter(|c| !c.is_control() || c.is_whitespace())
        .or(Some('\u{FFFD}'))
}

/// Characters that must not reach a terminal or a model verbatim: C0/C1
/// controls (escape sequences) and bidi overrides.
fn hidden(c: char) -> bool {
    (c.is_control() && !c.is_whitespace())
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Runs of whitespace become one space; hidden characters are dropped.
pub fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        let clean: String = word.chars().filter(|&c| !hidden(c)).collect();
        if clean.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&clean);
    }
    out
}

/// At most `max` characters; an ellipsis marks a cut.
pub fn cap(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        None => (s.to_string(), false),
        Some((end, _)) => {
            let cut = s[..end].trim_end();
            (format!("{cut}…"), true)
        }
    }
}
