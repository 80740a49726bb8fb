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

/// `html` as one line of plain text.
pub fn plain(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        let after = &rest[lt + 1..];
        if after.starts_with(|c: char| c.is_ascii_alphabetic() || "/!?".contains(c)) {
            // A tag: dropped, but it still separates words.
            text.push(' ');
            rest = after.find('>').map_or("", |gt| &after[gt + 1..]);
        } else {
            text.push('<');
            rest = after;
        }
    }
    text.push_str(rest);
    collapse(&decode_entities(&text))
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
