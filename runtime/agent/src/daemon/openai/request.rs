//! A Chat Completions request, checked: the conversation as plain text
//! messages (system, user, assistant), streaming options, and a clear
//! `400` for everything the agent cannot honour (images, audio, client
//! tools, several choices, a last message that is not the user's).
//!
//! Sampling parameters (`temperature`, `max_tokens`, …) are accepted and
//! ignored: the agent's own settings apply.

use super::MODEL_ID;
use super::error::OpenAiError;
use serde_json::Value;

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Most messages in one request.
pub const MAX_MESSAGES: usize = 1000;

/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;

/// Who said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The client's instructions (`system` or `developer`).
    System,
    /// The person.
    User,
    /// An earlier answer.
    Assistant,
}

impl Role {
    /// The role as OpenAI names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said (text parts joined).
    pub text: String,
}

/// A checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    /// Answer as server-sent events.
    pub stream: bool,
    /// Send a usage chunk before `[DONE]` (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The conversation; the last one is the user's.
    pub messages: Vec<Message>,
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// Check a request body.
pub fn parse(body: &[u8]) -> Result<ChatRequest, OpenAiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        OpenAiError::invalid(format!("the request body is not valid JSON: {e}"), None)
    })?;
    let Some(req) = value.as_object() else {
        return Err(OpenAiError::invalid(
            "the request body must be a JSON object",
            None,
        ));
    };
    let Some(model) = present(req.get("model")) else {
        return Err(OpenAiError::invalid(
            format!("you must provide a model parameter (`{MODEL_ID}`)"),
            Some("model".into()),
        ));
    };
    let Some(model) = model.as_str() else {
        return Err(OpenAiError::invalid(
            "`model` must be a string",
            Some("model".into()),
        ));
    };
    if model != MODEL_ID {
        return Err(OpenAiError::no_model(model));
    }
    let stream = match present(req.get("stream")) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(OpenAiError::invalid(
                "`stream` must be true or false",
                Some("stream".into()),
            ));
        }
    };
    let include_usage = match present(req.get("stream_options")) {
        None => false,
        Some(Value::Object(o)) => match present(o.get("include_usage")) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(OpenAiError::invalid(
                    "`stream_options.include_usage` must be true or false",
                    Some("stream_options.include_usage".into()),
                ));
            }
        },
        Some(_) => {
            return Err(OpenAiError::invalid(
                "`stream_options` must be an object",
                Some("stream_options".into()),
            ));
        }
    };
    refuse_unsupported(req)?;
    let messages = messages(req.get("messages"))?;
    Ok(ChatRequest {
        stream,
        include_usage,
        messages,
    })
}

/// The request options the agent cannot honour.
fn refuse_unsupported(req: &serde_json::Map<String, Value>) -> Result<(), OpenAiError> {
    if let Some(n) = present(req.get("n"))
        && n.as_u64() != Some(1)
    {
        return Err(OpenAiError::unsupported(
            "only one choice is given (`n` must be 1): each request is one turn of the agent",
            "n",
            "unsupported_value",
        ));
    }
    for field in ["tools", "functions"] {
        let given =
            present(req.get(field)).is_some_and(|v| !v.as_array().is_some_and(|a| a.is_empty()));
        if given {
            return Err(OpenAiError::unsupported(
                format!(
                    "`{field}` is not supported: the agent calls Chitin's own sandboxed tools (the ones installed in Chitin, under their policies), not tools of the client; send the request without `{field}`"
                ),
                field,
                "tools_not_supported",
            ));
        }
    }
    for field in ["tool_choice", "function_call"] {
        match present(req.get(field)) {
            None => {}
            Some(Value::String(s)) if s == "none" || s == "auto" => {}
            Some(_) => {
                return Err(OpenAiError::unsupported(
                    format!(
                        "`{field}` is not supported: the client cannot choose the agent's tools"
                    ),
                    field,
                    "tools_not_supported",
                ));
            }
        }
    }
    if let Some(format) = present(req.get("response_format")) {
        let kind = format.get("type").and_then(Value::as_str);
        if kind != Some("text") {
            return Err(OpenAiError::unsupported(
                "only `response_format: {\"type\":\"text\"}` is supported: the agent's answers are not held to a schema",
                "response_format",
                "unsupported_value",
            ));
        }
    }
    if let Some(modalities) = present(req.get("modalities"))
        && modalities
            .as_array()
            .is_none_or(|m| m.iter().any(|x| x.as_str() != Some("text")))
    {
        return Err(OpenAiError::unsupported(
            "only text is answered (`modalities: [\"text\"]`)",
            "modalities",
            "unsupported_value",
        ));
    }
    Ok(())
}

fn messages(value: Option<&Value>) -> Result<Vec<Message>, OpenAiError> {
    let param = || Some("messages".to_string());
    let Some(list) = present(value) else {
        return Err(OpenAiError::invalid("you must provide `messages`", param()));
    };
    let Some(list) = list.as_array() else {
        return Err(OpenAiError::invalid("`messages` must be an array", param()));
    };
    if list.is_empty() {
        return Err(OpenAiError::invalid(
            "`messages` is empty: send at least the user's message",
            param(),
        ));
    }
    if list.len() > MAX_MESSAGES {
        return Err(OpenAiError::invalid(
            format!(
                "`messages` holds {} messages; at most {MAX_MESSAGES} are accepted",
                list.len()
            ),
            param(),
        ));
    }
    let out = list
        .iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    let last = out.len() - 1;
    if out[last].role != Role::User {
        return Err(OpenAiError::invalid(
            format!(
                "the last message must be the user's (it is `{}`): each request asks the agent one new thing",
                out[last].role.as_str()
            ),
            Some(format!("messages[{last}].role")),
        ));
    }
    if out[last].text.trim().is_empty() {
        return Err(OpenAiError::invalid(
            "the user's message is empty",
            Some(format!("messages[{last}].content")),
        ));
    }
    Ok(out)
}

fn message(i: usize, m: &Value) -> Result<Message, OpenAiError> {
    let at = |field: &str| Some(format!("messages[{i}].{field}"));
    let Some(m) = m.as_object() else {
        return Err(OpenAiError::invalid(
            format!("messages[{i}] must be an object with `role` and `content`"),
            Some(format!("messages[{i}]")),
        ));
    };
    let role = match m.get("role").and_then(Value::as_str) {
        Some("system" | "developer") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(r @ ("tool" | "function")) => {
            return Err(OpenAiError::unsupported(
                format!(
                    "messages[{i}] has role `{r}`: tool results cannot be sent here, the agent runs Chitin's own tools"
                ),
                &format!("messages[{i}].role"),
                "tools_not_supported",
            ));
        }
        Some(r) => {
            return Err(OpenAiError::invalid(
                format!(
                    "messages[{i}] has the unknown role `{}` (expected system, developer, user or assistant)",
                    chitin_sandbox::text::one_line(r, 40)
                ),
                at("role"),
            ));
        }
        None => {
            return Err(OpenAiError::invalid(
                format!("messages[{i}] has no `role`"),
                at("role"),
            ));
        }
    };
    for field in ["tool_calls", "function_call"] {
        if present(m.get(field)).is_some_and(|v| !v.as_array().is_some_and(|a| a.is_empty())) {
            return Err(OpenAiError::unsupported(
                format!(
                    "messages[{i}] carries `{field}`: client tool calls are not supported, the agent runs Chitin's own tools"
                ),
                &format!("messages[{i}].{field}"),
                "tools_not_supported",
            ));
        }
    }
    let text = content(i, present(m.get("content")), role)?;
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(OpenAiError::invalid(
            format!("messages[{i}] is longer than {MAX_MESSAGE_CHARS} characters"),
            at("content"),
        ));
    }
    Ok(Message { role, text })
}

fn content(i: usize, content: Option<&Value>, role: Role) -> Result<String, OpenAiError> {
    let param = format!("messages[{i}].content");
    match content {
        None if role == Role::Assistant => Ok(String::new()),
        None => Err(OpenAiError::invalid(
            format!("messages[{i}] has no `content`"),
            Some(param),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                let field = match kind {
                    "text" => "text",
                    "refusal" => "refusal",
                    "image_url" | "image" | "input_image" => {
                        return Err(OpenAiError::unsupported(
                            format!(
                                "messages[{i}].content[{j}] is an image: images are not supported, send text only"
                            ),
                            &format!("{param}[{j}]"),
                            "images_not_supported",
                        ));
                    }
                    "input_audio" | "audio" | "file" | "input_file" => {
                        return Err(OpenAiError::unsupported(
                            format!(
                                "messages[{i}].content[{j}] is `{kind}`: only text parts are supported"
                            ),
                            &format!("{param}[{j}]"),
                            "unsupported_content",
                        ));
                    }
                    other => {
                        return Err(OpenAiError::invalid(
                            format!(
                                "messages[{i}].content[{j}] has the unknown type `{}` (only `text` parts are supported)",
                                chitin_sandbox::text::one_line(other, 40)
                            ),
                            Some(format!("{param}[{j}].type")),
                        ));
                    }
                };
                let Some(text) = part.get(field).and_then(Value::as_str) else {
                    return Err(OpenAiError::invalid(
                        format!("messages[{i}].content[{j}] has no `{field}` string"),
                        Some(format!("{param}[{j}].{field}")),
                    ));
                };
                texts.push(text);
            }
            Ok(texts.join("\n"))
        }
        Some(_) => Err(OpenAiError::invalid(
            format!("messages[{i}].content must be a string or an array of text parts"),
            Some(param),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<ChatRequest, OpenAiError> {
        parse(v.to_string().as_bytes())
    }

    #[test]
    fn accepts_text_parts_and_options() {
        let r = check(json!({
            "model": "chitin",
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": 0.2,
            "n": 1,
            "tools": [],
            "tool_choice": "auto",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
            ]
        }))
        .unwrap();
        assert!(r.stream && r.include_usage);
        assert_eq!(r.messages.len(), 4);
        assert_eq!(r.messages[0].role, Role::System);
        assert_eq!(r.messages[3].text, "a\nb");
    }

    #[test]
    fn refuses_clearly() {
        let user = json!([{"role": "user", "content": "hi"}]);
        let cases = [
            (json!({"messages": user}), 400, "model"),
            (json!({"model": "gpt-4o", "messages": user}), 404, "model"),
            (json!({"model": "chitin"}), 400, "messages"),
            (json!({"model": "chitin", "messages": []}), 400, "messages"),
            (
                json!({"model": "chitin", "messages": user, "n": 2}),
                400,
                "n",
            ),
            (
                json!({"model": "chitin", "messages": user, "tools": [{"type": "function"}]}),
                400,
                "tools",
            ),
            (
                json!({"model": "chitin", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}),
                400,
                "messages[1].role",
            ),
            (
                json!({"model": "chitin", "messages": [{"role": "robot", "content": "a"}]}),
                400,
                "messages[0].role",
            ),
            (
                json!({"model": "chitin", "messages": [{"role": "tool", "content": "a"}]}),
                400,
                "messages[0].role",
            ),
            (
                json!({"model": "chitin", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]}]}),
                400,
                "messages[0].content[0]",
            ),
            (
                json!({"model": "chitin", "messages": [{"role": "user", "content": "  "}]}),
                400,
                "messages[0].content",
            ),
            (
                json!({"model": "chitin", "messages": user, "response_format": {"type": "json_object"}}),
                400,
                "response_format",
            ),
        ];
        for (body, status, param) in cases {
            let e = check(body.clone()).unwrap_err();
            assert_eq!(e.status.as_u16(), status, "{body}: {e:?}");
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {e:?}");
        }
        assert!(parse(b"{not json").is_err());
        let images = check(json!({"model": "chitin", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}))
            .unwrap_err();
        assert!(
            images.message.contains("images are not supported"),
            "{images:?}"
        );
    }
}
