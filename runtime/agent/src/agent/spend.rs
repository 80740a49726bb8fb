//! Spend caps, checked before a model call is sent. The request's input is
//! estimated without a tokenizer ([`estimate_text`], built to count high:
//! tested against real tokenizers in this module's tests), scaled up by
//! what this turn's earlier calls really cost; a call that would cross the
//! turn's, the day's or the job's cap, in tokens or (for a priced model)
//! in USD, is not sent. The output cap sent with an allowed call is
//! lowered to what the tightest cap leaves, so the answer cannot cross it
//! either.

use super::turn::{Turn, TurnError};
use crate::messages::{Message, ToolSpec, Usage};

/// Fewest output tokens worth a call: below this the call is refused.
const MIN_OUTPUT: u64 = 64;

/// Tokens a message costs beyond its text (role, separators).
const PER_MESSAGE: u64 = 4;

/// A conservative token count of `text` for byte-level BPE tokenizers
/// (OpenAI's, Claude's, Qwen's, DeepSeek's): words of letters count one
/// token per 4 letters, digits one per 3 (the tokenizers group at most
/// three), each symbol and each whitespace run other than a single space
/// one, and each non-ASCII character one per UTF-8 byte beyond the first
/// (at least one; two for accented Latin letters), plus one per run of
/// them.
pub fn estimate_text(text: &str) -> u64 {
    #[derive(PartialEq, Clone, Copy)]
    enum Run {
        None,
        Letters,
        Digits,
        Space,
    }
    let mut tokens = 0u64;
    let mut run = Run::None;
    let mut len = 0u64;
    let close = |run: Run, len: u64, tokens: &mut u64| {
        *tokens += match run {
            Run::None => 0,
            Run::Letters => len.div_ceil(4),
            Run::Digits => len.div_ceil(3),
            // One space joins the next word; anything longer is a token.
            Run::Space => u64::from(len > 1),
        }
    };
    let mut prev_non_ascii = false;
    for c in text.chars() {
        let kind = if c.is_ascii_alphabetic() {
            Run::Letters
        } else if c.is_ascii_digit() {
            Run::Digits
        } else if c == ' ' {
            Run::Space
        } else {
            Run::None
        };
        if kind != run || kind == Run::None {
            close(run, len, &mut tokens);
            run = kind;
            len = 0;
        }
        match kind {
            Run::None if c.is_ascii() => tokens += 1,
            Run::None => {
                // Accented Latin letters often split in two; other scripts
                // cost about a token per UTF-8 byte beyond the first. A word
                // of them starts a token of its own.
                tokens += if ('\u{80}'..='\u{24f}').contains(&c) {
                    2
                } else {
                    (c.len_utf8() as u64 - 1).max(1)
                };
                if !prev_non_ascii {
                    tokens += 1;
                }
            }
            _ => len += 1,
        }
        prev_non_ascii = !c.is_ascii();
    }
    close(run, len, &mut tokens);
    tokens
}

/// The estimated input of a request: system prompt, messages (with what
/// is sent back of the reasoning), tool definitions.
pub fn estimate_request(system: &str, messages: &[Message], tools: &[ToolSpec]) -> u64 {
    let mut total = estimate_text(system) + PER_MESSAGE;
    for m in messages {
        total += PER_MESSAGE
            + match m {
                Message::User { text } => estimate_text(text),
                Message::Assistant {
                    text,
                    tool_calls,
                    reasoning,
                } => {
                    estimate_text(text)
                        + reasoning
                            .iter()
                            .map(|r| {
                                estimate_text(&r.text)
                                    // Opaque data is sent back as is: a
                                    // token per byte at worst, counted at 2.
                                    + r.signature.as_ref().map_or(0, |s| s.len() as u64 / 2)
                                    + r.data.as_ref().map_or(0, |s| s.len() as u64 / 2)
                            })
                            .sum::<u64>()
                        + tool_calls
                            .iter()
                            .map(|c| {
                                estimate_text(&c.name)
                                    + estimate_text(&c.arguments)
                                    + estimate_text(&c.id)
                                    + PER_MESSAGE
                            })
                            .sum::<u64>()
                }
                Message::Tool { output, name, .. } => estimate_text(output) + estimate_text(name),
            };
    }
    for t in tools {
        total += PER_MESSAGE
            + estimate_text(&t.name)
            + estimate_text(&t.description)
            + estimate_text(&t.input_schema.to_string());
    }
    total
}

/// A cap, its figures, and what to change to allow more.
struct Cap {
    what: &'static str,
    spent: f64,
    limit: f64,
    setting: &'static str,
    money: bool,
}

impl Cap {
    fn figure(&self, v: f64) -> String {
        if self.money {
            format!("${v:.4}")
        } else {
            format!("{} tokens", v.round() as u64)
        }
    }
}

impl Turn<'_> {
    /// Whether a call with `input` estimated tokens to `model` may be sent,
    /// and with which output cap (`Err`: it would cross a cap; nothing is
    /// sent).
    pub(super) fn allow_call(&self, input: u64, model: &str) -> Result<u32, TurnError> {
        let s = self.agent.settings();
        let input = (input as f64 * self.calibration).ceil() as u64;
        let day = self.agent.store().tokens_today()?;
        let mut caps = vec![
            Cap {
                what: "the turn's token budget",
                spent: self.usage.total() as f64,
                limit: s.max_tokens_per_turn as f64,
                setting: "[agent] max_tokens_per_turn",
                money: false,
            },
            Cap {
                what: "today's token budget",
                spent: day as f64,
                limit: s.max_tokens_per_day as f64,
                setting: "[agent] max_tokens_per_day",
                money: false,
            },
        ];
        if let Some(cap) = self.opts.max_tokens {
            caps.push(Cap {
                what: "the job's token budget",
                spent: self.usage.total() as f64,
                limit: cap as f64,
                setting: "the job's --max-tokens",
                money: false,
            });
        }
        let prices = self.agent.prices().get(model).copied();
        if prices.is_some() {
            let per_turn = [
                (
                    s.max_usd_per_turn,
                    "the turn's spend cap",
                    "[agent] max_usd_per_turn",
                ),
                (
                    self.opts.max_usd,
                    "the job's spend cap",
                    "the job's --max-usd",
                ),
            ];
            for (limit, what, setting) in per_turn {
                if let Some(limit) = limit {
                    caps.push(Cap {
                        what,
                        spent: self.cost,
                        limit,
                        setting,
                        money: true,
                    });
                }
            }
            if let Some(limit) = s.max_usd_per_day {
                caps.push(Cap {
                    what: "today's spend cap",
                    spent: self.spent_today()?,
                    limit,
                    setting: "[agent] max_usd_per_day",
                    money: true,
                });
            }
        } else if s.max_usd_per_turn.is_some()
            || s.max_usd_per_day.is_some()
            || self.opts.max_usd.is_some()
        {
            // A money cap with no price to apply it: refuse rather than
            // spend unmeasured.
            return Err(TurnError::OverBudget(format!(
                "a spend cap in USD is set but model `{}` has no price; add [prices.\"{}\"] (input and output per million tokens) or remove the cap",
                chitin_sandbox::text::clean(model),
                chitin_sandbox::text::clean(model)
            )));
        }
        let mut max_out = u64::from(s.max_output_tokens);
        for cap in &caps {
            // What the input costs against this cap, and each output token.
            let (cost_in, per_out) = match (cap.money, prices) {
                (true, Some(p)) => (
                    input as f64 * p.input.max(p.cache_write.unwrap_or(p.input)) / 1e6,
                    p.output / 1e6,
                ),
                _ => (input as f64, 1.0),
            };
            let left = cap.limit - cap.spent - cost_in;
            let outputs = if per_out > 0.0 {
                (left / per_out).floor()
            } else {
                f64::MAX
            };
            if left < 0.0 || outputs < MIN_OUTPUT as f64 {
                return Err(TurnError::OverBudget(format!(
                    "the next model call (about {} of input) would cross {}: {} of {} spent; it was not sent. Raise {} to allow more",
                    cap.figure(cost_in),
                    cap.what,
                    cap.figure(cap.spent),
                    cap.figure(cap.limit),
                    cap.setting
                )));
            }
            max_out = max_out.min(outputs as u64);
        }
        Ok(max_out.min(u64::from(u32::MAX)) as u32)
    }

    /// Learn from a call's real input how far off the estimate was.
    pub(super) fn calibrate(&mut self, estimated: u64, usage: Usage) {
        if estimated > 0 && usage.input_tokens > estimated {
            let ratio = usage.input_tokens as f64 / estimated as f64;
            self.calibration = self.calibration.max(ratio.min(16.0));
        }
    }

    /// What `usage` of `model` cost (0 for an unpriced model).
    pub(super) fn price(&self, model: &str, usage: &Usage) -> f64 {
        self.agent
            .prices()
            .get(model)
            .map_or(0.0, |p| p.cost(usage))
    }

    /// USD spent today (UTC), all sessions, priced models only.
    fn spent_today(&self) -> Result<f64, TurnError> {
        let today = crate::store::now_ms().div_euclid(86_400_000) * 86_400_000;
        let prices = self.agent.prices();
        Ok(self
            .agent
            .store()
            .usage_by_day(today)?
            .iter()
            .filter_map(|r| prices.get(&r.model).map(|p| p.cost(&r.usage)))
            .sum())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Text of the kinds a session carries.
    fn samples() -> Vec<String> {
        let mut v: Vec<String> = [
            "The quick brown fox jumps over the lazy dog. It was a bright cold day in April, and the clocks were striking thirteen.",
            "fn main() {\n    let xs: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{xs:?}\");\n}\n",
            r#"{"id":"call_8f3a","type":"function","function":{"name":"files__read","arguments":"{\"path\":\"/workspace/notes.md\"}"}}"#,
            "Phone: +1 (555) 867-5309, order #12345678901234567890, total 1,234,567.89 EUR",
            "日本語のテキストも数えます。東京は日本の首都です。",
            "Привет, как дела? Это проверка подсчёта токенов для кириллицы.",
            "🦀🦀🦀 emoji 🎉🎉 and ✨ sparkles ✨ 👩‍👩‍👧‍👦",
            "    indented\n\t\ttabs\n\n\n\nblank lines     and    spaces",
            "https://example.com/a/b/c?x=1&y=2#frag user@example.org C:\\Windows\\System32",
            "Ünïcödé áccents: café, naïve, façade, jalapeño, Straße, smørrebrød",
            "ØÆÅ ąęźżół ğüşıöç ăâîșț",
            "<div class=\"x\"><p>Hello</p><br/><a href='#'>link</a></div>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Opaque blobs: base64 and hex, which tokenise badly.
        let bytes: Vec<u8> = (0..600u32).map(|i| (i * 7919 % 251) as u8).collect();
        v.push(hex::encode(&bytes));
        v.push(
            bytes
                .chunks(3)
                .map(|c| {
                    let n = c.iter().fold(0u32, |a, b| a << 8 | u32::from(*b));
                    format!("{n:x}")
                })
                .collect::<Vec<_>>()
                .join("+/"),
        );
        v.push("a".repeat(1000));
        v.push("1".repeat(999));
        v
    }

    #[test]
    fn the_estimate_is_never_below_real_tokenizers_and_not_wildly_above() {
        let cl = tiktoken_rs::cl100k_base_singleton();
        let o2 = tiktoken_rs::o200k_base_singleton();
        let mut est_total = 0;
        let mut real_total = 0;
        for text in samples() {
            let est = estimate_text(&text);
            let real = cl
                .encode_with_special_tokens(&text)
                .len()
                .max(o2.encode_with_special_tokens(&text).len()) as u64;
            assert!(est >= real, "under-estimated {real} as {est}: {text:?}");
            est_total += est;
            real_total += real;
        }
        // Conservative, not useless: within 3x overall.
        assert!(est_total <= real_total * 3, "{est_total} vs {real_total}");
    }

    #[test]
    fn requests_count_every_part() {
        let m = vec![Message::User {
            text: "hello there".into(),
        }];
        let tools = vec![ToolSpec {
            name: "files__read".into(),
            description: "Read a file".into(),
            input_schema: serde_json::json!({"type": "object"}),
        }];
        let bare = estimate_request("", &m, &[]);
        assert!(estimate_request("You are helpful.", &m, &[]) > bare);
        assert!(estimate_request("", &m, &tools) > bare);
        assert!(estimate_text("") == 0);
    }
}
