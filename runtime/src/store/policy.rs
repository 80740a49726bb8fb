//! The user's approval policies per tool (`allow`, `ask`, `deny`), set with
//! `chitin tools policy` or the daemon's API — never by the agent.

use super::{Store, StoreError};
use crate::agent::approvals::Policy;
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;

impl Store {
    /// Set (or with `None`, reset to the default) a tool's policy.
    pub fn set_policy(&self, tool: &str, policy: Option<Policy>) -> Result<(), StoreError> {
        let conn = self.conn();
        let r = match policy {
            Some(p) => conn.execute(
                "INSERT INTO tool_policies (tool, policy) VALUES (?1, ?2) ON CONFLICT(tool) DO UPDATE SET policy = excluded.policy",
                params![tool, p.as_str()],
            ),
            None => conn.execute("DELETE FROM tool_policies WHERE tool = ?1", [tool]),
        };
        r.map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The policy the user set for `tool`, if any.
    pub fn policy(&self, tool: &str) -> Result<Option<Policy>, StoreError> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT policy FROM tool_policies WHERE tool = ?1",
                [tool],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(text.as_deref().and_then(Policy::parse))
    }

    /// Every policy the user set.
    pub fn policies(&self) -> Result<HashMap<String, Policy>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT tool, policy FROM tool_policies")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(t, p)| Policy::parse(&p).map(|p| (t, p)))
            .collect())
    }
}
