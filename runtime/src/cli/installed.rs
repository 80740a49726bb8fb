//! `chitin skill list|info|grant|revoke|remove`: installed skills and their
//! recorded grants. Grants change only here, by the human.

use super::{EXIT_FAILED, EXIT_OK, Paths};
use anyhow::{Context, bail};
use chitin::capabilities::Grants;
use chitin::capabilities::fs::protected::ProtectedPaths;
use chitin::capabilities::id::CapabilityId;
use chitin::package::review::{self, ReviewOptions};
use chitin::package::state::{Installed, Record};
use chitin::text::{clean, one_line};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

fn installed(paths: &Paths) -> anyhow::Result<Installed> {
    Ok(Installed::new(&paths.dirs()?.skills()))
}

/// The record of an installed skill, or a clear error.
pub fn record(paths: &Paths, name: &str) -> anyhow::Result<(Installed, Record)> {
    let inst = installed(paths)?;
    let rec = inst
        .get(name)?
        .with_context(|| format!("no installed skill named `{name}` (see `chitin skill list`)"))?;
    Ok((inst, rec))
}

fn trust_label(r: &Record) -> String {
    match &r.provenance.publisher {
        Some(p) if r.provenance.verified => format!("signed by {}", clean(p)),
        _ => "UNVERIFIED".to_string(),
    }
}

/// What kind of skill a record is: a component, or an Agent Skill and how
/// many scripts it runs sandboxed (the `run_script` tool's choices).
fn kind_label(r: &Record) -> String {
    if !r.manifest.is_agent_skill() {
        return "component".into();
    }
    let scripts = r
        .tools
        .iter()
        .find(|t| t.name == chitin_agent::agentskill::pack::RUN_SCRIPT)
        .and_then(|t| {
            t.input_schema["properties"]["script"]["enum"]
                .as_array()
                .map(Vec::len)
        })
        .unwrap_or(0);
    format!("agent skill ({scripts} scripts sandboxed)")
}

/// `skill list`.
pub fn list(paths: &Paths) -> anyhow::Result<u8> {
    let all = installed(paths)?.list()?;
    if all.is_empty() {
        eprintln!("no skills installed (install one with `chitin skill install <package>`)");
    }
    for r in all {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            clean(&r.name),
            clean(&r.version),
            trust_label(&r),
            kind_label(&r),
            one_line(&r.manifest.skill.description, 200)
        );
    }
    Ok(EXIT_OK)
}

/// `skill info`.
pub fn info(paths: &Paths, name: &str) -> anyhow::Result<u8> {
    let (_, r) = record(paths, name)?;
    println!(
        "{} {} — {}",
        clean(&r.name),
        clean(&r.version),
        one_line(&r.manifest.skill.description, 1024)
    );
    println!(
        "publisher:   {} ({})",
        one_line(&r.manifest.skill.publisher, 128),
        trust_label(&r)
    );
    if let Some(fp) = &r.provenance.fingerprint {
        println!("key:         {fp}");
    }
    println!("digest:      sha256:{}", r.provenance.digest);
    println!("kind:        {}", kind_label(&r));
    if r.manifest.is_agent_skill() {
        let (inst, _) = record(paths, name)?;
        println!(
            "files:       {}",
            chitin_agent::agentskill::files_dir(&inst, &r).display()
        );
    }
    println!(
        "tools:       {}",
        clean(
            &r.tools
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    println!("granted:");
    for line in super::grants::describe(&r.grants) {
        println!("  {line}");
    }
    let granted_ids = r.grants.ids();
    let not: Vec<_> = review::requests(&r.manifest, &Default::default())
        .into_iter()
        .filter(|q| !granted_ids.contains(&q.id))
        .collect();
    if !not.is_empty() {
        println!("requested, not granted:");
        for q in not {
            println!("  {:<40} {}", clean(&q.id.to_string()), clean(&q.words));
        }
    }
    Ok(EXIT_OK)
}

/// The IDs of everything granted to an installed skill.
pub fn ids_granted(r: &Record) -> Vec<CapabilityId> {
    r.grants.ids()
}

/// Ask on the terminal which directory to grant at `guest`.
fn ask_directory(name: &str, guest: &str, words: &str) -> anyhow::Result<Option<PathBuf>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    eprint!(
        "{name} asks to {}; which directory should it see as {}? ",
        clean(words),
        clean(guest)
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim();
    if line.is_empty() {
        bail!("no directory given; nothing was granted");
    }
    let dirs = super::package::parse_dirs(&[format!("{guest}={line}")])?;
    Ok(dirs.get(guest).cloned())
}

/// `skill grant NAME ID [--dir GUEST=PATH]`. A directory is always named by
/// the user (flag or terminal), never guessed, and the message says what it
/// replaced.
pub fn grant(paths: &Paths, name: &str, id: &CapabilityId, dirs: &[String]) -> anyhow::Result<u8> {
    let (inst, mut r) = record(paths, name)?;
    let mut dirs = super::package::parse_dirs(dirs)?;
    let request = review::requests(&r.manifest, &dirs)
        .into_iter()
        .find(|q| &q.id == id)
        .with_context(|| {
            format!(
                "{name} does not request `{}` (see `chitin skill info {name}`)",
                clean(&id.to_string())
            )
        })?;
    let fs_grant = |g: &Grants| match id {
        CapabilityId::Fs(guest) => g.fs.iter().find(|f| &f.guest == guest).cloned(),
        _ => None,
    };
    let before = fs_grant(&r.grants);
    if let CapabilityId::Fs(guest) = id
        && !dirs.contains_key(guest)
    {
        match ask_directory(name, guest, &request.words)? {
            Some(d) => {
                dirs.insert(guest.to_string(), d);
            }
            None => bail!(
                "granting {id} needs the directory the skill will see as {guest}: pass --dir {guest}=PATH{}",
                before
                    .as_ref()
                    .map(|b| format!(" (now: {})", b.host.display()))
                    .unwrap_or_default()
            ),
        }
    }
    let opts = ReviewOptions {
        grant: vec![id.clone()],
        dirs,
        undecided_denied: true,
        ..Default::default()
    };
    let (grants, _) = review::decide(&r.manifest, Some(&r.grants), &opts, None)?;
    let protected = ProtectedPaths::new(paths.protected()?);
    for g in &grants.fs {
        g.check_protected(&protected)?;
    }
    let after = fs_grant(&grants);
    let unchanged = grants
        == Grants {
            limits: grants.limits,
            ..r.grants.clone()
        };
    r.grants = Grants {
        limits: r.grants.limits,
        ..grants
    };
    if !unchanged {
        inst.commit(&r)?;
    }
    let id = id.to_string();
    let (id, name) = (clean(&id), clean(name));
    let shown =
        |g: &chitin::capabilities::fs::FsGrant| clean(&g.host.display().to_string()).into_owned();
    match (after, before) {
        (Some(a), Some(b)) if a.host == b.host && a.access == b.access => eprintln!(
            "{name} already has {id}: {} access to {}, seen as {}",
            a.access,
            shown(&a),
            clean(&a.guest)
        ),
        (Some(a), Some(b)) => eprintln!(
            "granted {id} to {name}: {} access to {}, seen as {} (replacing {} access to {})",
            a.access,
            shown(&a),
            clean(&a.guest),
            b.access,
            shown(&b)
        ),
        (Some(a), None) => eprintln!(
            "granted {id} to {name}: {} access to {}, seen as {}",
            a.access,
            shown(&a),
            clean(&a.guest)
        ),
        _ if unchanged => eprintln!("{name} already has {id}: {}", clean(&request.words)),
        _ => eprintln!("granted {id} to {name}: {}", clean(&request.words)),
    }
    Ok(EXIT_OK)
}

/// `skill revoke NAME ID`.
pub fn revoke(paths: &Paths, name: &str, id: &CapabilityId) -> anyhow::Result<u8> {
    let (inst, mut r) = record(paths, name)?;
    let shown = id.to_string();
    if !r.grants.revoke(id) {
        bail!(
            "{name} has no grant `{}` (see `chitin skill info {name}`)",
            clean(&shown)
        );
    }
    inst.commit(&r)?;
    eprintln!("revoked {} from {name}", clean(&shown));
    Ok(EXIT_OK)
}

/// `skill remove NAME`.
pub fn remove(paths: &Paths, name: &str) -> anyhow::Result<u8> {
    if installed(paths)?.remove(name)? {
        eprintln!("removed {name}");
        Ok(EXIT_OK)
    } else {
        eprintln!("error: no installed skill named `{}`", clean(name));
        Ok(EXIT_FAILED)
    }
}
