//! Reading a `.zip` of one skill (its folder, or that folder's contents at
//! the root). Hostile input: names must be UTF-8 and safe, symlinks and
//! special files are refused, duplicate names are refused, and every entry
//! is capped by its declared size (checked against the limits before it is
//! inflated), by the bytes it really inflates to, and by its compression
//! ratio. Nothing is written anywhere: the files are kept in memory.

use super::error::AgentSkillError;
use super::tree::{MAX_FILE_BYTES, MAX_FILES, Tree, check_path, shown};
use std::collections::BTreeMap;
use std::io::Read;

/// Highest compression ratio accepted for an entry above [`RATIO_FLOOR`].
pub const MAX_RATIO: u64 = 100;
/// Entries smaller than this are not ratio-checked (small text compresses
/// well, and the size caps bound them anyway).
const RATIO_FLOOR: u64 = 256 * 1024;
/// Most entries (files and folders) looked at.
const MAX_ENTRIES: usize = 4 * MAX_FILES;
/// What macOS adds to zips it makes; not part of the skill.
const MACOS_JUNK: &str = "__MACOSX/";

/// The skill folder's name (when the zip holds a folder) and its files.
pub type Contents = (Option<String>, BTreeMap<String, Vec<u8>>);

/// Read a zip of one skill: its folder's name, if any, and its files.
pub fn read(bytes: &[u8]) -> Result<Contents, AgentSkillError> {
    let zip_err = |e: zip::result::ZipError| AgentSkillError::Zip(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
    if archive.len() > MAX_ENTRIES {
        return Err(AgentSkillError::TooManyFiles { max: MAX_FILES });
    }
    if archive.has_duplicate_names() {
        return Err(AgentSkillError::Duplicate(
            "an entry name (the zip's directory lists one name twice)".into(),
        ));
    }
    let mut tree = Tree::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err)?;
        let name = std::str::from_utf8(entry.name_raw())
            .map_err(|_| AgentSkillError::UnsafePath {
                path: shown(&String::from_utf8_lossy(entry.name_raw())),
                why: "the name is not UTF-8".into(),
            })?
            .to_string();
        if name.starts_with(MACOS_JUNK) {
            continue;
        }
        if entry.is_symlink() {
            return Err(AgentSkillError::Symlink(shown(&name)));
        }
        if entry.is_dir() {
            check_path(name.trim_end_matches('/'))?;
            continue;
        }
        // Unix file types other than regular (devices, FIFOs, sockets).
        if let Some(mode) = entry.unix_mode() {
            let kind = mode & 0o170000;
            if kind != 0 && kind != 0o100000 {
                return Err(AgentSkillError::NotRegular(shown(&name)));
            }
        }
        let declared = entry.size();
        tree.admit(&name, declared)?;
        let ratio = declared / entry.compressed_size().max(1);
        if declared > RATIO_FLOOR && ratio > MAX_RATIO {
            return Err(AgentSkillError::ZipBomb {
                path: shown(&name),
                ratio,
                max: MAX_RATIO,
            });
        }
        let mut out = Vec::with_capacity(declared.min(MAX_FILE_BYTES) as usize);
        (&mut entry)
            .take(declared + 1)
            .read_to_end(&mut out)
            .map_err(|e| AgentSkillError::Zip(format!("`{}`: {e}", shown(&name))))?;
        if out.len() as u64 > declared {
            return Err(AgentSkillError::SizeMismatch {
                path: shown(&name),
                declared,
            });
        }
        tree.add(&name, out)?;
    }
    rebase(tree.into_files())
}

/// The files relative to the skill folder: either `SKILL.md` is at the
/// root, or everything is inside one folder that holds `SKILL.md`.
fn rebase(files: BTreeMap<String, Vec<u8>>) -> Result<Contents, AgentSkillError> {
    if files.contains_key("SKILL.md") {
        return Ok((None, files));
    }
    let tops: std::collections::BTreeSet<&str> = files
        .keys()
        .map(|k| k.split('/').next().unwrap_or_default())
        .collect();
    let top = match tops.len() {
        0 => return Err(AgentSkillError::NoSkillMd("the zip".into())),
        1 => tops.iter().next().copied().unwrap_or_default().to_string(),
        n => {
            return Err(AgentSkillError::ZipLayout(format!(
                "{n} top-level entries and no SKILL.md at its root"
            )));
        }
    };
    let prefix = format!("{top}/");
    if !files.contains_key(&format!("{prefix}SKILL.md")) {
        return Err(AgentSkillError::NoSkillMd(format!(
            "`{}` in the zip",
            shown(&top)
        )));
    }
    let rebased = files
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v)))
        .collect();
    Ok((Some(top), rebased))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_folder_or_its_contents() {
        let (top, files) =
            read(&zip_of(&[("s/SKILL.md", b"x"), ("s/scripts/a.py", b"1")])).unwrap();
        assert_eq!(top.as_deref(), Some("s"));
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["SKILL.md", "scripts/a.py"]
        );
        let (top, files) = read(&zip_of(&[("SKILL.md", b"x")])).unwrap();
        assert_eq!((top, files.len()), (None, 1));
        let e = read(&zip_of(&[("a/SKILL.md", b"x"), ("b/x", b"1")])).unwrap_err();
        assert!(matches!(e, AgentSkillError::ZipLayout(_)), "{e}");
        assert!(read(b"not a zip").is_err());
    }

    #[test]
    fn traversal_bombs_and_duplicates_are_refused() {
        let e = read(&zip_of(&[("s/SKILL.md", b"x"), ("s/../../evil", b"1")])).unwrap_err();
        assert!(e.to_string().contains("s/../../evil"), "{e}");
        let zeros = vec![0u8; 3 * 1024 * 1024];
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflate =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("s/SKILL.md", deflate).unwrap();
        w.write_all(&zeros).unwrap();
        let bomb = w.finish().unwrap().into_inner();
        let e = read(&bomb).unwrap_err();
        assert!(matches!(e, AgentSkillError::ZipBomb { .. }), "{e}");

        // Two names made equal after writing: names are outside the CRC.
        let mut dup = zip_of(&[("s/SKILL.md", b"x"), ("s/b.txt", b"1"), ("s/a.txt", b"2")]);
        let (from, to) = (b"s/b.txt", b"s/a.txt");
        let mut i = 0;
        while i + from.len() <= dup.len() {
            if &dup[i..i + from.len()] == from {
                dup[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
        let e = read(&dup).unwrap_err();
        assert!(matches!(e, AgentSkillError::Duplicate(_)), "{e}");
    }
}
