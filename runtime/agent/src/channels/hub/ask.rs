//! Approvals for turns nobody started from a chat (scheduled jobs): the
//! question goes to the job's delivery chat with the usual buttons, and is
//! answerable there by a paired sender only.

use super::worker::{question, send_retrying};
use super::{Answerer, Asked, Hub, HubError, lock};
use crate::channels::ChatRef;
use crate::daemon::turns::PendingApproval;

impl Hub {
    /// Ask in `target` to approve a call of a job's turn running in
    /// `session`: any paired sender pressing the button in that chat may
    /// answer (see `Answerer::InChat`); anyone else is refused.
    pub async fn ask_in_chat(
        &self,
        target: &ChatRef,
        session: &str,
        asked: &PendingApproval,
    ) -> Result<(), HubError> {
        let channel = self
            .channels
            .get(target.channel.as_str())
            .ok_or_else(|| HubError::NoChannel(target.channel.clone()))?;
        lock(&self.asked).insert(
            asked.approval_id.clone(),
            Asked {
                session: session.to_string(),
                channel: target.channel.clone(),
                who: Answerer::InChat(target.chat.clone()),
            },
        );
        let text = question(
            &asked.tool,
            &asked.input,
            &asked.effects,
            asked.timeout_secs,
        );
        send_retrying(
            channel.as_ref(),
            target,
            &text,
            Some(&asked.approval_id),
            &self.stop,
        )
        .await?;
        Ok(())
    }

    /// The approval was decided (or timed out): its buttons answer nothing.
    pub fn asked_done(&self, approval_id: &str) {
        lock(&self.asked).remove(approval_id);
    }
}
