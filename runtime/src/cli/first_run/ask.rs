//! Questions of `chitin setup`: asked on stderr, answered on stdin (a
//! terminal, or lines piped by a script, never echoed); an empty line or the
//! end of input takes the default, and `--yes` takes every default without
//! asking. Secrets come only from a hidden prompt on a terminal.

use std::io::{BufRead, IsTerminal, Write};

/// Where answers come from.
pub struct Ask {
    /// Take every default without asking.
    pub yes: bool,
    ended: bool,
}

impl Ask {
    /// Ask on stdin, or not at all with `yes`.
    pub fn new(yes: bool) -> Self {
        Ask { yes, ended: false }
    }

    fn line(&mut self) -> Option<String> {
        if self.yes || self.ended {
            return None;
        }
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                self.ended = true;
                None
            }
            Ok(_) => Some(line.trim().to_string()).filter(|l| !l.is_empty()),
        }
    }

    /// A free-text answer; `default` when none is given.
    pub fn text(&mut self, question: &str, default: &str) -> String {
        if self.yes {
            return default.to_string();
        }
        if default.is_empty() {
            eprint!("{question}: ");
        } else {
            eprint!("{question} [{default}]: ");
        }
        let _ = std::io::stderr().flush();
        let answer = self.line().unwrap_or_else(|| default.to_string());
        if !std::io::stdin().is_terminal() {
            // Answers piped by a script are not echoed: a line meant for
            // another question (a key, say) must not reach a log.
            eprintln!();
        }
        answer
    }

    /// Yes or no; `default` when none is given.
    pub fn yes_no(&mut self, question: &str, default: bool) -> bool {
        let hint = if default { "Y/n" } else { "y/N" };
        loop {
            let answer = self.text(&format!("{question} [{hint}]"), "");
            match answer.to_ascii_lowercase().as_str() {
                "" => return default,
                "y" | "yes" => return true,
                "n" | "no" => return false,
                _ if self.ended => return default,
                _ => eprintln!("  answer y or n"),
            }
        }
    }

    /// A secret, from a hidden prompt on a terminal; `None` otherwise (a
    /// script stores it first with `chitin secret set NAME`, never as one
    /// of the lines it pipes to setup, where a shifted answer would leak it).
    pub fn secret(&mut self, question: &str) -> Option<String> {
        if self.yes || !std::io::stdin().is_terminal() {
            return None;
        }
        rpassword::prompt_password(format!("{question} (input hidden): "))
            .ok()
            .map(|v| v.trim_end_matches(['\r', '\n']).to_string())
            .filter(|v| !v.is_empty())
    }
}
