//! Invite links and the invite-only setting, the same SQL on both engines (sqlx binds `$N`
//! on SQLite as on PostgreSQL): [`invite_queries!`] writes the functions once per engine.
//!
//! A knock by link is one transaction that reads the link (locking its row on PostgreSQL;
//! SQLite's `BEGIN IMMEDIATE` holds the database's write lock), checks it with
//! [`crate::domain::invites::usable`], stores the request and counts the use: two knocks
//! on a link with one use left, on any nodes, cannot both count it.

use knock_protocol::{Invite, InviteCode, RoomId};

use super::rows::seq_from_db;
use super::{StorageError, StorageResult, StoredInvite};

pub(super) const INVITE_COLUMNS: &str =
    "code, room_id, label, created_at, expires_at, max_uses, uses, revoked_at";

#[derive(sqlx::FromRow)]
pub(super) struct InviteRow {
    code: String,
    room_id: String,
    label: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    max_uses: Option<i64>,
    uses: i64,
    revoked_at: Option<i64>,
}

fn count(value: i64) -> StorageResult<u32> {
    u32::try_from(seq_from_db(value)?)
        .map_err(|_| StorageError::Corrupt(format!("invite count {value} out of range")))
}

impl InviteRow {
    pub(super) fn into_stored(self) -> StorageResult<StoredInvite> {
        Ok(StoredInvite {
            invite: Invite {
                room_id: RoomId(self.room_id),
                code: InviteCode(self.code),
                label: self.label,
                created_at: self.created_at,
                expires_at: self.expires_at,
                max_uses: self.max_uses.map(count).transpose()?,
                uses: count(self.uses)?,
            },
            revoked: self.revoked_at.is_some(),
        })
    }
}

/// What a knock by link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InviteUse {
    /// The request is stored and the use counted: the link as it is now.
    Used(Invite),
    /// Nothing stored, no use counted: the link as stored (`None`: no such link in that
    /// room), for the rules to say why.
    Refused(Option<StoredInvite>),
    /// The membership was no longer what the rules saw ([`super::Precondition`]):
    /// nothing stored, no use counted.
    Conflict,
}

/// The membership statements of `set_memberships`, also keeping the link a request came by.
const INSERT_IF_ABSENT: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, invite_code) \
     VALUES ($1, $2, $3, $4, $5, $5, $6, $7) \
     ON CONFLICT (room_id, user_id) DO NOTHING";
const UPSERT_IF_IS: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, invite_code) \
     VALUES ($1, $2, $3, $4, $5, $5, $6, $7) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET \
     status = excluded.status, is_admin = excluded.is_admin, \
     updated_at = excluded.updated_at, reason = excluded.reason, \
     invite_code = excluded.invite_code \
     WHERE $8 OR (memberships.status = $9 AND memberships.is_admin = $10)";

macro_rules! invite_queries {
    ($db:ty, $begin:expr, $lock:expr) => {
        use knock_protocol::{Invite, InviteCode, RoomId};
        use sqlx::Pool;

        use super::super::invites::{
            INSERT_IF_ABSENT, INVITE_COLUMNS, InviteRow, InviteUse, UPSERT_IF_IS,
        };
        use super::super::rows::constraint_error;
        use super::super::{MembershipChange, Precondition, StorageResult, StoredInvite};
        use crate::domain::invites::usable;

        pub(crate) async fn create_invite(pool: &Pool<$db>, invite: &Invite) -> StorageResult<()> {
            sqlx::query(
                "INSERT INTO invites \
                 (code, room_id, label, created_at, expires_at, max_uses, uses) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )
            .bind(invite.code.as_str())
            .bind(invite.room_id.as_str())
            .bind(invite.label.as_deref())
            .bind(invite.created_at)
            .bind(invite.expires_at)
            .bind(invite.max_uses.map(i64::from))
            .execute(pool)
            .await
            .map_err(|error| constraint_error(error, "room"))?;
            Ok(())
        }

        pub(crate) async fn invites(
            pool: &Pool<$db>,
            room_id: &RoomId,
        ) -> StorageResult<Vec<Invite>> {
            let rows: Vec<InviteRow> = sqlx::query_as(&format!(
                "SELECT {INVITE_COLUMNS} FROM invites \
                 WHERE room_id = $1 AND revoked_at IS NULL \
                 ORDER BY created_at DESC, code ASC"
            ))
            .bind(room_id.as_str())
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|row| Ok(row.into_stored()?.invite))
                .collect()
        }

        pub(crate) async fn invite(
            pool: &Pool<$db>,
            code: &InviteCode,
        ) -> StorageResult<Option<StoredInvite>> {
            let row: Option<InviteRow> = sqlx::query_as(&format!(
                "SELECT {INVITE_COLUMNS} FROM invites WHERE code = $1"
            ))
            .bind(code.as_str())
            .fetch_optional(pool)
            .await?;
            row.map(InviteRow::into_stored).transpose()
        }

        pub(crate) async fn revoke_invite(
            pool: &Pool<$db>,
            room_id: &RoomId,
            code: &InviteCode,
            now: i64,
        ) -> StorageResult<bool> {
            let revoked = sqlx::query(
                "UPDATE invites SET revoked_at = $3 \
                 WHERE code = $1 AND room_id = $2 AND revoked_at IS NULL",
            )
            .bind(code.as_str())
            .bind(room_id.as_str())
            .bind(now)
            .execute(pool)
            .await?;
            Ok(revoked.rows_affected() > 0)
        }

        pub(crate) async fn request_with_invite(
            pool: &Pool<$db>,
            change: &MembershipChange,
            code: &InviteCode,
            now: i64,
        ) -> StorageResult<InviteUse> {
            // An early return drops `tx`, which rolls back: nothing stored, nothing counted.
            let mut tx = pool.begin_with($begin).await?;
            let row: Option<InviteRow> = sqlx::query_as(&format!(
                "SELECT {INVITE_COLUMNS} FROM invites WHERE code = $1 AND room_id = $2 {}",
                $lock
            ))
            .bind(code.as_str())
            .bind(change.room_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let stored = row.map(InviteRow::into_stored).transpose()?;
            if usable(stored.as_ref(), now).is_err() {
                return Ok(InviteUse::Refused(stored));
            }
            let Some(stored) = stored else {
                return Ok(InviteUse::Refused(None));
            };
            let membership = change.membership;
            let query = match change.only_if {
                Precondition::Absent => sqlx::query(INSERT_IF_ABSENT),
                Precondition::Any | Precondition::Is(_) => sqlx::query(UPSERT_IF_IS),
            }
            .bind(change.room_id.as_str())
            .bind(change.user_id.as_str())
            .bind(membership.status.as_str())
            .bind(membership.is_admin)
            .bind(change.updated_at)
            .bind(change.reason.as_deref())
            .bind(code.as_str());
            let query = match change.only_if {
                Precondition::Absent => query,
                Precondition::Any => query.bind(true).bind("").bind(false),
                Precondition::Is(expected) => query
                    .bind(false)
                    .bind(expected.status.as_str())
                    .bind(expected.is_admin),
            };
            let written = query
                .execute(&mut *tx)
                .await
                .map_err(|error| constraint_error(error, "user"))?;
            if written.rows_affected() == 0 {
                return Ok(InviteUse::Conflict);
            }
            sqlx::query("UPDATE invites SET uses = uses + 1 WHERE code = $1")
                .bind(code.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            let mut invite = stored.invite;
            invite.uses += 1;
            Ok(InviteUse::Used(invite))
        }

        pub(crate) async fn set_invite_only(
            pool: &Pool<$db>,
            room_id: &RoomId,
            invite_only: bool,
        ) -> StorageResult<bool> {
            let updated = sqlx::query("UPDATE rooms SET invite_only = $2 WHERE room_id = $1")
                .bind(room_id.as_str())
                .bind(invite_only)
                .execute(pool)
                .await?;
            Ok(updated.rows_affected() > 0)
        }

        pub(crate) async fn invite_only(
            pool: &Pool<$db>,
            room_id: &RoomId,
        ) -> StorageResult<Option<bool>> {
            Ok(
                sqlx::query_scalar("SELECT invite_only FROM rooms WHERE room_id = $1")
                    .bind(room_id.as_str())
                    .fetch_optional(pool)
                    .await?,
            )
        }
    };
}

pub(super) mod sqlite {
    // The write lock up front: a transaction that read first could not take it later
    // without failing at once.
    invite_queries!(sqlx::Sqlite, "BEGIN IMMEDIATE", "");
}

pub(super) mod postgres {
    // The link's row stays locked until commit: a second knock on it waits, then reads
    // the first one's count.
    invite_queries!(sqlx::Postgres, "BEGIN", "FOR UPDATE");
}
