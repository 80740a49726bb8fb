//! The `chitin:files` section: every file of an Agent Skill in one
//! deterministic archive, so the package signature covers them all.
//!
//! Layout (integers little-endian): the 8-byte magic `CHFILES` + version
//! byte `1`, a `u32` file count, then per file in strictly increasing path
//! order a `u32` path length, the UTF-8 path, a `u64` length and the bytes.
//! Nothing may follow. Decoding applies the same path and size limits as
//! reading a folder, so a signed but hostile archive is refused the same way.

use super::error::AgentSkillError;
use super::tree::{MAX_FILES, Tree};
use std::collections::BTreeMap;

/// Magic and format version.
const MAGIC: &[u8; 8] = b"CHFILES\x01";

/// Encode `files` (a `BTreeMap`, so already sorted).
pub fn encode(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let size: usize = files.iter().map(|(p, b)| 12 + p.len() + b.len()).sum();
    let mut out = Vec::with_capacity(12 + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(files.len() as u32).to_le_bytes());
    for (path, bytes) in files {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn bad(why: impl Into<String>) -> AgentSkillError {
    AgentSkillError::Archive(why.into())
}

/// A cursor over the archive bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], AgentSkillError> {
        let n = usize::try_from(n).map_err(|_| bad(format!("truncated at {what}")))?;
        if self.0.len() < n {
            return Err(bad(format!("truncated at {what}")));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, AgentSkillError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, AgentSkillError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Decode an archive, refusing anything malformed or over the limits.
pub fn decode(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, AgentSkillError> {
    let mut r = Reader(bytes);
    if r.take(8, "the header")? != MAGIC {
        return Err(bad(
            "unknown format or version (repack the skill with this Chitin)",
        ));
    }
    let count = r.u32("the file count")? as usize;
    if count > MAX_FILES {
        return Err(AgentSkillError::TooManyFiles { max: MAX_FILES });
    }
    let mut tree = Tree::new();
    let mut last: Option<String> = None;
    for i in 0..count {
        let len = r.u32(&format!("file {i}'s path length"))?;
        let path = std::str::from_utf8(r.take(u64::from(len), &format!("file {i}'s path"))?)
            .map_err(|_| bad(format!("file {i}'s path is not UTF-8")))?
            .to_string();
        let size = r.u64(&format!("file {i}'s length"))?;
        tree.admit(&path, size)?;
        if last.as_ref().is_some_and(|l| *l >= path) {
            return Err(bad("the paths are not in strictly increasing order"));
        }
        let data = r.take(size, &format!("file {i}'s bytes"))?.to_vec();
        tree.add(&path, data)?;
        last = Some(path);
    }
    if !r.0.is_empty() {
        return Err(bad(format!("{} bytes follow the last file", r.0.len())));
    }
    Ok(tree.into_files())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("SKILL.md".to_string(), b"---\n".to_vec()),
            ("scripts/a.py".to_string(), b"print(1)\n".to_vec()),
            ("assets/empty".to_string(), Vec::new()),
        ])
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let a = encode(&sample());
        assert_eq!(a, encode(&sample()));
        assert_eq!(decode(&a).unwrap(), sample());
        assert!(a.starts_with(MAGIC));
    }

    #[test]
    fn malformed_archives_are_refused() {
        let good = encode(&sample());
        for cut in [0, 7, 12, good.len() - 1] {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(
            decode(&trailing)
                .unwrap_err()
                .to_string()
                .contains("follow")
        );
        let mut version = good.clone();
        version[7] = 2;
        assert!(
            decode(&version)
                .unwrap_err()
                .to_string()
                .contains("version")
        );
        let evil = BTreeMap::from([("../x".to_string(), vec![1])]);
        assert!(matches!(
            decode(&encode(&evil)),
            Err(AgentSkillError::UnsafePath { .. })
        ));
        // Out of order: swap the two entries' order by hand-building.
        let mut swapped = MAGIC.to_vec();
        swapped.extend_from_slice(&2u32.to_le_bytes());
        for p in ["b", "a"] {
            swapped.extend_from_slice(&1u32.to_le_bytes());
            swapped.extend_from_slice(p.as_bytes());
            swapped.extend_from_slice(&0u64.to_le_bytes());
        }
        assert!(decode(&swapped).unwrap_err().to_string().contains("order"));
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.push(b'a');
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode(&huge),
            Err(AgentSkillError::FileTooLarge { .. })
        ));
    }
}
