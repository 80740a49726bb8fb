//! The README's first steps, run as written in a clean home: the "by hand"
//! commands of "The agent in five minutes" (secret, key, trust, pack,
//! install) and its provider block, then `ask`. A README edit that breaks
//! the path a new user follows fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;
use support::model::{ModelServer, Reply};

/// The first fenced block of `lang` after `marker` in the README.
fn block_after(readme: &str, marker: &str, lang: &str) -> String {
    let at = readme.find(marker).expect("the README section is there");
    let rest = &readme[at..];
    let open = format!("```{lang}\n");
    let start = rest.find(&open).expect("a code block") + open.len();
    let len = rest[start..].find("```").expect("the block ends");
    rest[start..start + len].to_string()
}

/// One README command (`scripts/chitin ARGS`) in `home`, with `$HOME` set
/// to `user_home`, run from `cwd`, `stdin` piped in.
fn run(
    line: &str,
    home: &Path,
    user_home: &Path,
    cwd: &Path,
    stdin: &str,
) -> (i32, String, String) {
    let args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(|a| a.replace("$HOME", &user_home.display().to_string()))
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chitin"));
    cmd.args(&args)
        .current_dir(cwd)
        .env("CHITIN_HOME", home)
        .env("HOME", user_home);
    support::run_piped(&mut cmd, stdin)
}

#[test]
fn the_by_hand_path_works_as_written_in_a_clean_home() {
    support::build_skills();
    let readme = std::fs::read_to_string(support::root().join("README.md")).unwrap();
    let toml = block_after(&readme, "**By hand**", "toml");
    let sh = block_after(&readme, "**By hand**", "sh");
    let commands: Vec<String> = sh
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        commands.iter().all(|c| c.starts_with("scripts/chitin ")),
        "{commands:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let (home, user, work) = (
        tmp.path().join("chitin"),
        tmp.path().join("user"),
        tmp.path().join("work"),
    );
    std::fs::create_dir_all(&user).unwrap();
    // The checkout's skills, as `scripts/chitin` sees them from its root.
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(support::root().join("skills"), work.join("skills")).unwrap();
    std::os::unix::fs::symlink(support::root().join("target"), work.join("target")).unwrap();

    // The provider block, pointed at a scripted model server.
    let server = ModelServer::start(vec![
        Reply::tool("files__list", r#"{"path":""}"#),
        Reply::text("You have one note: todo.md."),
    ]);
    let base = toml
        .lines()
        .find(|l| l.starts_with("base_url"))
        .expect("a base_url line")
        .to_string();
    let config = toml.replace(&base, &format!("base_url = \"{}\"", server.base_url()));
    assert!(
        config.contains("api_key_secret = \"OPENROUTER_KEY\""),
        "{config}"
    );
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(home.join("config/config.toml"), &config).unwrap();

    let mut public = String::new();
    for command in &commands {
        let line = command.replace("ed25519:…", &public);
        let stdin = if line.contains("secret set") {
            "sk-or-readme-test\n"
        } else {
            ""
        };
        let mut result = run(&line, &home, &user, &work, stdin);
        if line.contains("skill install") && result.0 != 0 {
            // ~/notes does not exist yet: said plainly, nothing installed;
            // the command the error gives, then the same install again.
            let notes = user.join("notes");
            assert!(
                result.2.contains("does not exist") && result.2.contains("mkdir -p"),
                "{}",
                result.2
            );
            assert!(!notes.exists());
            std::fs::create_dir_all(&notes).unwrap();
            std::fs::write(notes.join("todo.md"), "- buy milk\n").unwrap();
            result = run(&line, &home, &user, &work, "");
        }
        if line.contains("skill install") && result.2.contains("run again with --yes") {
            // Piped, not a terminal: no y/N is asked; the error names the
            // flag that grants what the review showed.
            assert!(result.2.contains("fs:/workspace"), "{}", result.2);
            result = run(&format!("{line} --yes"), &home, &user, &work, "");
        }
        let (code, out, err) = result;
        assert_eq!(code, 0, "`{line}`:\n{out}\n{err}");
        if line.contains("key generate") {
            public = out.trim().to_string();
            assert!(public.starts_with("ed25519:"), "{out}");
        }
    }
    assert!(work.join("files.wasm").is_file(), "the package was written");

    let (code, out, err) = run(
        "scripts/chitin ask what-files-are-in-my-notes",
        &home,
        &user,
        &work,
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("You have one note: todo.md."), "{out}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "the tool call was made and answered");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-or-readme-test"),
        "the stored key is sent"
    );
    let result = requests[1].body.to_string();
    assert!(
        result.contains("todo.md"),
        "the skill listed the notes: {result}"
    );
    assert!(
        !config.contains("sk-or-readme-test"),
        "the key is never in config.toml"
    );
}
