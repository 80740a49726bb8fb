//! A tool's result as text for the model: the text contents joined (an
//! embedded text resource counts as text), other content named briefly in
//! brackets (`[image omitted: image/png]`), the structured result when
//! there is no content, all capped in bytes with the cut said.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// Longest server-chosen name (a MIME type, a URI) in a placeholder.
const MAX_LABEL: usize = 120;

fn label(text: &str) -> String {
    chitin_sandbox::text::one_line(text, MAX_LABEL)
}

/// One block as text.
fn block(b: &ContentBlock) -> String {
    match b {
        ContentBlock::Text(t) => t.text.clone(),
        ContentBlock::Image(i) => format!("[image omitted: {}]", label(&i.mime_type)),
        ContentBlock::Audio(a) => format!("[audio omitted: {}]", label(&a.mime_type)),
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                format!("[resource {}]\n{text}", label(uri))
            }
            ResourceContents::BlobResourceContents { uri, mime_type, .. } => format!(
                "[binary resource omitted: {} ({})]",
                label(uri),
                label(mime_type.as_deref().unwrap_or("unknown type"))
            ),
            _ => "[resource of an unknown kind omitted]".to_string(),
        },
        ContentBlock::ResourceLink(l) => {
            format!("[link to resource {}: {}]", label(&l.name), label(&l.uri))
        }
        _ => "[content of an unknown kind omitted]".to_string(),
    }
}

/// The text of `result`, passed through `redact`, at most `max` bytes
/// (plus a note of the cut).
pub fn reply_text(result: &CallToolResult, max: usize, redact: impl Fn(&str) -> String) -> String {
    let mut text = String::new();
    for b in &result.content {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&block(b));
        if text.len() > max {
            break;
        }
    }
    if result.content.is_empty()
        && let Some(structured) = &result.structured_content
    {
        text = structured.to_string();
    }
    let mut text = redact(&text);
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!(
            "\n[output truncated: the result was longer than {max} bytes]"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn text_is_joined_and_other_content_named() {
        let result = CallToolResult::success(vec![
            ContentBlock::text("one"),
            ContentBlock::image("AAAA", "image/png"),
            ContentBlock::audio("AAAA", "audio/wav"),
            ContentBlock::text("two"),
        ]);
        assert_eq!(
            reply_text(&result, 1024, keep),
            "one\n[image omitted: image/png]\n[audio omitted: audio/wav]\ntwo"
        );
    }

    #[test]
    fn structured_content_stands_in_for_none() {
        let mut result = CallToolResult::success(Vec::new());
        result.structured_content = Some(serde_json::json!({"a": 1}));
        assert_eq!(reply_text(&result, 1024, keep), r#"{"a":1}"#);
    }

    #[test]
    fn long_output_is_cut_on_a_character_boundary() {
        let result = CallToolResult::success(vec![ContentBlock::text("é".repeat(100))]);
        let text = reply_text(&result, 11, keep);
        assert!(text.starts_with("ééééé\n[output truncated"), "{text}");
        assert!(text.contains("longer than 11 bytes"), "{text}");
    }

    #[test]
    fn the_secret_is_cut_out() {
        let result = CallToolResult::success(vec![ContentBlock::text("token=abc123!")]);
        let text = reply_text(&result, 1024, |s| s.replace("abc123", "<secret>"));
        assert_eq!(text, "token=<secret>!");
    }
}
