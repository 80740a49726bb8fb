//! `chitin skill list|info|grant|revoke|remove`: installed skills and their
//! recorded grants. Grants change only here, by the human.

use super::{EXIT_FAILED, EXIT_OK, Paths};
use anyhow::{Context, bail};
use chitin::capabilities::Grants;
use chitin::package::review::{self, ReviewOptions};
use chitin::package::state::{Installed, Record};

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
        Some(p) if r.provenance.verified => format!("signed by {p}"),
        _ => "UNVERIFIED".to_string(),
    }
}

/// `skill list`.
pub fn list(paths: &Paths) -> anyhow::Result<u8> {
    let all = installed(paths)?.list()?;
    if all.is_empty() {
        eprintln!("no skills installed (install one with `chitin skill install <package>`)");
    }
    for r in all {
        println!(
            "{}\t{}\t{}\t{}",
            r.name,
            r.version,
            trust_label(&r),
            r.manifest.skill.description
        );
    }
    Ok(EXIT_OK)
}

/// `skill info`.
pub fn info(paths: &Paths, name: &str) -> anyhow::Result<u8> {
    let (_, r) = record(paths, name)?;
    println!(
        "{} {} — {}",
        r.name, r.version, r.manifest.skill.description
    );
    println!(
        "publisher:   {} ({})",
        r.manifest.skill.publisher,
        trust_label(&r)
    );
    if let Some(fp) = &r.provenance.fingerprint {
        println!("key:         {fp}");
    }
    println!("digest:      sha256:{}", r.provenance.digest);
    println!(
        "tools:       {}",
        r.tools
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("granted:");
    for line in super::grants::describe(&r.grants) {
        println!("  {line}");
    }
    let granted_ids = ids_granted(&r);
    let not: Vec<_> = review::requests(&r.manifest, &Default::default())
        .into_iter()
        .filter(|q| !granted_ids.contains(&q.id))
        .collect();
    if !not.is_empty() {
        println!("requested, not granted:");
        for q in not {
            println!("  {:<40} {}", q.id, q.words);
        }
    }
    Ok(EXIT_OK)
}

/// The IDs of everything granted to an installed skill.
pub fn ids_granted(r: &Record) -> Vec<String> {
    let g = &r.grants;
    g.fs.iter()
        .map(|f| format!("fs:{}", f.guest))
        .chain(g.net.iter().map(|n| format!("net:{n}")))
        .chain(g.secrets.iter().map(|s| format!("secret:{}", s.name)))
        .collect()
}

/// `skill grant NAME ID [--dir GUEST=PATH]`.
pub fn grant(paths: &Paths, name: &str, id: &str, dirs: &[String]) -> anyhow::Result<u8> {
    let (inst, mut r) = record(paths, name)?;
    let opts = ReviewOptions {
        grant: vec![id.to_string()],
        dirs: super::package::parse_dirs(dirs)?,
        undecided_denied: true,
        ..Default::default()
    };
    let (grants, _) = review::decide(&r.manifest, Some(&r.grants), &opts, None)?;
    r.grants = Grants {
        limits: r.grants.limits,
        ..grants
    };
    inst.commit(&r)?;
    eprintln!("granted {id} to {name}");
    Ok(EXIT_OK)
}

/// `skill revoke NAME ID`.
pub fn revoke(paths: &Paths, name: &str, id: &str) -> anyhow::Result<u8> {
    let (inst, mut r) = record(paths, name)?;
    if !ids_granted(&r).iter().any(|g| g == id) {
        bail!("{name} has no grant `{id}` (see `chitin skill info {name}`)");
    }
    let g = &mut r.grants;
    g.fs.retain(|f| format!("fs:{}", f.guest) != id);
    g.net.retain(|n| format!("net:{n}") != id);
    g.secrets.retain(|s| format!("secret:{}", s.name) != id);
    inst.commit(&r)?;
    eprintln!("revoked {id} from {name}");
    Ok(EXIT_OK)
}

/// `skill remove NAME`.
pub fn remove(paths: &Paths, name: &str) -> anyhow::Result<u8> {
    if installed(paths)?.remove(name)? {
        eprintln!("removed {name}");
        Ok(EXIT_OK)
    } else {
        eprintln!("error: no installed skill named `{name}`");
        Ok(EXIT_FAILED)
    }
}
