//! Splitting an answer into chunks a platform accepts: at paragraph, then
//! line, then word boundaries, never inside a character, and a code block
//! cut in two is closed and reopened so each chunk renders on its own.

/// Split `text` into chunks of at most `max` characters (`max` ≥ 16).
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(16);
    let mut out = Vec::new();
    let mut rest = text.trim_end();
    // The fence (with its language) of a code block cut by the last split.
    let mut reopen: Option<String> = None;
    while !rest.is_empty() {
        let prefix = reopen.take().map(|f| f + "\n").unwrap_or_default();
        // Room for the prefix and a closing fence.
        let room = max.saturating_sub(prefix.chars().count() + 4).max(8);
        let (head, tail) = if rest.chars().count() <= room {
            (rest, "")
        } else {
            cut(rest, room)
        };
        let mut chunk = prefix + head.trim_end();
        if let Some(fence) = open_fence(&chunk)
            && !tail.trim().is_empty()
        {
            chunk.push_str("\n```");
            reopen = Some(fence);
        }
        if !chunk.trim().is_empty() {
            out.push(chunk);
        }
        rest = tail.trim_start_matches('\n');
    }
    out
}

/// `text` cut before `room` characters at the best boundary.
fn cut(text: &str, room: usize) -> (&str, &str) {
    let limit = text
        .char_indices()
        .nth(room)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let window = &text[..limit];
    // Prefer a boundary in the second half, so chunks are not tiny.
    let floor = limit / 2;
    for sep in ["\n\n", "\n", ". ", " "] {
        if let Some(i) = window.rfind(sep)
            && i >= floor
        {
            let at = i + sep.len();
            return (&text[..at], &text[at..]);
        }
    }
    (window, &text[limit..])
}

/// The fence (with at most a short language) reopening a code block left
/// open in `text`: never the whole opening line, so a long one cannot make
/// every chunk tiny.
fn open_fence(text: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("```") {
            open = match open {
                Some(_) => None,
                None => Some(format!("```{}", fence_lang(rest))),
            };
        }
    }
    open
}

/// The language named after a code fence's backticks: at most 20 of
/// `[A-Za-z0-9+_-]` (anything else there is not kept).
pub fn fence_lang(after_backticks: &str) -> String {
    after_backticks
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_'))
        .take(20)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split("hello", 100), vec!["hello"]);
        assert!(split("  \n", 100).is_empty());
    }

    #[test]
    fn long_text_splits_at_boundaries_within_the_limit() {
        let para = "word ".repeat(50);
        let text = format!("{para}\n\n{para}\n\n{para}");
        let chunks = split(&text, 300);
        assert!(chunks.len() >= 3, "{chunks:?}");
        for c in &chunks {
            assert!(c.chars().count() <= 300, "{}", c.len());
            assert!(!c.starts_with(' '));
        }
        let words: usize = chunks.iter().map(|c| c.split_whitespace().count()).sum();
        assert_eq!(words, 150, "no word lost or duplicated");
    }

    #[test]
    fn multibyte_and_unbroken_text() {
        let text = "é".repeat(1000);
        let chunks = split(&text, 100);
        assert!(chunks.iter().all(|c| c.chars().count() <= 100));
        assert_eq!(chunks.concat(), text);
    }

    #[test]
    fn a_long_fence_line_cannot_multiply_the_chunks() {
        let text = format!("```{}\n{}", "x".repeat(3000), "y ".repeat(10_000));
        let chunks = split(&text, 3500);
        assert!(chunks.len() < 12, "{} chunks", chunks.len());
    }

    #[test]
    fn a_cut_code_block_is_closed_and_reopened() {
        let code = (0..200)
            .map(|i| format!("let x{i} = {i};\n"))
            .collect::<String>();
        let text = format!("Here:\n```rust\n{code}```\nDone.");
        let chunks = split(&text, 500);
        assert!(chunks.len() > 2);
        for c in &chunks {
            assert!(c.chars().count() <= 500);
            assert_eq!(c.matches("```").count() % 2, 0, "balanced fences: {c}");
        }
        assert!(chunks[1].starts_with("```rust\n"));
        assert!(chunks.last().unwrap().ends_with("Done."));
    }
}
