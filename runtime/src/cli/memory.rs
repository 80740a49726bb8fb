//! `chitin memory show|search|edit`: the agent's memory files (Markdown in
//! the data directory, see `chitin::memory`), as the user reads and edits
//! them. What is shown was partly written by a model: it is cleaned before
//! it reaches the terminal.

use super::{EXIT_OK, EXIT_USAGE, Paths};
use anyhow::Context;
use chitin::memory::Memory;
use chitin::text::clean;
use clap::Subcommand;

/// `chitin memory …`.
#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List the memory files, or print one (`profile`, `notes`, `today`,
    /// a date `YYYY-MM-DD`, or a file name such as `notes.md`).
    Show {
        /// The file.
        file: Option<String>,
    },
    /// Search the memory as the agent's `memory_search` does.
    Search {
        /// Words to look for.
        query: String,
        /// Most entries shown.
        #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Open a memory file in $VISUAL or $EDITOR (default: notes); the
    /// index follows the edit.
    Edit {
        /// The file (as for `show`).
        file: Option<String>,
    },
}

/// Run a memory command.
pub fn run(cmd: MemoryCommand, paths: &Paths) -> anyhow::Result<u8> {
    let dirs = paths.dirs()?;
    let memory = Memory::open(&dirs)?;
    let named = |name: &str| {
        memory.file_named(name).ok_or_else(|| {
            anyhow::anyhow!(
                "`{}` is not a memory file: use profile, notes, today, a date (YYYY-MM-DD) or a .md file name shown by `chitin memory show`",
                clean(name)
            )
        })
    };
    match cmd {
        MemoryCommand::Show { file: None } => {
            let files = memory.files()?;
            println!("memory in {}", memory.dir().display());
            if files.is_empty() {
                println!(
                    "  (empty: the agent saves with memory_save; or `chitin memory edit profile`)"
                );
            }
            for f in files {
                println!("  {}", clean(&f));
            }
            println!("{} entries indexed", memory.entries()?);
        }
        MemoryCommand::Show { file: Some(name) } => {
            let rel = named(&name)?;
            match memory.read(&rel)? {
                Some(text) => print!("{}", clean(&text)),
                None => {
                    eprintln!("{} does not exist yet", clean(&rel));
                    return Ok(EXIT_USAGE);
                }
            }
        }
        MemoryCommand::Search { query, limit, json } => {
            let hits = memory.search(&query, limit as usize)?;
            for h in &hits {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"file": h.file, "line": h.line, "section": h.section, "text": h.text, "score": h.score})
                    );
                } else {
                    println!(
                        "{}:{}  {}",
                        clean(&h.file),
                        h.line,
                        clean(&h.text).replace('\n', "\n    ")
                    );
                }
            }
            if hits.is_empty() && !json {
                eprintln!("nothing in memory matches `{}`", clean(&query));
            }
        }
        MemoryCommand::Edit { file } => {
            let rel = named(file.as_deref().unwrap_or("notes"))?;
            let path = memory.create(&rel)?;
            let editor = std::env::var("VISUAL")
                .or_else(|_| std::env::var("EDITOR"))
                .unwrap_or_else(|_| "vi".into());
            // `$EDITOR` may carry arguments (`code --wait`).
            let mut words = editor.split_whitespace();
            let program = words.next().unwrap_or("vi");
            let status = std::process::Command::new(program)
                .args(words)
                .arg(&path)
                .status()
                .with_context(|| format!("cannot start the editor `{editor}` (set $EDITOR)"))?;
            if !status.success() {
                eprintln!("the editor exited with {status}; the file is kept as it is");
                return Ok(EXIT_USAGE);
            }
            eprintln!(
                "{} saved; {} entries indexed",
                path.display(),
                memory.entries()?
            );
        }
    }
    Ok(EXIT_OK)
}
