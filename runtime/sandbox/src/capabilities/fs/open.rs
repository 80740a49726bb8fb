//! Opening a granted directory exactly as it was granted: by its canonical
//! path, following no symlink at any component, and (when the grant
//! recorded one) checking that it is still the same directory (device and
//! inode). A skill that replaces a granted directory, or any directory on
//! the way to it, by a symlink or by another directory gets a refusal, not
//! the place the swap points to.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::path::{Component, Path};

/// Which directory a grant names, as the file system knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirIdentity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

impl DirIdentity {
    /// The identity of an open directory.
    pub fn of(file: &File) -> io::Result<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = file.metadata()?;
            Ok(DirIdentity {
                dev: m.dev(),
                ino: m.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = file;
            Ok(DirIdentity { dev: 0, ino: 0 })
        }
    }
}

/// Why a granted directory cannot be opened as granted.
#[derive(Debug)]
pub enum OpenRefusal {
    /// The path does not exist (any more).
    Missing,
    /// A component is a symlink, or the path is not a directory.
    NotPlain(String),
    /// Some other I/O error.
    Io(io::Error),
}

/// Open the directory at the absolute, canonical `path` without following
/// any symlink on the way (Linux: one `openat2` with
/// `RESOLVE_NO_SYMLINKS`; elsewhere, or where `openat2` is not allowed, one
/// `openat(O_NOFOLLOW)` per component).
pub fn open_dir_nofollow(path: &Path) -> Result<File, OpenRefusal> {
    if !path.is_absolute() {
        return Err(OpenRefusal::NotPlain(format!(
            "{} is not an absolute path",
            path.display()
        )));
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        match openat2(CWD, path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS) {
            Ok(fd) => return Ok(File::from(fd)),
            // openat2 missing (old kernel) or filtered (seccomp): walk instead.
            Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM => {}
            Err(e) => return Err(refusal(path, e.into())),
        }
    }
    walk(path)
}

fn refusal(path: &Path, e: io::Error) -> OpenRefusal {
    #[cfg(unix)]
    let symlinkish = matches!(
        rustix::io::Errno::from_io_error(&e),
        Some(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::XDEV)
    );
    #[cfg(not(unix))]
    let symlinkish = false;
    if e.kind() == io::ErrorKind::NotFound {
        OpenRefusal::Missing
    } else if symlinkish {
        OpenRefusal::NotPlain(format!(
            "{} is no longer a plain directory: it or a directory on its path is now a symlink or a file",
            path.display()
        ))
    } else {
        OpenRefusal::Io(e)
    }
}

#[cfg(unix)]
fn walk(path: &Path) -> Result<File, OpenRefusal> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let last = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    // Directories on the way need only search permission (e.g. a 0711 home).
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let on_the_way = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let on_the_way = last;
    let parts: Vec<_> = path.components().collect();
    let mut dir =
        openat(CWD, "/", on_the_way, Mode::empty()).map_err(|e| refusal(path, e.into()))?;
    if parts.len() == 1 {
        dir = openat(CWD, "/", last, Mode::empty()).map_err(|e| refusal(path, e.into()))?;
    }
    for (i, part) in parts.iter().enumerate() {
        let flags = if i + 1 == parts.len() {
            last
        } else {
            on_the_way
        };
        match part {
            Component::RootDir => {}
            Component::Normal(name) => {
                dir = openat(&dir, *name, flags, Mode::empty())
                    .map_err(|e| refusal(path, e.into()))?;
            }
            _ => {
                return Err(OpenRefusal::NotPlain(format!(
                    "{} is not a canonical path",
                    path.display()
                )));
            }
        }
    }
    Ok(File::from(dir))
}

#[cfg(not(unix))]
fn walk(path: &Path) -> Result<File, OpenRefusal> {
    // No O_NOFOLLOW: refuse a symlink at the last component at least.
    let meta = std::fs::symlink_metadata(path).map_err(|e| refusal(path, e))?;
    if !meta.is_dir() {
        return Err(OpenRefusal::NotPlain(format!(
            "{} is not a plain directory",
            path.display()
        )));
    }
    File::open(path).map_err(|e| refusal(path, e))
}

/// Read a file of a skill project (its `skill.toml` or component) that a
/// skill may have been able to write: a symlink at the last component is
/// refused (it could point at any file of the user's, which an error
/// message would then quote), so are FIFOs and devices (they would block)
/// and files over `max` bytes.
pub fn read_plain_file(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let refuse = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} {why}; refusing to read it", path.display()),
        )
    };
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(refuse("is a symlink"));
    }
    #[cfg(unix)]
    let file = {
        use rustix::fs::{CWD, Mode, OFlags, openat};
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
        File::from(openat(CWD, path, flags, Mode::empty()).map_err(|e| {
            if e == rustix::io::Errno::LOOP {
                refuse("is a symlink")
            } else {
                io::Error::from(e)
            }
        })?)
    };
    #[cfg(not(unix))]
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse("is not a regular file"));
    }
    if meta.len() > max {
        return Err(refuse(&format!("is larger than {max} bytes")));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    io::Read::read_to_end(&mut io::Read::take(file, max + 1), &mut out)?;
    if out.len() as u64 > max {
        return Err(refuse(&format!("is larger than {max} bytes")));
    }
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn symlinks_anywhere_on_the_path_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere/b")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b"), root.join("leaf")).unwrap();
        let ok = open_dir_nofollow(&root.join("a/b")).unwrap();
        let again = open_dir_nofollow(&root.join("a/b")).unwrap();
        assert_eq!(
            DirIdentity::of(&ok).unwrap(),
            DirIdentity::of(&again).unwrap()
        );
        for bad in ["link/b", "leaf"] {
            assert!(
                matches!(
                    open_dir_nofollow(&root.join(bad)),
                    Err(OpenRefusal::NotPlain(_))
                ),
                "{bad}"
            );
            assert!(
                matches!(walk(&root.join(bad)), Err(OpenRefusal::NotPlain(_))),
                "walk {bad}"
            );
        }
        assert!(matches!(
            open_dir_nofollow(&root.join("gone")),
            Err(OpenRefusal::Missing)
        ));
        assert!(walk(&root.join("a/b")).is_ok());
    }

    #[test]
    fn project_files_are_read_only_when_plain() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("skill.toml");
        std::fs::write(&f, "x = 1").unwrap();
        assert_eq!(read_plain_file(&f, 100).unwrap(), b"x = 1");
        assert!(read_plain_file(&f, 2).is_err());
        let link = tmp.path().join("link.toml");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let e = read_plain_file(&link, 100).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(read_plain_file(tmp.path(), 100).is_err());
    }
}
