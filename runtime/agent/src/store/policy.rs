//! The user's approval policies per tool (`allow`, `ask`, `deny`), set with
//! `chitin tools policy` or the daemon's API — never by the agent. A policy
//! holds for the package it was set for: an upgrade or a different package
//! installed under the same name starts again from the default.

use super::{Store, StoreError};
use crate::policy::Policy;
use rusqlite::{OptionalExtension, params};

impl Store {
    /// Set (or with `None`, reset to the default) a tool's policy for the
    /// package with digest `package`.
    pub fn set_policy(
        &self,
        tool: &str,
        package: &str,
        policy: Option<Policy>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let r = match policy {
            Some(p) => conn.execute(
                "INSERT INTO tool_policies (tool, package, policy) VALUES (?1, ?2, ?3) ON CONFLICT(tool) DO UPDATE SET policy = excluded.policy, package = excluded.package",
                params![tool, package, p.as_str()],
            ),
            None => conn.execute("DELETE FROM tool_policies WHERE tool = ?1", [tool]),
        };
        r.map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The policy the user set for `tool` of the package `package`, if any.
    pub fn policy(&self, tool: &str, package: &str) -> Result<Option<Policy>, StoreError> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT policy FROM tool_policies WHERE tool = ?1 AND package = ?2",
                params![tool, package],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(text.as_deref().and_then(Policy::parse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_holds_only_for_its_package() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .set_policy("files__write", "d1", Some(Policy::Allow))
            .unwrap();
        assert_eq!(
            store.policy("files__write", "d1").unwrap(),
            Some(Policy::Allow)
        );
        assert_eq!(
            store.policy("files__write", "d2").unwrap(),
            None,
            "an upgrade starts from the default"
        );
        store
            .set_policy("files__write", "d2", Some(Policy::Deny))
            .unwrap();
        assert_eq!(store.policy("files__write", "d1").unwrap(), None);
        store.set_policy("files__write", "d2", None).unwrap();
        assert_eq!(store.policy("files__write", "d2").unwrap(), None);
    }
}
