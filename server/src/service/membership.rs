//! Membership: knocking and withdrawing, an admin's decisions, leaving, removal, bans,
//! roles, deleting a room, who is in a room, and telling the people concerned of each
//! change.

use knock_protocol::{
    Invite, InviteCode, InviteRef, MemberStatus, Role, RoomId, ServerMessage, Targets, UserId,
};

use super::{Service, SocketSession, now_ms};
use crate::{
    domain::{self, Decision, JoinOutcome, LeaveOutcome, Others, RuleError, invites},
    error::ServiceError,
    gateway::Outbound,
    storage::{InviteUse, Membership, MembershipChange, Precondition},
};

/// A rule of an admin's action on one user: from the actor's and the target's memberships,
/// the target's new one (`None`: it already is that).
pub(super) type MemberRule =
    fn(Option<Membership>, &UserId, Option<Membership>) -> Result<Option<Membership>, RuleError>;

/// One membership change as the service makes it: who, what, why, and what it was.
struct Change<'a> {
    room_id: &'a RoomId,
    user_id: &'a UserId,
    before: Option<Membership>,
    after: Membership,
    reason: Option<String>,
}

impl Service {
    /// A knock, by room id or by invite link (`invite_code`; the room is then the link's,
    /// see `Service::knock_room_of_link`). The user's standing decides first, as for every
    /// knock (a banned user is refused, a pending or approved one told their status, and
    /// no link is used); only a knock that makes a request needs a link that works, and
    /// counts a use of it in the transaction that stores the request.
    pub(super) async fn request_join(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
        reason: Option<String>,
        invite_code: Option<InviteCode>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let link = match &invite_code {
            Some(code) if invites::well_formed(code) => self.storage.invite(code).await?,
            _ => None,
        };
        // The link's room when a code is given: a code no link has is refused here.
        let link_room = match (&invite_code, &link) {
            (None, _) => None,
            (Some(_), Some(link)) => Some(link.invite.room_id.clone()),
            (Some(_), None) => return Err(RuleError::InviteNotFound.into()),
        };
        let room_id = invites::knock_room(room_id, link_room)?;
        session.current_room = Some(room_id.clone());
        let reason = domain::reason(reason)?;
        let room = self.access.existing_room(&room_id).await?;
        let current = self
            .storage
            .membership_since(&room_id, &session.user_id)
            .await?;
        match domain::join_request(current, now_ms(), self.limits.knock_cooldown_ms)? {
            JoinOutcome::Unchanged(status) => {
                Ok(vec![Outbound::message(&ServerMessage::JoinResponse {
                    room_id,
                    status,
                    reason: None,
                })])
            }
            JoinOutcome::Ask(pending) => {
                if invite_code.is_some() {
                    invites::usable(link.as_ref(), now_ms())?;
                }
                let invite_only = self.storage.invite_only(&room_id).await?.unwrap_or(false);
                invites::takes_knock(invite_only, invite_code.is_some())?;
                self.check_room_count(&session.user_id).await?;
                let waiting = self
                    .storage
                    .members(&room_id)
                    .await?
                    .iter()
                    .filter(|member| member.status == MemberStatus::Pending)
                    .count();
                domain::room_takes_a_request(waiting, self.limits.max_waiting_per_room)?;
                let change = Change {
                    room_id: &room_id,
                    user_id: &session.user_id,
                    before: current.map(|since| since.membership),
                    after: pending,
                    reason: reason.clone(),
                };
                let invite = if let Some(code) = &invite_code {
                    Some(self.store_request_by_link(change, code).await?)
                } else {
                    self.store_membership(change).await?;
                    None
                };
                tracing::info!(room = %room_id, by_link = invite.is_some(), "join requested");
                // The acting admins as this node's access knows them: kept current by every
                // stored change, here and (through `roomChanged`) on other nodes.
                let admins: Vec<UserId> = room.admins().cloned().collect();
                self.fanout.to_users(
                    &admins,
                    &ServerMessage::JoinRequest {
                        user_id: session.user_id.clone(),
                        room_id: room_id.clone(),
                        reason: reason.clone(),
                        invite: invite.map(|invite| InviteRef {
                            code: invite.code,
                            label: invite.label,
                        }),
                    },
                );
                self.fanout.to_user(
                    &session.user_id,
                    &ServerMessage::JoinResponse {
                        room_id: room_id.clone(),
                        status: pending.status,
                        reason: None,
                    },
                );
                let before = current.map(|since| since.membership);
                self.announce_change(&room_id, &session.user_id, before, pending, reason)
                    .await?;
                Ok(Vec::new())
            }
        }
    }

    /// [`Service::store_membership`] for a knock by link: the request is stored and the
    /// use counted in one transaction, only while the link works and the membership is
    /// what the rules saw. The link as it is now.
    async fn store_request_by_link(
        &self,
        change: Change<'_>,
        code: &InviteCode,
    ) -> Result<Invite, ServiceError> {
        let now = now_ms();
        let stored = self
            .storage
            .request_with_invite(
                &MembershipChange {
                    room_id: change.room_id.clone(),
                    user_id: change.user_id.clone(),
                    membership: change.after,
                    only_if: change.before.map_or(Precondition::Absent, Precondition::Is),
                    reason: change.reason,
                    updated_at: now,
                },
                code,
                now,
            )
            .await?;
        let invite = match stored {
            InviteUse::Used(invite) => invite,
            InviteUse::Conflict => return Err(ServiceError::Conflict),
            // Used up or revoked since the check before: say which.
            InviteUse::Refused(link) => {
                invites::usable(link.as_ref(), now)?;
                return Err(RuleError::InviteNotFound.into());
            }
        };
        self.membership_stored(change.room_id, change.user_id, change.before, change.after)
            .await;
        Ok(invite)
    }

    pub(super) async fn cancel_request(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        self.access.existing_room(&room_id).await?;
        let current = self.storage.membership(&room_id, &session.user_id).await?;
        let left = domain::cancel_request(&session.user_id, current)?;
        self.change_and_announce(Change {
            room_id: &room_id,
            user_id: &session.user_id,
            before: current,
            after: left,
            reason: None,
        })
        .await?;
        tracing::info!(room = %room_id, "join request withdrawn");
        Ok(Vec::new())
    }

    /// Approve or reject each target. With one target (`targetUserId`), a refusal is the
    /// action's error, as before bulk decisions; with several, each refusal is an error
    /// naming its `targetUserId` and the others are decided.
    pub(super) async fn decide(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
        targets: Targets,
        decision: Decision,
        reason: Option<String>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        let bulk = targets.target_user_ids.is_some();
        let targets = domain::decision_targets(targets)?;
        let reason = domain::reason(reason)?;
        self.access.existing_room(&room_id).await?;
        let mut refusals = Vec::new();
        for target in targets {
            // Ids are usernames, which are case-insensitive.
            let target = domain::username(target.as_str()).unwrap_or(target);
            let mut decided = Err(ServiceError::Conflict);
            for _ in 0..super::CONFLICT_TRIES {
                decided = self
                    .decide_one(session, &room_id, &target, decision, reason.clone())
                    .await;
                if !matches!(decided, Err(ServiceError::Conflict)) {
                    break;
                }
            }
            match decided {
                Ok(()) => {}
                // Nobody may decide anything here: say it once, not per user.
                Err(error @ ServiceError::Rule(RuleError::NotAdmin)) => return Err(error),
                Err(error) if !bulk => return Err(error),
                Err(error) => {
                    error.log_if_internal("a decision");
                    let mut frame = error.to_frame(Some("joinRoom"));
                    if let ServerMessage::Error { target_user_id, .. } = &mut frame {
                        *target_user_id = Some(target);
                    }
                    refusals.push(Outbound::message(&frame));
                }
            }
        }
        Ok(refusals)
    }

    async fn decide_one(
        &self,
        session: &SocketSession,
        room_id: &RoomId,
        target: &UserId,
        decision: Decision,
        reason: Option<String>,
    ) -> Result<(), ServiceError> {
        let actor = self.storage.membership(room_id, &session.user_id).await?;
        let current = self.storage.membership(room_id, target).await?;
        let Some(changed) = domain::decide(actor, target, current, decision)? else {
            // Already decided that way: nothing changes, nobody is notified again.
            return Ok(());
        };
        // Only a rejection carries the admin's reason; an approval clears the request's.
        let reason = reason.filter(|_| decision == Decision::Reject);
        self.store_membership(Change {
            room_id,
            user_id: target,
            before: current,
            after: changed,
            reason: reason.clone(),
        })
        .await?;
        tracing::info!(room = %room_id, %target, status = changed.status.as_str(), "join decided");
        self.fanout.to_user(
            target,
            &ServerMessage::JoinResponse {
                room_id: room_id.clone(),
                status: changed.status,
                reason: reason.clone(),
            },
        );
        self.announce_change(room_id, target, current, changed, reason)
            .await
    }

    pub(super) async fn leave(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        self.access.existing_room(&room_id).await?;
        let members = self.storage.members(&room_id).await?;
        let current = members
            .iter()
            .find(|member| member.user_id == session.user_id)
            .map(Membership::from);
        let others = members
            .iter()
            .filter(|member| member.user_id != session.user_id)
            .map(Membership::from)
            .filter(|membership| domain::may_receive(Some(*membership)))
            .fold(Others::default(), |others, membership| Others {
                approved: others.approved + 1,
                admins: others.admins + usize::from(membership.is_admin),
            });
        match domain::leave(current, others)? {
            LeaveOutcome::Leave(left) => {
                self.change_and_announce(Change {
                    room_id: &room_id,
                    user_id: &session.user_id,
                    before: current,
                    after: left,
                    reason: None,
                })
                .await?;
                tracing::info!(room = %room_id, "member left");
            }
            LeaveOutcome::DeleteRoom => self.delete_room_now(&room_id).await?,
        }
        Ok(Vec::new())
    }

    /// An admin's action on one user (`removeMember`, `banMember`, `unbanMember`): `rule`
    /// gives the target's new membership from the actor's and the target's, or `None`
    /// when it already is that (nothing changes, nobody is told).
    pub(super) async fn act_on_member(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        target: UserId,
        reason: Option<String>,
        rule: MemberRule,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let reason = domain::reason(reason)?;
        let (actor, target, current) = self.admin_and_target(session, &room_id, target).await?;
        let Some(after) = rule(actor, &target, current)? else {
            return Ok(Vec::new());
        };
        self.change_and_announce(Change {
            room_id: &room_id,
            user_id: &target,
            before: current,
            after,
            reason,
        })
        .await?;
        tracing::info!(room = %room_id, %target, status = after.status.as_str(), "member changed by an admin");
        Ok(Vec::new())
    }

    pub(super) async fn set_role(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        target: UserId,
        role: Role,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let (actor, target, current) = self.admin_and_target(session, &room_id, target).await?;
        let admins = self
            .storage
            .members(&room_id)
            .await?
            .iter()
            .filter(|member| domain::is_acting_admin(Membership::from(*member)))
            .count();
        let Some(changed) = domain::set_role(actor, &target, current, role, admins)? else {
            return Ok(Vec::new());
        };
        self.change_and_announce(Change {
            room_id: &room_id,
            user_id: &target,
            before: current,
            after: changed,
            reason: None,
        })
        .await?;
        tracing::info!(room = %room_id, %target, admin = changed.is_admin, "role changed");
        Ok(Vec::new())
    }

    pub(super) async fn delete_room(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        self.access.existing_room(&room_id).await?;
        let actor = self.storage.membership(&room_id, &session.user_id).await?;
        domain::require_admin(actor)?;
        self.delete_room_now(&room_id).await?;
        Ok(Vec::new())
    }

    /// Deletes the room, makes every node forget it, then tells its members and the users
    /// who asked to join.
    async fn delete_room_now(&self, room_id: &RoomId) -> Result<(), ServiceError> {
        let told: Vec<UserId> = self
            .storage
            .members(room_id)
            .await?
            .into_iter()
            .filter(|member| {
                matches!(
                    member.status,
                    MemberStatus::Approved | MemberStatus::Pending
                )
            })
            .map(|member| member.user_id)
            .collect();
        if !self.storage.delete_room(room_id).await? {
            return Err(ServiceError::RoomNotFound);
        }
        self.access.forget_room(room_id);
        self.fanout.room_deleted(room_id).await;
        tracing::info!(room = %room_id, "room deleted");
        self.fanout.to_users(
            &told,
            &ServerMessage::RoomDeleted {
                room_id: room_id.clone(),
            },
        );
        Ok(())
    }

    /// The acting user's and the target's memberships, for an admin's action on a user.
    async fn admin_and_target(
        &self,
        session: &mut SocketSession,
        room_id: &RoomId,
        target: UserId,
    ) -> Result<(Option<Membership>, UserId, Option<Membership>), ServiceError> {
        session.current_room = Some(room_id.clone());
        self.access.existing_room(room_id).await?;
        let actor = self.storage.membership(room_id, &session.user_id).await?;
        domain::require_admin(actor)?;
        let target = domain::username(target.as_str()).unwrap_or(target);
        let current = self.storage.membership(room_id, &target).await?;
        Ok((actor, target, current))
    }

    async fn change_and_announce(&self, change: Change<'_>) -> Result<(), ServiceError> {
        let (room_id, user_id, before, after, reason) = (
            change.room_id.clone(),
            change.user_id.clone(),
            change.before,
            change.after,
            change.reason.clone(),
        );
        self.store_membership(change).await?;
        self.announce_change(&room_id, &user_id, before, after, reason)
            .await
    }

    /// Membership decisions read storage, not the room access (they must see the latest
    /// state); the change is stored (batched with others queued at the same time) only if
    /// the membership is still what the rule saw ([`ServiceError::Conflict`] otherwise:
    /// another node changed it meanwhile), then applied to the room access of this node
    /// and of every other node. A change to
    /// a user who could receive the room (leaving, removal, a ban, a role) waits until
    /// every node has applied it, so that from the moment the action is answered no node
    /// sends them the room any more (`fanout.rs`, barriers).
    async fn store_membership(&self, change: Change<'_>) -> Result<(), ServiceError> {
        self.memberships
            .store(MembershipChange {
                room_id: change.room_id.clone(),
                user_id: change.user_id.clone(),
                membership: change.after,
                only_if: change.before.map_or(Precondition::Absent, Precondition::Is),
                reason: change.reason,
                updated_at: now_ms(),
            })
            .await?;
        self.membership_stored(change.room_id, change.user_id, change.before, change.after)
            .await;
        Ok(())
    }

    /// A stored membership change applied to the room access of this node and of every
    /// other node (see [`Service::store_membership`]).
    async fn membership_stored(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        before: Option<Membership>,
        after: Membership,
    ) {
        self.access.apply(room_id, user_id, after);
        let barrier = domain::may_receive(before);
        self.fanout
            .room_changed(room_id, user_id, after, barrier)
            .await;
    }

    /// `memberChanged` to the admins and the user concerned, with the reason; and, when
    /// they see the user's row ([`domain::members_hear_of`]), to the room's other members
    /// without it. Who may receive the room is as this node's access (which has just
    /// applied the change) knows it.
    async fn announce_change(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        before: Option<Membership>,
        after: Membership,
        reason: Option<String>,
    ) -> Result<(), ServiceError> {
        let change = |reason| ServerMessage::MemberChanged {
            room_id: room_id.clone(),
            user_id: user_id.clone(),
            status: after.status,
            is_admin: after.is_admin,
            reason,
        };
        let room = self.access.room(room_id).await?;
        let mut told: Vec<UserId> = room
            .as_ref()
            .map(|room| room.admins().cloned().collect())
            .unwrap_or_default();
        if !told.contains(user_id) {
            told.push(user_id.clone());
        }
        self.fanout.to_users(&told, &change(reason));
        if domain::members_hear_of(before, after) {
            let others: Vec<UserId> = room
                .as_ref()
                .map_or(&[][..], |room| room.receivers())
                .iter()
                .filter(|user| !told.contains(user))
                .cloned()
                .collect();
            self.fanout.to_users(&others, &change(None));
        }
        Ok(())
    }

    /// `roomMembers`: approved and pending users; to an admin also the banned ones, and
    /// every row's reason.
    pub(super) async fn members(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        let room = self.access.require(&room_id, &session.user_id).await?;
        let to_admin = room
            .membership(&session.user_id)
            .is_some_and(domain::is_acting_admin);
        let mut participants: Vec<_> = self
            .storage
            .members(&room_id)
            .await?
            .into_iter()
            .filter(|participant| domain::listed_in_members(participant.status, to_admin))
            .map(|mut participant| {
                if !to_admin {
                    participant.reason = None;
                }
                // The link a request came by is the admins' business, and only while the
                // request waits.
                if !to_admin || participant.status != MemberStatus::Pending {
                    participant.invite = None;
                }
                participant
            })
            .collect();
        self.mark_online(&mut participants).await;
        let invite_only = self.storage.invite_only(&room_id).await?.unwrap_or(false);
        // A removal answered while the list was read: nothing of the room goes out.
        self.access.require(&room_id, &session.user_id).await?;
        Ok(vec![Outbound::message(&ServerMessage::RoomMembers {
            room_id,
            room_name: room.room_name.clone(),
            participants,
            invite_only,
        })])
    }
}
