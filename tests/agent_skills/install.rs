//! Packing and installing Agent Skills from the command line.

use crate::support::TestServer;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A Chitin home with the user's own key, trusted as `me`.
struct Cli {
    tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Cli {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let cli = Cli {
            home: tmp.path().join("home"),
            tmp,
        };
        let (code, public, err) = cli.run(&["key", "generate"]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = cli.run(&["trust", "add", "me", public.trim()]);
        assert_eq!(code, 0, "{err}");
        cli
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(args)
            .env("CHITIN_HOME", &self.home)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    fn skills(&self) -> PathBuf {
        // CHITIN_HOME/data/skills, as `dirs` lays it out.
        let found: Vec<PathBuf> = walk(&self.home)
            .into_iter()
            .filter(|p| p.ends_with("record.json"))
            .collect();
        found
            .first()
            .map(|p| p.parent().unwrap().parent().unwrap().to_path_buf())
            .unwrap_or_else(|| self.home.join("none"))
    }

    fn installed(&self) -> Vec<String> {
        let (_, out, _) = self.run(&["skill", "list"]);
        out.lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect()
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten().take(10_000) {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn fixture(name: &str) -> PathBuf {
    crate::support::root()
        .join("tests/fixtures/agent-skills")
        .join(name)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A zip of `entries` (name, bytes), deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A zip of a fixture folder, under its own name.
fn zip_fixture(name: &str) -> Vec<u8> {
    let root = fixture(name);
    let files: Vec<(String, Vec<u8>)> = walk(&root)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            (format!("{name}/{rel}"), std::fs::read(&p).unwrap())
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    zip_of(&refs)
}

#[test]
fn pack_verify_and_install_a_folder() {
    let cli = Cli::new();
    let out = cli.tmp.path().join("pdf-notes.wasm");
    let (code, printed, err) = cli.run(&[
        "skill",
        "pack",
        &s(&fixture("pdf-notes")),
        "--publisher",
        "me",
        "-o",
        &s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed.trim(), s(&out));
    assert!(err.contains("packed pdf-notes 1.2.0 (1 tools"), "{err}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\0asm\x0d\0\x01\0",
        "an empty component carries it"
    );

    let (code, v, err) = cli.run(&["skill", "verify", &s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert!(v.contains("signature:   valid"), "{v}");
    assert!(v.contains("trusted as `me`"), "{v}");
    assert!(
        v.contains("agent skill (4 files, 1 scripts run sandboxed)"),
        "{v}"
    );

    let (code, _, err) = cli.run(&["skill", "install", &s(&fixture("pdf-notes")), "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("installing pdf-notes 1.2.0"), "{err}");
    assert!(err.contains("signed by `me`"), "{err}");
    assert!(err.contains("scripts/extract.py (python)"), "{err}");
    let (_, list, _) = cli.run(&["skill", "list"]);
    assert!(
        list.contains("pdf-notes\t1.2.0\tsigned by me\tagent skill (1 scripts sandboxed)\t"),
        "{list}"
    );

    // The files are on disk, read-only, where `skill info` says.
    let (code, info, err) = cli.run(&["skill", "info", "pdf-notes"]);
    assert_eq!(code, 0, "{err}");
    let files = info
        .lines()
        .find_map(|l| l.strip_prefix("files:       "))
        .map(PathBuf::from)
        .expect("skill info names the files folder");
    assert_eq!(
        std::fs::read(files.join("references/forms.md")).unwrap(),
        std::fs::read(fixture("pdf-notes/references/forms.md")).unwrap()
    );
    assert!(files.join("scripts/extract.py").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files.join("SKILL.md"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o222, 0, "read-only");
    }

    // `skill run` / `skill tools` say what it is instead of compiling it.
    let (code, _, err) = cli.run(&["skill", "run", "pdf-notes", "run_script"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is an Agent Skill") && err.contains("run_script"),
        "{err}"
    );
    let (code, tools, err) = cli.run(&["skill", "tools", "pdf-notes"]);
    assert_eq!(code, 0, "{err}");
    assert!(tools.starts_with("run_script\n"), "{tools}");
    assert!(tools.contains("read-only at /skill"), "{tools}");

    // Reinstall of the same content is an upgrade in place; removal cleans up.
    let (code, _, err) = cli.run(&["skill", "remove", "pdf-notes"]);
    assert_eq!(code, 0, "{err}");
    assert!(!files.exists());
    assert!(cli.installed().is_empty());
}

#[test]
fn install_from_a_zip_and_a_url() {
    let cli = Cli::new();
    let zip = cli.tmp.path().join("video-frames.zip");
    std::fs::write(&zip, zip_fixture("video-frames")).unwrap();
    let (code, _, err) = cli.run(&["skill", "install", &s(&zip), "--yes"]);
    assert_eq!(code, 0, "{err}");
    // OpenClaw's metadata: warned about, host needs said, still installed.
    assert!(
        err.contains("this skill needs `ffmpeg` on the host (metadata.openclaw.requires.bins); Chitin does not run host programs"),
        "{err}"
    );
    assert!(err.contains("VIDEO_API_KEY"), "{err}");
    assert!(
        err.contains("warning: unknown frontmatter key `homepage`"),
        "{err}"
    );
    assert!(err.contains("warning: `metadata.openclaw`"), "{err}");
    assert!(err.contains("scripts/frame.sh: a shell script"), "{err}");
    assert!(err.contains("scripts/plan.py (python)"), "{err}");
    assert_eq!(cli.installed(), ["video-frames"]);

    let server = TestServer::start();
    server.serve("data-stats.zip", zip_fixture("data-stats"));
    let url = format!("{}/files/data-stats.zip", server.base());
    let (code, _, err) = cli.run(&["skill", "install", &url, "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("scripts/stats.py (python)"), "{err}");
    assert_eq!(cli.installed(), ["data-stats", "video-frames"]);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path.contains("data-stats.zip"))
    );

    // A package served by URL is treated by its content too.
    let pkg = cli.tmp.path().join("shell-tool.wasm");
    let (code, _, err) = cli.run(&[
        "skill",
        "pack",
        &s(&fixture("shell-tool")),
        "--publisher",
        "me",
        "-o",
        &s(&pkg),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("(0 tools"),
        "a shell script offers no tool: {err}"
    );
    server.serve("shell-tool.wasm", std::fs::read(&pkg).unwrap());
    let url = format!("{}/files/shell-tool.wasm", server.base());
    let (code, _, err) = cli.run(&["skill", "install", &url, "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no scripts run in the sandbox"), "{err}");
    assert!(err.contains("scripts/run.sh: a shell script"), "{err}");
    let (_, list, _) = cli.run(&["skill", "list"]);
    assert!(
        list.contains("shell-tool\t0.0.0\tsigned by me\tagent skill (0 scripts sandboxed)"),
        "{list}"
    );
}

#[test]
fn review_shows_requests_warnings_and_cleans_escapes() {
    let cli = Cli::new();
    // Undecided capabilities without --yes: refused, nothing installed.
    let (code, _, err) = cli.run(&["skill", "install", &s(&fixture("hostile-scripts"))]);
    assert_ne!(code, 0);
    assert!(err.contains("connect to api.example.com"), "{err}");
    assert!(err.contains("scripts/read_ssh_key.py (python)"), "{err}");
    assert!(
        err.contains("scripts/fetch_other_host.js (javascript)"),
        "{err}"
    );
    assert!(cli.installed().is_empty());
    // Granted like any component skill.
    let (code, _, err) = cli.run(&[
        "skill",
        "install",
        &s(&fixture("hostile-scripts")),
        "--grant",
        "net:https://api.example.com",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("granted connect to api.example.com"), "{err}");
    let (_, info, _) = cli.run(&["skill", "info", "hostile-scripts"]);
    assert!(info.contains("0.3.0"), "{info}");

    let (code, _, err) = cli.run(&["skill", "install", &s(&fixture("ansi-desc")), "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{7}'),
        "raw escapes reached the terminal: {err:?}"
    );
    assert!(err.contains("Colors \\u{1b}[31mred"), "{err}");
    assert!(
        err.contains("warning: unknown frontmatter key `x-vendor`"),
        "{err}"
    );
    assert!(err.contains("control or formatting characters"), "{err}");
    let (_, list, _) = cli.run(&["skill", "list"]);
    assert!(!list.contains('\u{1b}'), "{list:?}");

    let (code, _, err) = cli.run(&["skill", "install", &s(&fixture("long-guide")), "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("over the 500 the specification advises"),
        "{err}"
    );
}

#[test]
fn invalid_skills_are_refused_with_the_reason() {
    let cli = Cli::new();
    for (folder, needle) in [
        (
            "wrong-folder",
            "does not match the folder's name `wrong-folder`",
        ),
        ("bad-chars", "lowercase letters"),
        ("long-description", "over the 1024-character limit"),
        ("no-frontmatter", "no frontmatter"),
        ("unterminated", "not terminated"),
        ("not-a-map", "not a YAML map"),
    ] {
        let dir = fixture(&format!("invalid/{folder}"));
        let (code, _, err) = cli.run(&["skill", "install", &s(&dir), "--yes"]);
        assert_ne!(code, 0, "{folder} installed");
        assert!(err.contains(needle), "{folder}: {err}");
        let (code, _, err) = cli.run(&[
            "skill",
            "pack",
            &s(&dir),
            "--publisher",
            "me",
            "-o",
            "/dev/null",
        ]);
        assert_ne!(code, 0, "{folder} packed");
        assert!(err.contains(needle), "{folder}: {err}");
    }
    assert!(cli.installed().is_empty());
}

#[test]
fn a_changed_script_breaks_the_signature() {
    let cli = Cli::new();
    let out = cli.tmp.path().join("p.wasm");
    let (code, _, err) = cli.run(&[
        "skill",
        "pack",
        &s(&fixture("pdf-notes")),
        "--publisher",
        "me",
        "-o",
        &s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut bytes = std::fs::read(&out).unwrap();
    let needle = b"def headings";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at] = b'D';
    std::fs::write(&out, &bytes).unwrap();
    let (code, _, err) = cli.run(&["skill", "verify", &s(&out)]);
    assert_ne!(code, 0);
    assert!(err.contains("signature does not match"), "{err}");
    let (code, _, err) = cli.run(&["skill", "install", &s(&out), "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("signature does not match"), "{err}");
    assert!(cli.installed().is_empty());
    assert!(!cli.skills().join("pdf-notes").exists());
}

#[test]
fn hostile_zips_and_symlinks_install_nothing() {
    let cli = Cli::new();
    let md = b"---\nname: evil\ndescription: d\n---\n".as_slice();
    let zeros = vec![0u8; 3 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "traversal",
            zip_of(&[("evil/SKILL.md", md), ("evil/../../outside.txt", b"x")]),
            "leaves the skill folder",
        ),
        (
            "absolute",
            zip_of(&[("evil/SKILL.md", md), ("/etc/evil", b"x")]),
            "absolute",
        ),
        (
            "bomb",
            zip_of(&[("evil/SKILL.md", md), ("evil/assets/zeros", &zeros)]),
            "zip bomb",
        ),
        (
            "too large",
            zip_of(&[
                ("evil/SKILL.md", md),
                ("evil/assets/big", &vec![7u8; 5 * 1024 * 1024]),
            ]),
            "4194304-byte limit",
        ),
    ];
    for (what, bytes, needle) in cases {
        let path = cli
            .tmp
            .path()
            .join(format!("{}.zip", what.replace(' ', "-")));
        std::fs::write(&path, bytes).unwrap();
        let (code, _, err) = cli.run(&["skill", "install", &s(&path), "--yes"]);
        assert_ne!(code, 0, "{what} installed");
        assert!(err.contains(needle), "{what}: {err}");
        assert!(cli.installed().is_empty(), "{what}");
        assert!(!cli.tmp.path().join("outside.txt").exists());
    }

    #[cfg(unix)]
    {
        let dir = cli.tmp.path().join("evil");
        std::fs::create_dir_all(dir.join("references")).unwrap();
        std::fs::write(dir.join("SKILL.md"), md).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("references/passwd")).unwrap();
        let (code, _, err) = cli.run(&["skill", "install", &s(&dir), "--yes"]);
        assert_ne!(code, 0);
        assert!(
            err.contains("references/passwd") && err.contains("symlink"),
            "{err}"
        );
        assert!(cli.installed().is_empty());
    }
    assert!(!cli.skills().join("evil").exists());
}

#[test]
fn no_key_says_how_to_make_one() {
    let tmp = tempfile::tempdir().unwrap();
    let cli = Cli {
        home: tmp.path().join("home"),
        tmp,
    };
    let (code, _, err) = cli.run(&["skill", "install", &s(&fixture("pdf-notes")), "--yes"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("chitin setup") && err.contains("chitin key generate"),
        "{err}"
    );
}

/// Another folder of the same name, signed here like every folder: the
/// user's key says nothing about who wrote it, so nothing granted to the
/// installed one carries over; and a component skill is never replaced by
/// an Agent Skill of its name (or back).
#[test]
fn a_same_named_folder_keeps_no_grant_and_never_replaces_a_component() {
    let cli = Cli::new();
    let data = cli.tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let grant = format!("/data={}", data.display());
    let first = fixture("csv-report");
    let (code, _, err) = cli.run(&["skill", "install", &s(&first), "--yes", "--dir", &grant]);
    assert_eq!(code, 0, "{err}");
    let (_, info, _) = cli.run(&["skill", "info", "csv-report"]);
    assert!(info.contains("seen by the skill as /data"), "{info}");

    // "An upgrade" from elsewhere, asking for the same folder.
    let other = cli.tmp.path().join("csv-report");
    std::fs::create_dir_all(other.join("scripts")).unwrap();
    std::fs::write(
        other.join("SKILL.md"),
        "---\nname: csv-report\ndescription: Same name, other author.\n---\nRun it.\n",
    )
    .unwrap();
    std::fs::write(other.join("scripts/x.py"), "print(open('/data/x').read())").unwrap();
    std::fs::write(
        other.join("chitin.toml"),
        "version = \"9.0.0\"\n[[capabilities.fs]]\nguest = \"/data\"\naccess = \"read-write\"\n",
    )
    .unwrap();
    let (code, _, err) = cli.run(&["skill", "install", &s(&other), "--yes"]);
    assert_ne!(code, 0, "the folder grant is asked for again: {err}");
    assert!(err.contains("choose one with --dir /data=PATH"), "{err}");
    assert!(!err.contains("granted before"), "{err}");
    let (_, info, _) = cli.run(&["skill", "info", "csv-report"]);
    assert!(
        info.starts_with("csv-report 0.2.0"),
        "the installed one stays: {info}"
    );
    // Given a folder of its own, it installs with just that.
    let mine = cli.tmp.path().join("other-data");
    std::fs::create_dir_all(&mine).unwrap();
    let dir = format!("/data={}", mine.display());
    let (code, _, err) = cli.run(&["skill", "install", &s(&other), "--yes", "--dir", &dir]);
    assert_eq!(code, 0, "{err}");
    let (_, info, _) = cli.run(&["skill", "info", "csv-report"]);
    assert!(info.contains(&mine.display().to_string()), "{info}");
    assert!(
        !info.contains(&format!("{} (seen", data.display())),
        "{info}"
    );

    // A component skill of a name is not replaced by an Agent Skill.
    let comp = crate::support::skill_dir("files");
    let pkg = cli.tmp.path().join("files.wasm");
    let (code, _, err) = cli.run(&[
        "skill",
        "pack",
        &s(&comp),
        "--publisher",
        "me",
        "-o",
        &s(&pkg),
    ]);
    assert_eq!(code, 0, "{err}");
    let ws = format!("/workspace={}", data.display());
    let (code, _, err) = cli.run(&["skill", "install", &s(&pkg), "--yes", "--dir", &ws]);
    assert_eq!(code, 0, "{err}");
    let impostor = cli.tmp.path().join("files");
    std::fs::create_dir_all(&impostor).unwrap();
    std::fs::write(
        impostor.join("SKILL.md"),
        "---\nname: files\ndescription: Not the files skill.\n---\nHi.\n",
    )
    .unwrap();
    let (code, _, err) = cli.run(&["skill", "install", &s(&impostor), "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("installed as a component skill"), "{err}");
    let (_, info, _) = cli.run(&["skill", "info", "files"]);
    assert!(
        info.contains("seen by the skill as /workspace"),
        "the component is untouched: {info}"
    );
}
