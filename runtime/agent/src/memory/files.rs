//! The memory files themselves: which files there are, how a saved entry is
//! cleaned and written (one bullet, appended in one write), and how a file
//! the user may have edited freely is cut into entries for the index.
//!
//! An entry is a Markdown paragraph or a bullet (with its continuation
//! lines); a heading ends the entry before it and names the section of the
//! entries after it. Nothing here trusts the files: they are the user's, but
//! a model wrote part of them.

use chitin_sandbox::text::is_dangerous;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Pieces of one entry longer than this are indexed separately (same line),
/// so one huge paragraph cannot crowd out the rest of a recall.
pub const MAX_CHUNK_BYTES: usize = 2000;

/// Files larger than this are indexed up to this size only.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One indexed entry of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The line it starts on (1-based).
    pub line: usize,
    /// Its text, with dangerous characters shown as escapes.
    pub text: String,
    /// The heading above it, if any.
    pub section: String,
}

/// The entries of a Markdown file's `text`.
pub fn chunks(text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut current: Option<(usize, String)> = None;
    let flush = |current: &mut Option<(usize, String)>, section: &str, out: &mut Vec<Chunk>| {
        if let Some((line, body)) = current.take() {
            push_pieces(line, body.trim(), section, out);
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let lead = line.trim_start();
        // An indented line inside an entry continues it, whatever it looks
        // like: nested bullets, and every line of one saved entry.
        let continues = current.is_some() && lead.len() < line.len();
        if lead.is_empty() {
            flush(&mut current, &section, &mut out);
        } else if let Some(title) = heading(lead).filter(|_| !continues) {
            flush(&mut current, &section, &mut out);
            section = clean_line(title).chars().take(200).collect();
        } else if is_item(lead) && !continues {
            flush(&mut current, &section, &mut out);
            current = Some((i + 1, lead.to_string()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push('\n');
            body.push_str(lead);
        } else {
            current = Some((i + 1, lead.to_string()));
        }
    }
    flush(&mut current, &section, &mut out);
    out
}

/// The text of a heading line (`# Title`), if it is one.
fn heading(lead: &str) -> Option<&str> {
    let hashes = lead.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &lead[hashes..];
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
}

/// Whether a line starts a list item (`- `, `* `, `+ `, `1. `, `1) `).
fn is_item(lead: &str) -> bool {
    if ["- ", "* ", "+ "].iter().any(|p| lead.starts_with(p)) {
        return true;
    }
    let digits = lead.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (lead[digits..].starts_with(". ") || lead[digits..].starts_with(") "))
}

fn push_pieces(line: usize, body: &str, section: &str, out: &mut Vec<Chunk>) {
    if body.is_empty() {
        return;
    }
    let mut rest = body;
    while !rest.is_empty() {
        let mut end = rest.len().min(MAX_CHUNK_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end < rest.len()
            && let Some(space) = rest[..end].rfind(char::is_whitespace)
            && space > MAX_CHUNK_BYTES / 2
        {
            end = space;
        }
        let piece = rest[..end].trim();
        if !piece.is_empty() {
            out.push(Chunk {
                line,
                text: chitin_sandbox::text::clean(piece).into_owned(),
                section: section.to_string(),
            });
        }
        rest = &rest[end..];
    }
}

fn clean_line(text: &str) -> String {
    chitin_sandbox::text::one_line(text, 400)
}

/// Why a text cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Nothing left to save.
    #[error("the text to remember is empty (after removing control characters)")]
    Empty,
    /// Over the size limit.
    #[error(
        "the text is {len} bytes, over the {max}-byte limit of one memory entry; save a shorter summary"
    )]
    TooLong {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// `text` as one Markdown bullet (ending in a newline): escape sequences
/// and control characters removed (tabs become spaces), blank lines
/// dropped and later lines indented under the bullet, so what a model saves
/// stays one entry — it can neither start an entry or heading of its own
/// nor hide text from the user reading the file. `prefix` (a time) opens it.
pub fn entry(text: &str, prefix: &str, max: usize) -> Result<String, EntryError> {
    if text.len() > max {
        return Err(EntryError::TooLong {
            len: text.len(),
            max,
        });
    }
    let plain = strip_escapes(text);
    let lines: Vec<&str> = plain
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(EntryError::Empty);
    }
    let mut out = format!("- {prefix}{}\n", lines[0]);
    for l in &lines[1..] {
        out.push_str("  ");
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

/// `text` without ANSI escape sequences (CSI `ESC [ … final`, OSC
/// `ESC ] … BEL|ESC \`, and two-character ones) and without any other
/// dangerous character; tabs become spaces, newlines stay.
pub fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    // Parameters and intermediates, then one final byte.
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') | Some('P') | Some('_') | Some('^') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\u{9b}' => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            '\t' => out.push(' '),
            '\n' => out.push('\n'),
            c if is_dangerous(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Append `entry` to `path` in one write, creating the file (mode 0600,
/// `header` first) if needed; a symlink is refused. Returns the line the
/// entry starts on.
pub fn append(path: &Path, header: &str, entry: &str) -> std::io::Result<usize> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path)?;
    let mut before = String::new();
    file.seek(SeekFrom::Start(0))?;
    (&mut file)
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut before)?;
    let mut buf = String::new();
    if before.is_empty() {
        buf.push_str(header);
    } else if !before.ends_with('\n') {
        buf.push('\n');
    }
    // An entry right after a paragraph would join it: keep a blank line.
    if !before.is_empty() && !before.ends_with("\n\n") && !ends_with_item(&before) {
        buf.push('\n');
    }
    let line = before.lines().count() + buf.matches('\n').count() + 1
        - usize::from(!before.is_empty() && !before.ends_with('\n'));
    buf.push_str(entry);
    file.write_all(buf.as_bytes())?;
    Ok(line)
}

/// Whether the last line of `text` is a list item or its continuation
/// (another bullet after it joins the list, not the paragraph).
fn ends_with_item(text: &str) -> bool {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| is_item(l.trim_start()) || l.starts_with("  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_bullets_are_entries_with_their_lines_and_sections() {
        let text = "# Profile\n\n- likes tea\n- lives in Lyon\n  near the river\n\nA paragraph\nover two lines.\n## Work\n1. ships Rust\n* star item\n";
        let c = chunks(text);
        let got: Vec<(usize, &str, &str)> = c
            .iter()
            .map(|c| (c.line, c.text.as_str(), c.section.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "- likes tea", "Profile"),
                (4, "- lives in Lyon\nnear the river", "Profile"),
                (7, "A paragraph\nover two lines.", "Profile"),
                (10, "1. ships Rust", "Work"),
                (11, "* star item", "Work"),
            ]
        );
        assert!(chunks("").is_empty());
        assert!(chunks("\n\n# Only a heading\n").is_empty());
        // `#tag` is not a heading.
        assert_eq!(chunks("#tag line")[0].text, "#tag line");
    }

    #[test]
    fn huge_entries_are_cut_into_pieces_and_escapes_shown() {
        let big = "word ".repeat(2000);
        let c = chunks(&big);
        assert!(c.len() >= 5, "{}", c.len());
        assert!(
            c.iter()
                .all(|c| c.text.len() <= MAX_CHUNK_BYTES && c.line == 1)
        );
        let total: usize = c.iter().map(|c| c.text.split_whitespace().count()).sum();
        assert_eq!(total, 2000);
        let multibyte = "é".repeat(3000);
        assert!(
            chunks(&multibyte)
                .iter()
                .all(|c| c.text.len() <= MAX_CHUNK_BYTES)
        );
        let hostile = chunks("- ok\u{1b}[2J\u{202e}");
        assert_eq!(hostile[0].text, "- ok\\u{1b}[2J\\u{202e}");
    }

    #[test]
    fn saved_text_stays_one_clean_entry() {
        assert_eq!(entry("likes tea", "", 100).unwrap(), "- likes tea\n");
        assert_eq!(
            entry("a\u{1b}[31mred\u{1b}[0m\0 b\u{1b}]52;c;eA==\u{7}c\r\n\n# not a heading\n- nor an item\tx", "09:30 ", 1000).unwrap(),
            "- 09:30 ared bc\n  # not a heading\n  - nor an item x\n"
        );
        assert_eq!(
            entry(" \u{0}\u{1b}[2J \n\n", "", 100),
            Err(EntryError::Empty)
        );
        assert_eq!(
            entry(&"x".repeat(101), "", 100),
            Err(EntryError::TooLong { len: 101, max: 100 })
        );
        let parsed = chunks(&entry("one\n\ntwo\n- three", "", 100).unwrap());
        assert_eq!(parsed.len(), 1, "{parsed:?}");
    }

    #[test]
    fn appends_report_their_line_and_never_join_a_paragraph() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes.md");
        assert_eq!(append(&p, "# Notes\n\n", "- a\n").unwrap(), 3);
        assert_eq!(append(&p, "# Notes\n\n", "- b\n").unwrap(), 4);
        std::fs::write(&p, "# Notes\n\nmy own paragraph").unwrap();
        assert_eq!(append(&p, "# Notes\n\n", "- c\n").unwrap(), 5);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "# Notes\n\nmy own paragraph\n\n- c\n");
        let c = chunks(&text);
        assert_eq!(c.last().unwrap().line, 5);
        assert_eq!(c.len(), 2);
        #[cfg(unix)]
        {
            let link = dir.path().join("link.md");
            std::os::unix::fs::symlink(&p, &link).unwrap();
            assert!(append(&link, "", "- d\n").is_err());
        }
    }
}
