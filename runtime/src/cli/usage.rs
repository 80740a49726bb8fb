//! `chitin usage`: tokens per day (or session, or scheduled job) and
//! model, the cached part of the input apart, and what it cost where
//! `[prices.MODEL]` is configured.

use super::setup::{self, ProviderFlags};
use super::{EXIT_OK, Paths};
use chitin::agent::config::Prices;
use chitin::messages::Usage;
use chitin::store::{Store, UsageBy, UsageRow};
use chitin::text::clean;
use clap::Args;
use std::collections::BTreeMap;

/// `chitin usage` options.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Days to show, today included.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
    /// One line per day, per session or per scheduled job (and model).
    #[arg(long, value_enum, default_value_t = By::Day)]
    pub by: By,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How `chitin usage` groups model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// Per UTC day.
    Day,
    /// Per session (with its title).
    Session,
    /// Per scheduled job (calls outside jobs as "(no job)").
    Job,
}

/// Run `chitin usage`.
pub fn run(paths: &Paths, args: UsageArgs) -> anyhow::Result<u8> {
    let loaded = setup::load_config(paths, &ProviderFlags::default())?;
    let prices = &loaded.config.prices;
    let store = Store::open(&paths.dirs()?.sessions_db())?;
    let today = chitin::store::now_ms().div_euclid(86_400_000);
    let since = (today - i64::from(args.days) + 1) * 86_400_000;
    let by = match args.by {
        By::Day => UsageBy::Day,
        By::Session => UsageBy::Session,
        By::Job => UsageBy::Job,
    };
    let mut rows = store.usage_by(since, by)?;
    if args.by == By::Session {
        for r in &mut rows {
            // The id, then the title (cleaned with the rest of the row).
            if let Ok(s) = store.session(&r.group)
                && !s.title.is_empty()
            {
                r.group = format!("{} {}", r.group, s.title);
            }
        }
    }
    if args.json {
        for r in &rows {
            let cost = prices.get(&r.model).map(|p| p.cost(&r.usage));
            let mut line = serde_json::to_value(r)?;
            line["date"] = serde_json::json!(date(r.day));
            if args.by == By::Day
                && let Some(o) = line.as_object_mut()
            {
                o.remove("group");
            }
            if let Some(c) = cost {
                line["cost_usd"] = serde_json::json!(c);
            }
            println!("{line}");
        }
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        eprintln!("no model calls recorded in the last {} day(s)", args.days);
        return Ok(EXIT_OK);
    }
    print!("{}", table(&rows, prices, args.by));
    Ok(EXIT_OK)
}

/// The table: one line per day (session, job) and model, then the totals.
fn table(rows: &[UsageRow], prices: &BTreeMap<String, Prices>, by: By) -> String {
    let head = match by {
        By::Day => String::new(),
        By::Session => format!("{:<40}  ", "session"),
        By::Job => format!("{:<24}  ", "job"),
    };
    let mut out = format!(
        "{head}{:<10}  {:<28} {:>6} {:>12} {:>12} {:>10} {:>10} {:>10}\n",
        if by == By::Day { "date" } else { "since" },
        "model",
        "calls",
        "input",
        "(cached)",
        "(written)",
        "output",
        "cost"
    );
    let mut total = Usage::default();
    let mut cost_total = 0.0;
    let mut unpriced = false;
    for r in rows {
        total.add(r.usage);
        let cost = match prices.get(&r.model) {
            Some(p) => {
                let c = p.cost(&r.usage);
                cost_total += c;
                format!("${c:.4}")
            }
            None => {
                unpriced = true;
                "-".to_string()
            }
        };
        let model = if r.model.is_empty() {
            "(unrecorded)".to_string()
        } else {
            clean(&r.model).chars().take(28).collect()
        };
        let group = match by {
            By::Day => String::new(),
            By::Session => format!("{:<40}  ", cut(&clean(&r.group), 40)),
            By::Job if r.group.is_empty() => format!("{:<24}  ", "(no job)"),
            By::Job => format!("{:<24}  ", cut(&clean(&r.group), 24)),
        };
        out.push_str(&format!(
            "{group}{:<10}  {:<28} {:>6} {:>12} {:>12} {:>10} {:>10} {:>10}\n",
            date(r.day),
            model,
            r.calls,
            r.usage.input_tokens,
            r.usage.cache_read_tokens,
            r.usage.cache_write_tokens,
            r.usage.output_tokens,
            cost
        ));
    }
    let share = if total.input_tokens > 0 {
        100.0 * total.cache_read_tokens as f64 / total.input_tokens as f64
    } else {
        0.0
    };
    out.push_str(&format!(
        "total: {} input tokens ({} read from the cache, {share:.0}%; {} written to it), {} output tokens",
        total.input_tokens, total.cache_read_tokens, total.cache_write_tokens, total.output_tokens
    ));
    if cost_total > 0.0 || !unpriced {
        out.push_str(&format!(", ${cost_total:.4}"));
    }
    if unpriced {
        out.push_str(" (set [prices.MODEL] in config.toml to see costs)");
    }
    out.push('\n');
    out
}

/// `text` cut to `n` characters.
fn cut(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// `YYYY-MM-DD` of a day number.
fn date(day: i64) -> String {
    super::sessions::when(day * 86_400_000)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_prices_cached_tokens_apart() {
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 800_000,
            cache_write_tokens: 100_000,
        };
        let rows = [UsageRow {
            day: 20_000,
            group: String::new(),
            model: "claude".into(),
            calls: 3,
            usage,
        }];
        let p = Prices {
            input: 3.0,
            cached_input: Some(0.3),
            cache_write: Some(3.75),
            output: 15.0,
        };
        // 0.1M*3 + 0.8M*0.3 + 0.1M*3.75 + 0.1M*15
        let want = 0.3 + 0.24 + 0.375 + 1.5;
        assert!((p.cost(&usage) - want).abs() < 1e-9);
        let t = table(&rows, &BTreeMap::from([("claude".to_string(), p)]), By::Day);
        assert!(t.contains("2024-10-04"), "{t}");
        assert!(t.contains("80%"), "{t}");
        assert!(t.contains(&format!("${want:.4}")), "{t}");
        let t = table(&rows, &BTreeMap::new(), By::Job);
        assert!(t.contains("(no job)"), "{t}");
        assert!(t.contains("set [prices.MODEL]"), "{t}");
    }
}
