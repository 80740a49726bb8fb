//! Turning command-line flags (and, when the user accepts them, the
//! manifest's requests) into `Grants`. Nothing is granted that the user did
//! not pass or explicitly accept.

use anyhow::{Context, anyhow, bail};
use chitin::capabilities::Grants;
use chitin::capabilities::fs::{Access, FsGrant};
use chitin::capabilities::limits::Limits;
use chitin::capabilities::net::rules::NetRule;
use chitin::skill::manifest::Manifest;
use clap::Args;
use std::path::{Path, PathBuf};

/// Capability flags shared by commands that run skills.
#[derive(Debug, Args, Default)]
pub struct GrantFlags {
    /// Grant a directory: DIR[:GUEST][:ro|rw]. GUEST defaults to the mount
    /// the skill requests; access defaults to what it requests, else ro.
    #[arg(long = "allow-dir", value_name = "DIR[:GUEST][:ro|rw]")]
    pub allow_dir: Vec<String>,

    /// Grant outbound HTTP to scheme://host[:port] (`*.` wildcard allowed;
    /// loopback/private addresses need the exact host).
    #[arg(long = "allow-host", value_name = "URL")]
    pub allow_host: Vec<String>,

    /// Grant a secret the skill requests (injected by the host, never shown to the skill).
    #[arg(long = "allow-secret", value_name = "NAME")]
    pub allow_secret: Vec<String>,

    /// Grant everything the skill's manifest requests (directories use the
    /// manifest's suggested host path, $WORKSPACE being the current directory).
    #[arg(short = 'y', long = "grant-requested", alias = "yes")]
    pub grant_requested: bool,

    /// Override a limit: memory_mib, cpu_ms, timeout_ms, output_kib, log_kib,
    /// http_requests, http_response_kib, disk_mib, disk_files.
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    pub limit: Vec<String>,
}

impl GrantFlags {
    /// Whether any grant flag was given.
    pub fn any(&self) -> bool {
        !self.allow_dir.is_empty()
            || !self.allow_host.is_empty()
            || !self.allow_secret.is_empty()
            || self.grant_requested
            || !self.limit.is_empty()
    }
}

fn expand(path: &str) -> anyhow::Result<PathBuf> {
    chitin::dirs::expand(path).with_context(|| {
        format!(
            "`{}`: no home or current directory to expand it against",
            chitin::text::clean(path)
        )
    })
}

/// Split `DIR[:GUEST][:ro|rw]`.
fn split_dir_flag(flag: &str) -> (String, Option<String>, Option<Access>) {
    let mut rest = flag.to_string();
    let mut access = None;
    if let Some((head, tail)) = rest.rsplit_once(':')
        && let Some(a) = Access::parse(tail)
    {
        access = Some(a);
        rest = head.to_string();
    }
    let mut guest = None;
    if let Some((head, tail)) = rest.rsplit_once(':')
        && tail.starts_with('/')
    {
        guest = Some(tail.to_string());
        rest = head.to_string();
    }
    (rest, guest, access)
}

fn set_limit(limits: &mut Limits, kv: &str) -> anyhow::Result<()> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| anyhow!("--limit `{kv}`: expected KEY=VALUE"))?;
    let v: u32 = v
        .trim()
        .parse()
        .with_context(|| format!("--limit `{kv}`: value must be a positive integer"))?;
    let Some(field) = Limits::field(k.trim()) else {
        bail!(
            "--limit: unknown limit `{}` ({})",
            chitin::text::clean(k.trim()),
            Limits::keys()
        );
    };
    field.set(limits, v);
    if let Some((field, value, max)) = limits.out_of_range() {
        bail!("--limit {field}={value} is out of range (1..={max})");
    }
    Ok(())
}

/// Build grants from flags and (optionally accepted) manifest requests.
pub fn build(flags: &GrantFlags, manifest: Option<&Manifest>) -> anyhow::Result<Grants> {
    let mut grants = Grants::default();
    let requests = manifest.map(|m| &m.capabilities);
    let fs_requests = requests.map(|r| r.fs.as_slice()).unwrap_or_default();

    for flag in &flags.allow_dir {
        let (dir, guest, access) = split_dir_flag(flag);
        let guest = match (guest, fs_requests) {
            (Some(g), _) => g,
            (None, [only]) => only.guest.clone(),
            (None, []) => "/workspace".to_string(),
            (None, many) => bail!(
                "--allow-dir {flag}: the skill requests several directories ({}); add the guest path, e.g. {dir}:{}",
                many.iter()
                    .map(|r| r.guest.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                many[0].guest
            ),
        };
        let requested = fs_requests
            .iter()
            .find(|r| r.guest == guest)
            .map(|r| r.access);
        let access = access.or(requested).unwrap_or(Access::ReadOnly);
        let host = expand(&dir)?;
        grants.fs.push(
            FsGrant::new(&host, &guest, access).with_context(|| format!("--allow-dir {flag}"))?,
        );
    }
    for url in &flags.allow_host {
        grants.net.push(NetRule::parse(url)?);
    }
    for name in &flags.allow_secret {
        let rule = requests
            .and_then(|r| r.secrets.iter().find(|s| &s.name == name))
            .ok_or_else(|| anyhow!("--allow-secret {name}: the skill's manifest does not request a secret named {name}"))?;
        grants.secrets.push(rule.clone());
    }
    for kv in &flags.limit {
        set_limit(&mut grants.limits, kv)?;
    }

    if flags.grant_requested {
        let m = manifest.ok_or_else(|| {
            anyhow!(
                "--grant-requested: this skill has no manifest (skill.toml), so it requests nothing"
            )
        })?;
        for r in &m.capabilities.fs {
            if grants.fs.iter().any(|g| g.guest == r.guest) {
                continue;
            }
            let host = r.host.as_deref().ok_or_else(|| {
                anyhow!("the skill requests a directory at {} without a suggested host path; pass --allow-dir <DIR>:{}", r.guest, r.guest)
            })?;
            let path = expand(host)?;
            grants.fs.push(
                FsGrant::new(&path, &r.guest, r.access)
                    .with_context(|| format!("granting {} for {}", host, r.guest))?,
            );
        }
        for r in &m.capabilities.net {
            if !grants.net.contains(&r.url) {
                grants.net.push(r.url.clone());
            }
        }
        for r in &m.capabilities.secrets {
            if !grants.secrets.iter().any(|s| s.name == r.name) {
                grants.secrets.push(r.clone());
            }
        }
        if flags.limit.is_empty() {
            grants.limits = m.requested_limits();
        }
    }
    Ok(grants)
}

/// A one-line description of each grant, for the user (cleaned: paths and
/// names may come from a package).
pub fn describe(grants: &Grants) -> Vec<String> {
    let mut out = Vec::new();
    for g in &grants.fs {
        out.push(format!(
            "{} files in {} (seen by the skill as {})",
            g.access,
            g.host.display(),
            g.guest
        ));
    }
    for n in &grants.net {
        out.push(format!("connect to {n}"));
    }
    for s in &grants.secrets {
        out.push(format!(
            "use your {} secret, sent only to {} in header `{}`",
            s.name, s.host, s.header
        ));
    }
    if grants.fs.iter().any(|g| g.access == Access::ReadWrite) {
        out.push(format!(
            "write at most {} MiB and create at most {} files per call (disk quota)",
            grants.limits.disk_mib, grants.limits.disk_files
        ));
    }
    out.into_iter()
        .map(|l| chitin::text::clean(&l).into_owned())
        .collect()
}

/// The component path, for messages.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_flag_forms() {
        assert_eq!(split_dir_flag("/a"), ("/a".into(), None, None));
        assert_eq!(
            split_dir_flag("/a:ro"),
            ("/a".into(), None, Some(Access::ReadOnly))
        );
        assert_eq!(
            split_dir_flag("/a:/w"),
            ("/a".into(), Some("/w".into()), None)
        );
        assert_eq!(
            split_dir_flag("/a:/w:rw"),
            ("/a".into(), Some("/w".into()), Some(Access::ReadWrite))
        );
        assert_eq!(
            split_dir_flag("./notes:rw"),
            ("./notes".into(), None, Some(Access::ReadWrite))
        );
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let m = Manifest::parse(
            "[skill]\nname='x'\nversion='1.0.0'\ndescription='d'\npublisher='p'\ncontract='0.1.0'\n\
             [[capabilities.net]]\nurl='https://a.com'\n[[capabilities.fs]]\nguest='/w'\naccess='rw'\nhost='$WORKSPACE'\n",
            Path::new("skill.toml"),
        )
        .unwrap();
        let g = build(&GrantFlags::default(), Some(&m)).unwrap();
        assert_eq!(g, Grants::default());
        let g = build(
            &GrantFlags {
                grant_requested: true,
                ..Default::default()
            },
            Some(&m),
        )
        .unwrap();
        assert_eq!(g.net.len(), 1);
        assert_eq!(g.fs[0].access, Access::ReadWrite);
    }

    #[test]
    fn limits_are_checked() {
        let mut l = Limits::default();
        assert!(set_limit(&mut l, "cpu_ms=100").is_ok());
        assert_eq!(l.cpu_ms, 100);
        assert!(set_limit(&mut l, "cpu_ms=0").is_err());
        assert!(set_limit(&mut l, "fuel=1").is_err());
        assert!(set_limit(&mut l, "cpu_ms").is_err());
    }
}
