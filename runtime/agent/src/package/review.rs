//! The capability review: what a package requests, in plain words, and the
//! user's decision for each request (all with `--yes`, each with
//! `--grant`/`--deny`, or interactively). On upgrade, what was granted before
//! and is still requested is kept; anything new needs approval again.

use chitin_sandbox::capabilities::Grants;
use chitin_sandbox::capabilities::fs::{Access, FsGrant};
use chitin_sandbox::capabilities::id::CapabilityId;
use chitin_sandbox::capabilities::limits::Limits;
use chitin_sandbox::skill::manifest::Manifest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A review that cannot complete.
#[derive(Debug, Error)]
pub enum ReviewError {
    /// Undecided requests and no way to ask.
    #[error(
        "the skill requests capabilities you have not decided on:\n{0}\nrun again with --yes to grant everything requested, or --grant ID / --deny ID for each"
    )]
    Undecided(String),
    /// `--grant`/`--deny` named something not requested.
    #[error("`{0}` is not among the capabilities this skill requests (see the IDs listed above)")]
    UnknownId(CapabilityId),
    /// A directory is needed.
    #[error(
        "the skill requests a directory at {guest} and suggests none; choose one with --dir {guest}=PATH"
    )]
    NoDirectory {
        /// The guest path.
        guest: String,
    },
    /// The chosen directory is unusable.
    #[error("directory for {guest}: {detail}")]
    BadDirectory {
        /// The guest path.
        guest: String,
        /// What is wrong.
        detail: String,
    },
}

/// One requested capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Stable ID for flags: `fs:/workspace`, `net:https://api.github.com`, `secret:NAME`.
    pub id: CapabilityId,
    /// Plain words.
    pub words: String,
}

/// The user's choices.
#[derive(Debug, Default, Clone)]
pub struct ReviewOptions {
    /// Grant everything requested.
    pub yes: bool,
    /// IDs to grant.
    pub grant: Vec<CapabilityId>,
    /// IDs to deny.
    pub deny: Vec<CapabilityId>,
    /// Host directories for fs requests, by guest path.
    pub dirs: HashMap<String, PathBuf>,
    /// Treat requests nobody decided on as denied (instead of an error).
    pub undecided_denied: bool,
}

/// Asks the user about one request.
pub trait Prompt {
    /// Whether to grant `request`.
    fn ask(&mut self, request: &Request) -> bool;
}

/// How a request ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Granted before, kept.
    Kept,
    /// Newly granted.
    Granted,
    /// Denied.
    Denied,
}

/// One line of the review, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewLine {
    /// The request.
    pub request: Request,
    /// What happened.
    pub outcome: Outcome,
}

fn shown(p: &Path) -> String {
    match dirs::home_dir().and_then(|h| p.strip_prefix(h).ok().map(Path::to_path_buf)) {
        Some(rel) => format!("~/{}", rel.display()),
        None => p.display().to_string(),
    }
}

fn host_of(url: &str) -> String {
    url.strip_prefix("https://").unwrap_or(url).to_string()
}

/// Every capability the manifest requests, in plain words (`dirs` resolves
/// the host directory an fs request would get).
pub fn requests(m: &Manifest, dirs: &HashMap<String, PathBuf>) -> Vec<Request> {
    let mut out = Vec::new();
    for fs in &m.capabilities.fs {
        let dir = dirs
            .get(&fs.guest)
            .cloned()
            .or_else(|| fs.host.as_deref().and_then(crate::dirs::expand));
        let place = dir.map_or_else(
            || format!("a directory you choose (seen as {})", fs.guest),
            |d| shown(&d),
        );
        let words = if fs.access == Access::ReadWrite {
            // The quota that applies unless more is granted under `limits`.
            let (asked, d) = (m.requested_limits(), Limits::default());
            format!(
                "read and write files in {place} (disk quota: {} MiB written, {} files created per call)",
                asked.disk_mib.min(d.disk_mib),
                asked.disk_files.min(d.disk_files)
            )
        } else {
            format!("read files in {place}")
        };
        out.push(Request {
            id: CapabilityId::Fs(fs.guest.clone()),
            words,
        });
    }
    for net in &m.capabilities.net {
        out.push(Request {
            id: CapabilityId::Net(net.url.to_string()),
            words: format!("connect to {}", host_of(&net.url.to_string())),
        });
    }
    if let Some(words) = limits_words(m) {
        out.push(Request {
            id: CapabilityId::Limits,
            words,
        });
    }
    for s in &m.capabilities.secrets {
        out.push(Request {
            id: CapabilityId::Secret(s.name.clone()),
            words: format!(
                "use your {} secret, sent only to {}",
                s.name,
                host_of(&s.host)
            ),
        });
    }
    out
}

/// Whether request `id` of manifest `m` is covered by the previous grants.
/// A secret is kept only if its whole rule (host, header, prefix) is
/// unchanged: an upgrade must not redirect a secret without asking.
/// Plain words for the limits a manifest asks above the defaults, if any.
fn limits_words(m: &Manifest) -> Option<String> {
    let (req, d) = (m.limits?, Limits::default());
    let more: Vec<String> = chitin_sandbox::capabilities::limits::FIELDS
        .iter()
        .filter(|f| f.get(&req) > f.get(&d))
        .map(|f| {
            let (v, dv, unit) = (f.get(&req), f.get(&d), f.unit);
            format!("{} {v}{unit} (default {dv}{unit})", f.words)
        })
        .collect();
    (!more.is_empty()).then(|| format!("use more resources per call: {}", more.join(", ")))
}

fn previously_granted(id: &CapabilityId, m: &Manifest, prev: &Grants) -> bool {
    match id {
        CapabilityId::Fs(_) | CapabilityId::Net(_) => prev.holds(id),
        CapabilityId::Secret(name) => {
            let rule = m.capabilities.secrets.iter().find(|s| &s.name == name);
            rule.is_some_and(|rule| prev.secrets.iter().any(|s| s == rule))
        }
        CapabilityId::Limits => m.limits.is_some_and(|l| prev.limits == l),
    }
}

/// Decide the grants for `m`. `previous` are the grants of the installed
/// version (on upgrade); `prompt` asks interactively when given.
pub fn decide(
    m: &Manifest,
    previous: Option<&Grants>,
    opts: &ReviewOptions,
    mut prompt: Option<&mut dyn Prompt>,
) -> Result<(Grants, Vec<ReviewLine>), ReviewError> {
    let reqs = requests(m, &opts.dirs);
    for id in opts.grant.iter().chain(&opts.deny) {
        if !reqs.iter().any(|r| &r.id == id) {
            return Err(ReviewError::UnknownId(id.clone()));
        }
    }
    let mut lines = Vec::new();
    let mut undecided = Vec::new();
    for r in &reqs {
        let outcome = if opts.deny.contains(&r.id) {
            Outcome::Denied
        } else if previous.is_some_and(|p| previously_granted(&r.id, m, p)) {
            Outcome::Kept
        } else if opts.yes || opts.grant.contains(&r.id) {
            Outcome::Granted
        } else if let Some(p) = prompt.as_deref_mut() {
            if p.ask(r) {
                Outcome::Granted
            } else {
                Outcome::Denied
            }
        } else if opts.undecided_denied {
            Outcome::Denied
        } else {
            undecided.push(format!("  {:<40} {}", r.id, r.words));
            continue;
        };
        lines.push(ReviewLine {
            request: r.clone(),
            outcome,
        });
    }
    if !undecided.is_empty() {
        return Err(ReviewError::Undecided(undecided.join("\n")));
    }
    let granted = |id: CapabilityId| {
        lines
            .iter()
            .any(|l| l.request.id == id && l.outcome != Outcome::Denied)
    };
    // Limits above the defaults only with approval; lower ones always apply.
    let requested = m.requested_limits();
    let limits = if limits_words(m).is_none() || granted(CapabilityId::Limits) {
        requested
    } else {
        Default::default()
    };
    let mut grants = Grants {
        limits,
        ..Grants::default()
    };
    for fs in &m.capabilities.fs {
        if !granted(CapabilityId::Fs(fs.guest.clone())) {
            continue;
        }
        let kept = previous
            .and_then(|p| p.fs.iter().find(|g| g.guest == fs.guest))
            .filter(|_| !opts.dirs.contains_key(&fs.guest));
        let grant = match kept {
            Some(g) => FsGrant {
                access: fs.access.min_with(g.access),
                // Grants recorded before identities were: record it now.
                identity: g.identity.or_else(|| {
                    FsGrant::new(&g.host, &g.guest, g.access)
                        .ok()
                        .and_then(|n| n.identity)
                }),
                ..g.clone()
            },
            None => {
                let dir = opts
                    .dirs
                    .get(&fs.guest)
                    .cloned()
                    .or_else(|| fs.host.as_deref().and_then(crate::dirs::expand))
                    .ok_or_else(|| ReviewError::NoDirectory {
                        guest: fs.guest.clone(),
                    })?;
                FsGrant::new(&dir, &fs.guest, fs.access).map_err(|e| ReviewError::BadDirectory {
                    guest: fs.guest.clone(),
                    detail: e.to_string(),
                })?
            }
        };
        grants.fs.push(grant);
    }
    for net in &m.capabilities.net {
        if granted(CapabilityId::Net(net.url.to_string())) {
            grants.net.push(net.url.clone());
        }
    }
    for s in &m.capabilities.secrets {
        if granted(CapabilityId::Secret(s.name.clone())) {
            grants.secrets.push(s.clone());
        }
    }
    Ok((grants, lines))
}
