//! Markdown to Slack `mrkdwn`, and Slack's message text back to plain
//! text.
//!
//! Outbound, everything the model wrote is hostile: `&`, `<` and `>` are
//! escaped everywhere (code included), so no text can form a special
//! mention (`<!channel>`, `<!here>`), a user mention (`<@U…>`) or a link;
//! the only `<…>` the output holds are links this converter wrote itself,
//! to `http(s)`/`mailto` URLs that contain no `<`, `>`, `|` or whitespace.
//!
//! | Markdown | mrkdwn |
//! |---|---|
//! | `**b**`, `__b__` | `*b*` |
//! | `*i*`, `_i_` | `_i_` |
//! | `~~s~~` | `~s~` |
//! | `[t](https://u)` | `<https://u\|t>` |
//! | `# Heading` | `*Heading*` |
//! | `- item` | `• item` |
//! | `` `code` ``, fenced blocks | kept (fence language dropped) |

/// Slack `mrkdwn` for `markdown`, with every mention and link the text
/// itself spelled neutralised.
pub fn to_mrkdwn(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 8 + 8);
    let mut fence: Option<(char, usize)> = None;
    for (i, raw) in markdown.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if let Some((c, n)) = fence {
            let run = trimmed.chars().take_while(|&x| x == c).count();
            if run >= n && trimmed[run * c.len_utf8()..].trim().is_empty() {
                out.push_str("```");
                fence = None;
            } else {
                escape_into(line, &mut out);
            }
            continue;
        }
        if let Some(open) = fence_open(trimmed) {
            out.push_str("```");
            fence = Some(open);
            continue;
        }
        block_line(line, &mut out);
    }
    if fence.is_some() {
        out.push_str("\n```");
    }
    out
}

/// `&`, `<` and `>` as Slack's entities: text that can never be markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        escape_char(c, out);
    }
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// A fence's character and length when `line` opens one (` ``` ` or `~~~`).
fn fence_open(line: &str) -> Option<(char, usize)> {
    let c = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = line.chars().take_while(|&x| x == c).count();
    // A backtick fence's info string holds no backtick.
    (n >= 3 && !(c == '`' && line[n..].contains('`'))).then_some((c, n))
}

fn block_line(line: &str, out: &mut String) {
    let rest = line.trim_start();
    let indent = &line[..line.len() - rest.len()];
    if let Some(text) = heading(rest) {
        if !text.is_empty() {
            out.push('*');
            inline(text, Style::BOLD, out);
            out.push('*');
        }
    } else if is_rule(rest) {
        out.push_str("──────────");
    } else if let Some(quoted) = rest.strip_prefix('>') {
        out.push_str("> ");
        let quoted = quoted.strip_prefix(' ').unwrap_or(quoted);
        inline(quoted.trim_start_matches(['>', ' ']), Style::NONE, out);
    } else if let Some(item) = bullet(rest) {
        out.push_str(indent);
        out.push_str("• ");
        inline(item, Style::NONE, out);
    } else {
        out.push_str(indent);
        inline(rest, Style::NONE, out);
    }
}

fn heading(line: &str) -> Option<&str> {
    let n = line.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&n) {
        return None;
    }
    let rest = &line[n..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim_end())
}

fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3
        && ['-', '*', '_']
            .iter()
            .any(|&m| compact.chars().all(|c| c == m))
}

fn bullet(line: &str) -> Option<&str> {
    let mut chars = line.chars();
    let marker = chars.next()?;
    if !matches!(marker, '-' | '*' | '+') {
        return None;
    }
    let rest = &line[1..];
    rest.strip_prefix(' ')
        .or_else(|| rest.strip_prefix('\t'))
        .map(str::trim_start)
}

/// Emphasis already open around the text being converted (Slack does not
/// nest the same mark).
#[derive(Clone, Copy)]
struct Style {
    bold: bool,
    italic: bool,
    strike: bool,
}

impl Style {
    const NONE: Style = Style {
        bold: false,
        italic: false,
        strike: false,
    };
    const BOLD: Style = Style {
        bold: true,
        italic: false,
        strike: false,
    };
}

fn inline(text: &str, style: Style, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut i = 0;
    while i < n {
        let c = chars[i];
        match c {
            '\\' if i + 1 < n && chars[i + 1].is_ascii_punctuation() => {
                escape_char(chars[i + 1], out);
                i += 2;
            }
            '`' => {
                let run = run_len(&chars, i, '`');
                match find_code_end(&chars, i + run, run) {
                    Some(end) => {
                        let code: String = chars[i + run..end].iter().collect();
                        out.push('`');
                        escape_into(&code, out);
                        out.push('`');
                        i = end + run;
                    }
                    None => {
                        (0..run).for_each(|_| out.push('`'));
                        i += run;
                    }
                }
            }
            '*' | '_' => {
                let run = run_len(&chars, i, c).min(3);
                let can_open = i + run < n
                    && !chars[i + run].is_whitespace()
                    && (c == '*' || i == 0 || !chars[i - 1].is_alphanumeric());
                let close = if can_open {
                    find_close(&chars, i + run, c, run)
                } else {
                    None
                };
                match close {
                    Some(end) => {
                        let inner: String = chars[i + run..end].iter().collect();
                        let bold = run >= 2;
                        let italic = run != 2;
                        let open_b = bold && !style.bold;
                        let open_i = italic && !style.italic;
                        let inner_style = Style {
                            bold: style.bold || bold,
                            italic: style.italic || italic,
                            strike: style.strike,
                        };
                        push_if(open_b, '*', out);
                        push_if(open_i, '_', out);
                        inline(&inner, inner_style, out);
                        push_if(open_i, '_', out);
                        push_if(open_b, '*', out);
                        i = end + run;
                    }
                    None => {
                        (0..run).for_each(|_| out.push(c));
                        i += run;
                    }
                }
            }
            '~' if run_len(&chars, i, '~') == 2 => {
                let close = (i + 2 < n && !chars[i + 2].is_whitespace())
                    .then(|| find_close(&chars, i + 2, '~', 2))
                    .flatten();
                match close {
                    Some(end) => {
                        let inner: String = chars[i + 2..end].iter().collect();
                        push_if(!style.strike, '~', out);
                        inline(
                            &inner,
                            Style {
                                strike: true,
                                ..style
                            },
                            out,
                        );
                        push_if(!style.strike, '~', out);
                        i = end + 2;
                    }
                    None => {
                        out.push_str("~~");
                        i += 2;
                    }
                }
            }
            '!' if chars.get(i + 1) == Some(&'[') => match link(&chars, i + 1) {
                Some((label, url, end)) => {
                    push_link(&label, &url, style, out);
                    i = end;
                }
                None => {
                    out.push('!');
                    i += 1;
                }
            },
            '[' => match link(&chars, i) {
                Some((label, url, end)) => {
                    push_link(&label, &url, style, out);
                    i = end;
                }
                None => {
                    out.push('[');
                    i += 1;
                }
            },
            '<' => {
                let end = chars[i + 1..].iter().position(|&x| x == '>' || x == '<');
                let url: Option<String> = end
                    .filter(|&e| chars[i + 1 + e] == '>')
                    .map(|e| chars[i + 1..i + 1 + e].iter().collect());
                match url.filter(|u| safe_url(u)) {
                    Some(u) => {
                        out.push('<');
                        escape_into(&u, out);
                        out.push('>');
                        i += u.chars().count() + 2;
                    }
                    None => {
                        out.push_str("&lt;");
                        i += 1;
                    }
                }
            }
            c => {
                escape_char(c, out);
                i += 1;
            }
        }
    }
}

fn push_if(cond: bool, c: char, out: &mut String) {
    if cond {
        out.push(c);
    }
}

fn run_len(chars: &[char], at: usize, c: char) -> usize {
    chars[at..].iter().take_while(|&&x| x == c).count()
}

fn find_code_end(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let r = run_len(chars, j, '`');
            if r == run {
                return Some(j);
            }
            j += r;
        } else {
            j += 1;
        }
    }
    None
}

/// Where the closing run of exactly `k` `c`s starts: not after whitespace,
/// and for `_` not inside a word.
fn find_close(chars: &[char], from: usize, c: char, k: usize) -> Option<usize> {
    let mut j = from + 1;
    while j < chars.len() {
        if chars[j] == '`' {
            let r = run_len(chars, j, '`');
            j = find_code_end(chars, j + r, r).map_or(j + r, |e| e + r);
            continue;
        }
        if chars[j] != c {
            j += 1;
            continue;
        }
        let r = run_len(chars, j, c);
        let after = chars.get(j + r);
        if r == k
            && !chars[j - 1].is_whitespace()
            && (c != '_' || after.is_none_or(|a| !a.is_alphanumeric()))
        {
            return Some(j);
        }
        j += r;
    }
    None
}

/// `[label](url "title")` starting at `at`: (label, url, index after it).
fn link(chars: &[char], at: usize) -> Option<(String, String, usize)> {
    let mut depth = 0usize;
    let mut close = None;
    for (j, &c) in chars.iter().enumerate().skip(at) {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(j);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let mut depth = 0usize;
    let mut end = None;
    for (j, &c) in chars.iter().enumerate().skip(close + 1) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(j);
                    break;
                }
            }
            _ => {}
        }
    }
    let end = end?;
    let label: String = chars[at + 1..close].iter().collect();
    let target: String = chars[close + 2..end].iter().collect();
    let url = target.split_whitespace().next().unwrap_or("");
    let url = url
        .strip_prefix('<')
        .and_then(|u| u.strip_suffix('>'))
        .unwrap_or(url);
    Some((label, url.to_string(), end + 1))
}

fn push_link(label: &str, url: &str, style: Style, out: &mut String) {
    if safe_url(url) {
        out.push('<');
        escape_into(url, out);
        let label = label.trim().replace(['|', '*', '_', '~', '`'], "");
        if !label.is_empty() {
            out.push('|');
            escape_into(&label, out);
        }
        out.push('>');
        // The label is the model's text: show where the link really goes.
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(rest))
            .unwrap_or_default();
        if !label.is_empty() && label != url && label != host && !host.is_empty() {
            out.push_str(" (");
            escape_into(host, out);
            out.push(')');
        }
    } else {
        inline(label, style, out);
        if !url.is_empty() {
            out.push_str(" (");
            escape_into(url, out);
            out.push(')');
        }
    }
}

/// A URL Slack may link: `http(s)://` or `mailto:`, at most 2000
/// characters, nothing that could end or split Slack's `<url|label>`.
fn safe_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let scheme = ["https://", "http://", "mailto:"]
        .iter()
        .any(|s| lower.starts_with(s) && lower.len() > s.len());
    scheme
        && url.len() <= 2000
        && !url.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || chitin_sandbox::text::is_dangerous(c)
                || matches!(c, '<' | '>' | '|' | '"' | '`')
        })
}

/// Plain text from a Slack message's `text`: the bot's own mention
/// (`<@BOT>`) removed, other mentions, channels and links written out
/// (`@U123`, `#general`, `label (url)`), entities unescaped. Also says
/// whether the bot was mentioned.
pub fn from_slack(text: &str, bot: Option<&str>) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut mentioned = false;
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        if let Some(user) = target.strip_prefix('@') {
            if bot.is_some_and(|b| b == user) {
                mentioned = true;
            } else {
                out.push('@');
                out.push_str(label.unwrap_or(user));
            }
        } else if let Some(channel) = target.strip_prefix('#') {
            out.push('#');
            out.push_str(label.unwrap_or(channel));
        } else if let Some(special) = target.strip_prefix('!') {
            match label {
                Some(l) => out.push_str(l),
                None => {
                    out.push('@');
                    out.push_str(special.split('^').next().unwrap_or(special));
                }
            }
        } else {
            match label {
                Some(l) if l != target && !target.ends_with(l) => {
                    out.push_str(l);
                    out.push_str(" (");
                    out.push_str(target);
                    out.push(')');
                }
                _ => out.push_str(target),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let plain = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (plain.trim().to_string(), mentioned)
}

#[cfg(test)]
#[path = "mrkdwn_tests.rs"]
mod tests;
