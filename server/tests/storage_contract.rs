//! The storage contract: what every backend of `knock_server::storage::Storage` must do.
//!
//! The checks are written once, in `mod contract`, against `Arc<dyn Storage>`; the
//! `storage_contract!` macro runs all of them on one backend. Adding a backend is one line
//! at the bottom: a module name, an expression making a fresh [`Fixture`], and whether the
//! backend keeps its data when reopened.
//!
//! The PostgreSQL runs need a server (`KNOCK_TEST_POSTGRES_URL`, by default
//! `postgres://root@127.0.0.1:5432/test`) and fail without one; each test creates a
//! database of its own there and drops it at the end. `mod postgres_nodes` adds checks
//! of several nodes (pools) writing to one PostgreSQL database at once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::postgres::PostgresDatabase;
use sqlx::{Connection, PgConnection};

use knock_protocol::{
    ChatMessage, ClientMsgId, DELETED_USER, MemberStatus, MessageId, ReplyTo, RoomId, UserId,
    limits,
};
use knock_server::domain::search::search_query;
use knock_server::storage::{
    self, ChangeKind, Changed, Credential, FoundMessage, Inserted, LogEntry, Membership,
    MembershipChange, MessageChange, NewMessage, NewRoom, PostgresStorage, Precondition, Room,
    SearchIn, Session, Since, Storage, StorageError,
};

/// A fresh, empty database that can be opened (and, for durable backends, reopened).
struct Fixture {
    url: String,
    /// Keeps the database's directory until the test ends.
    _dir: Option<tempfile::TempDir>,
    /// Drops the PostgreSQL database when the test ends.
    _database: Option<PostgresDatabase>,
}

impl Fixture {
    fn sqlite_file() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite:{}", dir.path().join("knock.db").display());
        Self {
            url,
            _dir: Some(dir),
            _database: None,
        }
    }

    fn sqlite_memory() -> Self {
        Self {
            url: "sqlite::memory:".to_owned(),
            _dir: None,
            _database: None,
        }
    }

    /// A new database on the test PostgreSQL server, which must be reachable: these tests
    /// fail, not skip, without it.
    async fn postgres() -> Self {
        let database = PostgresDatabase::create().await;
        Self {
            url: database.url.clone(),
            _dir: None,
            _database: Some(database),
        }
    }

    async fn open(&self) -> Arc<dyn Storage> {
        storage::open(&self.url)
            .await
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", self.url))
    }
}

/// `storage_contract!(module, fixture_expression, reopen: true|false);`
macro_rules! storage_contract {
    ($backend:ident, $fixture:expr, reopen: $reopen:tt) => {
        mod $backend {
            use super::*;

            storage_contract!(@each $fixture;
                users_are_unique_and_keep_credentials,
                sessions_are_created_found_and_deleted,
                sessions_are_listed_used_revoked_and_expired,
                a_password_hash_can_be_replaced,
                a_deleted_users_messages_stay_under_the_placeholder,
                rooms_are_created_with_their_admin,
                memberships_move_between_statuses_in_order,
                memberships_need_an_existing_room_and_user,
                memberships_keep_every_status_their_reason_and_time,
                a_membership_change_is_stored_only_while_its_precondition_holds,
                deleting_a_room_deletes_its_memberships_and_messages,
                membership_batches_apply_in_order_or_not_at_all,
                seqs_are_gapless_per_room_across_batches,
                a_batch_with_an_unknown_room_stores_nothing,
                a_batch_with_an_unknown_sender_or_a_taken_id_stores_nothing,
                client_msg_ids_deduplicate_per_user,
                history_pages_backwards_and_forwards,
                rooms_of_user_lists_every_status_by_activity,
                concurrent_batches_get_distinct_gapless_seqs,
                concurrent_retries_store_one_message,
                search_finds_every_word_whatever_its_case_and_accents,
                search_reads_engine_syntax_as_words,
                search_pages_newest_first_within_the_rooms_given,
                search_forgets_the_messages_of_a_deleted_room,
                edits_and_deletions_take_the_rooms_next_seq_between_messages,
                edits_and_deletions_are_refused_on_messages_they_cannot_change,
                concurrent_edits_and_messages_share_one_gapless_log,
                search_finds_edited_text_and_not_deleted_messages,
                replies_show_the_answered_message_as_it_reads_now,
                deleting_a_room_deletes_its_changes,
                mentions_are_stored_with_their_message,
                the_read_marker_never_moves_back_nor_past_the_newest_seq,
                unread_and_mention_counts_start_after_the_marker_and_skip_own_messages,
                pending_requests_are_counted_for_approved_admins_only,
                leaving_and_coming_back_starts_reading_at_the_return,
                edits_keep_mentions_and_deleted_messages_count_as_neither_unread_nor_mentions,
                invites_are_created_listed_and_revoked,
                a_request_by_invite_counts_one_use_up_to_max_uses,
                concurrent_requests_by_invite_never_pass_max_uses,
                expired_and_revoked_invites_store_nothing,
                deleting_a_room_deletes_its_invites,
                rooms_are_open_until_made_invite_only,
            );
            storage_contract!(@reopen $reopen $fixture);
        }
    };
    (@each $fixture:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let fixture = $fixture;
                contract::$test(fixture.open().await).await;
            }
        )*
    };
    (@reopen true $fixture:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn data_survives_reopening() {
            let fixture = $fixture;
            contract::data_survives_reopening(&fixture).await;
        }
    };
    (@reopen false $fixture:expr) => {};
}

storage_contract!(sqlite_file, Fixture::sqlite_file(), reopen: true);
storage_contract!(sqlite_memory, Fixture::sqlite_memory(), reopen: false);
storage_contract!(postgres, Fixture::postgres().await, reopen: true);

fn user(name: &str) -> UserId {
    UserId::new(name)
}

fn session(token_hash: &str, name: &str, created_at: i64) -> Session {
    Session {
        token_hash: token_hash.to_owned(),
        session_id: format!("id-{token_hash}"),
        user_id: user(name),
        created_at,
        last_used_at: created_at,
        user_agent: None,
    }
}

fn room_id(name: &str) -> RoomId {
    RoomId::new(name)
}

fn hash_of(name: &str) -> String {
    format!("$argon2id$v=19$m=19456,t=2,p=1$salt${name}")
}

fn new_message(
    room: &str,
    sender: &str,
    text: &str,
    timestamp: i64,
    client_msg_id: Option<&str>,
) -> NewMessage {
    NewMessage {
        room_id: room_id(room),
        user_id: user(sender),
        message: text.to_owned(),
        timestamp,
        message_id: MessageId::new(uuid::Uuid::new_v4().to_string()),
        client_msg_id: client_msg_id.map(ClientMsgId::new),
        reply_to: None,
        mentions: Vec::new(),
    }
}

fn membership(status: MemberStatus, is_admin: bool) -> Membership {
    Membership { status, is_admin }
}

fn seqs(messages: &[ChatMessage]) -> Vec<u64> {
    messages.iter().map(|message| message.seq).collect()
}

fn new_one(inserted: &Inserted) -> &ChatMessage {
    match inserted {
        Inserted::New(message) => message,
        Inserted::Duplicate(message) => {
            panic!("expected a new message, got a duplicate of {message:?}")
        }
    }
}

fn duplicate_one(inserted: &Inserted) -> &ChatMessage {
    match inserted {
        Inserted::Duplicate(message) => message,
        Inserted::New(message) => panic!("expected a duplicate, got a new message {message:?}"),
    }
}

/// The stored form of `sent` with the given `seq`.
fn stored(sent: &NewMessage, seq: u64) -> ChatMessage {
    ChatMessage {
        room_id: sent.room_id.clone(),
        user_id: sent.user_id.clone(),
        message: sent.message.clone(),
        timestamp: sent.timestamp,
        seq,
        message_id: sent.message_id.clone(),
        reply_to: sent.reply_to.clone(),
        edited_at: None,
        deleted: false,
        mentions: sent.mentions.clone(),
    }
}

async fn create_users(storage: &dyn Storage, names: &[&str]) {
    for name in names {
        storage
            .create_user(&user(name), &hash_of(name), 1)
            .await
            .expect("create user");
    }
}

async fn create_room(storage: &dyn Storage, room: &str, admin: &str, created_at: i64) {
    storage
        .create_room(&NewRoom {
            room_id: room_id(room),
            room_name: format!("{room} name"),
            admin: user(admin),
            created_at,
        })
        .await
        .expect("create room");
}

#[track_caller]
fn assert_empty<T: PartialEq + std::fmt::Debug>(items: &[T]) {
    assert_eq!(items, &[] as &[T]);
}

fn change(
    room: &RoomId,
    member: &UserId,
    membership: Membership,
    updated_at: i64,
) -> MembershipChange {
    MembershipChange {
        room_id: room.clone(),
        user_id: member.clone(),
        membership,
        only_if: Precondition::Any,
        reason: None,
        updated_at,
    }
}

async fn set(
    storage: &dyn Storage,
    room: &RoomId,
    member: &UserId,
    membership: Membership,
    updated_at: i64,
) {
    storage
        .set_memberships(&[change(room, member, membership, updated_at)])
        .await
        .expect("set membership");
}

/// The room's users whose membership passes `keep`, sorted.
async fn users_where(
    storage: &dyn Storage,
    room: &RoomId,
    keep: impl Fn(&knock_protocol::Participant) -> bool,
) -> Vec<UserId> {
    let mut users: Vec<UserId> = storage
        .members(room)
        .await
        .expect("members")
        .into_iter()
        .filter(|participant| keep(participant))
        .map(|participant| participant.user_id)
        .collect();
    users.sort();
    users
}

async fn all_messages(storage: &dyn Storage, room: &str) -> Vec<ChatMessage> {
    storage
        .messages_after(&room_id(room), 0, u32::MAX)
        .await
        .expect("messages after")
}

/// What `query` finds `within`, newest first.
async fn search(
    storage: &dyn Storage,
    query: &str,
    within: SearchIn<'_>,
    limit: u32,
) -> Vec<FoundMessage> {
    let query = search_query(query).unwrap_or_else(|error| panic!("{query:?}: {error}"));
    storage
        .search_messages(&query, within, limit)
        .await
        .unwrap_or_else(|error| panic!("search {query:?}: {error}"))
}

/// The texts `query` finds in `room`, newest first.
async fn texts_found(storage: &dyn Storage, room: &str, query: &str) -> Vec<String> {
    let room = room_id(room);
    let within = SearchIn::Room {
        room_id: &room,
        before_seq: None,
    };
    search(storage, query, within, 50)
        .await
        .into_iter()
        .map(|found| found.message.message)
        .collect()
}

fn edit(room: &str, message_id: &MessageId, text: &str, at: i64) -> MessageChange {
    MessageChange {
        room_id: room_id(room),
        message_id: message_id.clone(),
        kind: ChangeKind::Edit(text.to_owned()),
        at,
    }
}

fn delete(room: &str, message_id: &MessageId, at: i64) -> MessageChange {
    MessageChange {
        room_id: room_id(room),
        message_id: message_id.clone(),
        kind: ChangeKind::Delete,
        at,
    }
}

/// `stored` without the reply the batch was given (reads join the answered message).
fn stored_message(sent: &NewMessage, seq: u64) -> ChatMessage {
    ChatMessage {
        reply_to: None,
        ..stored(sent, seq)
    }
}

async fn last_seq(storage: &dyn Storage, room: &str) -> u64 {
    storage
        .room(&room_id(room))
        .await
        .expect("room")
        .expect("room exists")
        .last_seq
}

/// In one room: newest first by seq, before a seq when given (`search_pages_...`).
async fn one_room_pages_by_seq(storage: &dyn Storage, b: &RoomId) {
    let b = b.clone();
    let in_b = search(
        storage,
        "tea",
        SearchIn::Room {
            room_id: &b,
            before_seq: Some(4),
        },
        2,
    )
    .await;
    assert_eq!(
        in_b.iter()
            .map(|found| found.message.seq)
            .collect::<Vec<_>>(),
        [3, 2]
    );
    let past_the_end = search(
        storage,
        "tea",
        SearchIn::Room {
            room_id: &b,
            before_seq: Some(99),
        },
        50,
    )
    .await;
    assert_eq!(past_the_end.len(), 5);
    assert_eq!(
        search(
            storage,
            "tea",
            SearchIn::Room {
                room_id: &b,
                before_seq: Some(1),
            },
            50
        )
        .await,
        Vec::new()
    );
}

/// Naming many rooms (past what either backend searches one by one) finds what naming
/// `given` found (`all`, newest first), and still nothing of the rooms not named.
async fn many_rooms_find_the_same(storage: &dyn Storage, given: &[RoomId], all: &[&FoundMessage]) {
    let mut many: Vec<RoomId> = (0..40).map(|n| room_id(&format!("none{n}"))).collect();
    many.extend_from_slice(given);
    let found = search(
        storage,
        "tea",
        SearchIn::Rooms {
            room_ids: &many,
            before_position: None,
        },
        50,
    )
    .await;
    assert_eq!(found.iter().collect::<Vec<_>>(), all);
    let from_the_fourth = search(
        storage,
        "tea",
        SearchIn::Rooms {
            room_ids: &many,
            before_position: Some(all[3].position),
        },
        2,
    )
    .await;
    assert_eq!(from_the_fourth.iter().collect::<Vec<_>>(), all[4..6]);
}

mod contract {
    use super::*;

    pub use super::invite_contract::*;

    pub async fn users_are_unique_and_keep_credentials(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        assert_eq!(storage.credential(&user("alice")).await.unwrap(), None);

        storage
            .create_user(&user("alice"), &hash_of("alice"), 10)
            .await
            .unwrap();
        storage
            .create_user(&user("bob"), &hash_of("bob"), 11)
            .await
            .unwrap();

        let taken = storage
            .create_user(&user("alice"), &hash_of("impostor"), 12)
            .await
            .unwrap_err();
        assert!(matches!(taken, StorageError::Conflict), "{taken:?}");

        assert_eq!(
            storage.credential(&user("alice")).await.unwrap(),
            Some(Credential {
                user_id: user("alice"),
                password_hash: hash_of("alice"),
                created_at: 10,
            }),
            "a refused duplicate leaves the first user unchanged"
        );
        assert_eq!(
            storage.credential(&user("bob")).await.unwrap(),
            Some(Credential {
                user_id: user("bob"),
                password_hash: hash_of("bob"),
                created_at: 11,
            })
        );
        assert_eq!(storage.credential(&user("carol")).await.unwrap(), None);
    }

    pub async fn sessions_are_created_found_and_deleted(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        let a1 = session("hash-a1", "alice", 100);
        let mut a2 = session("hash-a2", "alice", 101);
        a2.user_agent = Some("Firefox".to_owned());
        let b1 = session("hash-b1", "bob", 102);
        for new in [&a1, &a2, &b1] {
            storage.create_session(new).await.unwrap();
        }

        assert_eq!(storage.session("hash-a1").await.unwrap(), Some(a1.clone()));
        assert_eq!(storage.session("hash-a2").await.unwrap(), Some(a2.clone()));
        assert_eq!(storage.session("hash-b1").await.unwrap(), Some(b1.clone()));
        assert_eq!(storage.session("hash-none").await.unwrap(), None);

        assert!(
            storage
                .create_session(&session("hash-x", "nobody", 103))
                .await
                .is_err(),
            "a session needs an existing user"
        );
        assert_eq!(storage.session("hash-x").await.unwrap(), None);

        assert_eq!(
            storage.delete_session("hash-a1").await.unwrap(),
            Some(user("alice"))
        );
        assert_eq!(storage.session("hash-a1").await.unwrap(), None);
        assert_eq!(storage.delete_session("hash-a1").await.unwrap(), None);
        assert_eq!(storage.delete_session("hash-none").await.unwrap(), None);

        // Other sessions, of the same user or another, are untouched.
        assert_eq!(storage.session("hash-a2").await.unwrap(), Some(a2));
        assert_eq!(storage.session("hash-b1").await.unwrap(), Some(b1));
    }

    pub async fn sessions_are_listed_used_revoked_and_expired(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        for new in [
            session("a-old", "alice", 100),
            session("a-mid", "alice", 200),
            session("a-new", "alice", 300),
            session("b-one", "bob", 150),
        ] {
            storage.create_session(&new).await.unwrap();
        }
        let listed = |sessions: Vec<Session>| -> Vec<(String, i64)> {
            sessions
                .into_iter()
                .map(|s| (s.token_hash, s.last_used_at))
                .collect()
        };
        assert_eq!(
            listed(storage.sessions_of_user(&user("alice")).await.unwrap()),
            [
                ("a-new".to_owned(), 300),
                ("a-mid".to_owned(), 200),
                ("a-old".to_owned(), 100)
            ],
            "most recently used first"
        );

        // Using a session moves it up; an earlier time changes nothing.
        storage
            .touch_sessions(&["a-old".to_owned(), "missing".to_owned()], 400)
            .await
            .unwrap();
        storage
            .touch_sessions(&["a-new".to_owned()], 250)
            .await
            .unwrap();
        assert_eq!(
            listed(storage.sessions_of_user(&user("alice")).await.unwrap()),
            [
                ("a-old".to_owned(), 400),
                ("a-new".to_owned(), 300),
                ("a-mid".to_owned(), 200)
            ]
        );
        let old = storage.session("a-old").await.unwrap().unwrap();
        assert_eq!((old.created_at, old.last_used_at), (100, 400));

        // Expired: unused since 250 (a-mid, b-one), or created before 101 (a-old).
        let mut expired = storage.delete_expired_sessions(250, 101).await.unwrap();
        expired.sort();
        assert_eq!(expired, ["a-mid", "a-old", "b-one"]);
        assert_eq!(
            listed(storage.sessions_of_user(&user("alice")).await.unwrap()),
            [("a-new".to_owned(), 300)]
        );

        // Every session of a user but one.
        for new in [session("a-2", "alice", 500), session("b-2", "bob", 500)] {
            storage.create_session(&new).await.unwrap();
        }
        assert_eq!(
            storage
                .delete_sessions_of_user(&user("alice"), Some("a-2"))
                .await
                .unwrap(),
            ["a-new"]
        );
        assert_eq!(
            storage
                .delete_sessions_of_user(&user("alice"), None)
                .await
                .unwrap(),
            ["a-2"]
        );
        assert_empty(&storage.sessions_of_user(&user("alice")).await.unwrap());
        assert!(
            storage.session("b-2").await.unwrap().is_some(),
            "bob's stays"
        );
    }

    pub async fn a_password_hash_can_be_replaced(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        assert!(
            storage
                .set_password_hash(&user("alice"), "new hash")
                .await
                .unwrap()
        );
        let credential = storage.credential(&user("alice")).await.unwrap().unwrap();
        assert_eq!(credential.password_hash, "new hash");
        assert!(
            !storage
                .set_password_hash(&user("nobody"), "new hash")
                .await
                .unwrap()
        );
    }

    pub async fn a_deleted_users_messages_stay_under_the_placeholder(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "r", "alice", 10).await;
        set(
            storage,
            &room_id("r"),
            &user("bob"),
            membership(MemberStatus::Approved, false),
            20,
        )
        .await;
        storage
            .create_session(&session("alice-phone", "alice", 30))
            .await
            .unwrap();
        let sent = vec![
            new_message("r", "alice", "from alice", 40, Some("c1")),
            new_message("r", "bob", "from bob", 41, Some("c1")),
            new_message("r", "alice", "alice again", 42, None),
        ];
        storage.insert_messages(&sent).await.unwrap();

        let mine = storage.messages_by_user(&user("alice")).await.unwrap();
        assert_eq!(seqs(&mine), [1, 3]);
        assert_eq!(mine[0].message, "from alice");
        let rooms = storage.memberships_of_user(&user("alice")).await.unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(
            (
                rooms[0].room_name.as_str(),
                rooms[0].status,
                rooms[0].is_admin
            ),
            ("r name", MemberStatus::Approved, true)
        );

        assert!(storage.delete_user(&user("alice")).await.unwrap());
        assert!(!storage.delete_user(&user("alice")).await.unwrap(), "gone");
        assert_eq!(storage.credential(&user("alice")).await.unwrap(), None);
        assert_eq!(storage.session("alice-phone").await.unwrap(), None);
        assert_eq!(
            storage
                .membership(&room_id("r"), &user("alice"))
                .await
                .unwrap(),
            None
        );
        let kept = all_messages(storage, "r").await;
        let authors: Vec<&str> = kept.iter().map(|m| m.user_id.as_str()).collect();
        assert_eq!(authors, [DELETED_USER, "bob", DELETED_USER]);
        assert_eq!(kept[0].message, "from alice", "the text stays");
        assert_empty(&storage.messages_by_user(&user("alice")).await.unwrap());
        assert!(storage.room(&room_id("r")).await.unwrap().is_some());

        // The name can be registered again and owns nothing of the old account's.
        storage
            .create_user(&user("alice"), &hash_of("alice 2"), 50)
            .await
            .unwrap();
        assert_empty(&storage.messages_by_user(&user("alice")).await.unwrap());
        // A second deleted user's retried client ids do not collide with the first's.
        storage
            .insert_messages(&[new_message("r", "bob", "again", 60, Some("c2"))])
            .await
            .unwrap();
        assert!(storage.delete_user(&user("bob")).await.unwrap());
        assert!(
            !storage
                .delete_user(&UserId(DELETED_USER.to_owned()))
                .await
                .unwrap(),
            "the placeholder stays"
        );
    }

    pub async fn rooms_are_created_with_their_admin(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;

        assert_eq!(storage.room(&room_id("r1")).await.unwrap(), None);
        storage
            .create_room(&NewRoom {
                room_id: room_id("r1"),
                room_name: "Général ☕".to_owned(),
                admin: user("alice"),
                created_at: 50,
            })
            .await
            .unwrap();

        assert_eq!(
            storage.room(&room_id("r1")).await.unwrap(),
            Some(Room {
                room_id: room_id("r1"),
                room_name: "Général ☕".to_owned(),
                last_seq: 0,
            })
        );
        assert_eq!(
            storage
                .membership(&room_id("r1"), &user("alice"))
                .await
                .unwrap(),
            Some(membership(MemberStatus::Approved, true))
        );
        assert_eq!(
            storage
                .membership(&room_id("r1"), &user("bob"))
                .await
                .unwrap(),
            None
        );
        let members = storage.members(&room_id("r1")).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].user_id, user("alice"));
        assert_eq!(members[0].status, MemberStatus::Approved);
        assert!(members[0].is_admin);
        assert_eq!(
            users_where(storage, &room_id("r1"), |p| p.is_admin).await,
            vec![user("alice")]
        );
        assert_eq!(
            users_where(storage, &room_id("r1"), |p| p.status
                == MemberStatus::Approved)
            .await,
            vec![user("alice")]
        );

        let taken = storage
            .create_room(&NewRoom {
                room_id: room_id("r1"),
                room_name: "other".to_owned(),
                admin: user("bob"),
                created_at: 60,
            })
            .await
            .unwrap_err();
        assert!(matches!(taken, StorageError::Conflict), "{taken:?}");
        assert_eq!(
            storage
                .room(&room_id("r1"))
                .await
                .unwrap()
                .unwrap()
                .room_name,
            "Général ☕",
            "a refused duplicate leaves the first room unchanged"
        );
        assert_eq!(
            storage
                .membership(&room_id("r1"), &user("bob"))
                .await
                .unwrap(),
            None,
            "a refused room gives its would-be admin no membership"
        );
        assert_eq!(
            users_where(storage, &room_id("r1"), |p| p.is_admin).await,
            vec![user("alice")]
        );

        // Unknown rooms: nothing, not errors.
        assert_eq!(storage.room(&room_id("nope")).await.unwrap(), None);
        assert_eq!(
            storage
                .membership(&room_id("nope"), &user("alice"))
                .await
                .unwrap(),
            None
        );
        assert_empty(&storage.members(&room_id("nope")).await.unwrap());
        assert_empty(&users_where(storage, &room_id("nope"), |p| p.is_admin).await);
    }

    pub async fn memberships_move_between_statuses_in_order(storage: Arc<dyn Storage>) {
        use MemberStatus::{Approved, Pending, Rejected};
        let storage = &*storage;
        create_users(
            storage,
            &["alice", "bob", "carol", "dave", "eve", "zed", "nomad"],
        )
        .await;
        create_room(storage, "r", "alice", 0).await;
        let r = room_id("r");

        let pending = membership(MemberStatus::Pending, false);
        set(storage, &r, &user("bob"), pending, 10).await;
        set(storage, &r, &user("carol"), pending, 20).await;
        set(storage, &r, &user("dave"), pending, 15).await;
        // Same request time: ties go by user id.
        set(storage, &r, &user("zed"), pending, 60).await;
        set(storage, &r, &user("eve"), pending, 60).await;

        let order = |members: &[knock_protocol::Participant]| {
            members
                .iter()
                .map(|p| (p.user_id.as_str().to_owned(), p.status, p.is_admin))
                .collect::<Vec<_>>()
        };
        let row = |name: &str, status, is_admin| (name.to_owned(), status, is_admin);

        assert_eq!(
            order(&storage.members(&r).await.unwrap()),
            vec![
                row("alice", Approved, true),
                row("bob", Pending, false),
                row("dave", Pending, false),
                row("carol", Pending, false),
                row("eve", Pending, false),
                row("zed", Pending, false),
            ]
        );

        // Approve carol, reject bob, then bob asks again: the order of first requests holds.
        set(storage, &r, &user("carol"), membership(Approved, false), 30).await;
        set(storage, &r, &user("bob"), membership(Rejected, false), 40).await;
        assert_eq!(
            storage.membership(&r, &user("bob")).await.unwrap(),
            Some(membership(Rejected, false))
        );
        set(storage, &r, &user("bob"), pending, 50).await;
        assert_eq!(
            storage.membership(&r, &user("bob")).await.unwrap(),
            Some(pending)
        );
        assert_eq!(
            storage.membership(&r, &user("carol")).await.unwrap(),
            Some(membership(Approved, false))
        );
        set(storage, &r, &user("eve"), membership(Rejected, false), 70).await;
        // Dave becomes an admin: admins come first, among themselves by request time.
        set(storage, &r, &user("dave"), membership(Approved, true), 80).await;

        assert_eq!(
            order(&storage.members(&r).await.unwrap()),
            vec![
                row("alice", Approved, true),
                row("dave", Approved, true),
                row("bob", Pending, false),
                row("carol", Approved, false),
                row("eve", Rejected, false),
                row("zed", Pending, false),
            ]
        );

        assert_eq!(
            users_where(storage, &r, |p| p.status == Approved).await,
            vec![user("alice"), user("carol"), user("dave")]
        );
        assert_eq!(
            users_where(storage, &r, |p| p.status == Pending).await,
            vec![user("bob"), user("zed")]
        );
        assert_eq!(
            users_where(storage, &r, |p| p.status == Rejected).await,
            vec![user("eve")]
        );
        assert_eq!(
            users_where(storage, &r, |p| p.is_admin).await,
            vec![user("alice"), user("dave")]
        );
        assert_eq!(storage.membership(&r, &user("nomad")).await.unwrap(), None);
    }

    pub async fn memberships_keep_every_status_their_reason_and_time(storage: Arc<dyn Storage>) {
        use MemberStatus::{Approved, Banned, Left, Pending, Rejected, Removed};
        let storage = &*storage;
        create_users(storage, &["alice", "bob", "carol"]).await;
        create_room(storage, "r", "alice", 0).await;
        let r = room_id("r");
        assert_eq!(
            storage.membership_since(&r, &user("bob")).await.unwrap(),
            None
        );

        let reasoned = |status, reason: Option<&str>, updated_at| MembershipChange {
            reason: reason.map(str::to_owned),
            ..change(&r, &user("bob"), membership(status, false), updated_at)
        };
        let reason_of = |members: Vec<knock_protocol::Participant>, name: &str| {
            members
                .into_iter()
                .find(|p| p.user_id == user(name))
                .map(|p| (p.status, p.reason))
        };
        // Every status, each with the reason given (or none), replacing the one before.
        for (status, reason, at) in [
            (Pending, Some("I am Alice's colleague"), 10),
            (Rejected, Some("not this week"), 20),
            (Pending, None, 30),
            (Approved, None, 40),
            (Removed, Some("spam"), 50),
            (Left, None, 60),
            (Banned, Some("spam again, with é and \u{1F600}"), 70),
        ] {
            storage
                .set_memberships(&[reasoned(status, reason, at)])
                .await
                .unwrap();
            assert_eq!(
                storage.membership(&r, &user("bob")).await.unwrap(),
                Some(membership(status, false))
            );
            assert_eq!(
                storage.membership_since(&r, &user("bob")).await.unwrap(),
                Some(Since {
                    membership: membership(status, false),
                    updated_at_ms: at,
                }),
                "the time of the last change ({status:?})"
            );
            assert_eq!(
                reason_of(storage.members(&r).await.unwrap(), "bob"),
                Some((status, reason.map(str::to_owned)))
            );
        }
        // A user's rooms list every status, for the service to filter.
        let rooms = storage.rooms_of_user(&user("bob")).await.unwrap();
        assert_eq!(
            rooms.iter().map(|room| room.status).collect::<Vec<_>>(),
            vec![Banned]
        );
    }

    pub async fn a_membership_change_is_stored_only_while_its_precondition_holds(
        storage: Arc<dyn Storage>,
    ) {
        use MemberStatus::{Approved, Banned, Pending};
        let storage = &*storage;
        create_users(storage, &["alice", "bob", "carol"]).await;
        create_room(storage, "r", "alice", 0).await;
        let r = room_id("r");
        let when = |precondition, membership, at| MembershipChange {
            only_if: precondition,
            ..change(&r, &user("bob"), membership, at)
        };
        let (pending, approved, banned) = (
            membership(Pending, false),
            membership(Approved, false),
            membership(Banned, false),
        );
        // Bob knocks (no row yet); a second "first knock" finds his row and is not stored.
        let stored = storage
            .set_memberships(&[
                when(Precondition::Absent, pending, 10),
                when(Precondition::Absent, banned, 11),
            ])
            .await
            .unwrap();
        assert_eq!(stored, [true, false]);
        // An admin bans him while another approves him, both having seen him pending: in
        // whichever order they arrive, the second finds the row changed and is not stored.
        let stored = storage
            .set_memberships(&[
                when(Precondition::Is(pending), banned, 20),
                when(Precondition::Is(pending), approved, 21),
            ])
            .await
            .unwrap();
        assert_eq!(stored, [true, false]);
        assert_eq!(
            storage.membership_since(&r, &user("bob")).await.unwrap(),
            Some(Since {
                membership: banned,
                updated_at_ms: 20
            })
        );
        // What holds is stored, and `Any` is stored over anything.
        let stored = storage
            .set_memberships(&[
                when(Precondition::Is(banned), pending, 30),
                when(Precondition::Any, approved, 31),
            ])
            .await
            .unwrap();
        assert_eq!(stored, [true, true]);
        assert_eq!(
            storage.membership(&r, &user("bob")).await.unwrap(),
            Some(approved)
        );
        // The admin flag is part of what is expected.
        let stored = storage
            .set_memberships(&[when(
                Precondition::Is(membership(Approved, true)),
                banned,
                40,
            )])
            .await
            .unwrap();
        assert_eq!(stored, [false]);
    }

    pub async fn deleting_a_room_deletes_its_memberships_and_messages(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "doomed", "alice", 0).await;
        create_room(storage, "kept", "alice", 0).await;
        let (doomed, kept) = (room_id("doomed"), room_id("kept"));
        for room in [&doomed, &kept] {
            set(
                storage,
                room,
                &user("bob"),
                membership(MemberStatus::Approved, false),
                5,
            )
            .await;
        }
        let batch = [
            new_message("doomed", "bob", "one", 1, None),
            new_message("kept", "bob", "two", 2, None),
        ];
        storage.insert_messages(&batch).await.unwrap();

        assert!(storage.delete_room(&doomed).await.unwrap());
        assert!(!storage.delete_room(&doomed).await.unwrap(), "deleted once");
        assert_eq!(storage.room(&doomed).await.unwrap(), None);
        assert_eq!(
            storage.membership(&doomed, &user("bob")).await.unwrap(),
            None
        );
        assert_empty(&storage.members(&doomed).await.unwrap());
        assert_empty(&all_messages(storage, "doomed").await);
        let rooms: Vec<RoomId> = storage
            .rooms_of_user(&user("bob"))
            .await
            .unwrap()
            .into_iter()
            .map(|room| room.room_id)
            .collect();
        assert_eq!(rooms, vec![kept.clone()]);
        // The other room is untouched, and messages for the deleted one are refused.
        assert_eq!(all_messages(storage, "kept").await.len(), 1);
        let refused = storage
            .insert_messages(&[new_message("doomed", "bob", "late", 3, None)])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::NotFound("room")),
            "{refused:?}"
        );
        let refused = storage
            .set_memberships(&[change(
                &doomed,
                &user("bob"),
                membership(MemberStatus::Pending, false),
                9,
            )])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::NotFound("room")),
            "{refused:?}"
        );
    }

    pub async fn memberships_need_an_existing_room_and_user(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "nomad"]).await;
        create_room(storage, "r", "alice", 0).await;
        let r = room_id("r");
        let pending = membership(MemberStatus::Pending, false);

        // A membership of a room that does not exist is refused and not stored.
        let missing = storage
            .set_memberships(&[change(&room_id("ghost"), &user("nomad"), pending, 90)])
            .await
            .unwrap_err();
        assert!(
            matches!(missing, StorageError::NotFound("room")),
            "{missing:?}"
        );
        assert_eq!(
            storage
                .membership(&room_id("ghost"), &user("nomad"))
                .await
                .unwrap(),
            None
        );
        let no_user = storage
            .set_memberships(&[change(&r, &user("ghost-user"), pending, 90)])
            .await
            .unwrap_err();
        assert!(
            matches!(no_user, StorageError::NotFound("user")),
            "a membership needs an existing user: {no_user:?}"
        );
        assert_eq!(
            storage.membership(&r, &user("ghost-user")).await.unwrap(),
            None
        );
        assert_eq!(storage.members(&r).await.unwrap().len(), 1);
    }

    pub async fn membership_batches_apply_in_order_or_not_at_all(storage: Arc<dyn Storage>) {
        use MemberStatus::{Approved, Pending};
        let storage = &*storage;
        create_users(storage, &["alice", "bob", "carol", "dave"]).await;
        create_room(storage, "r", "alice", 0).await;
        let r = room_id("r");
        let request =
            |name: &str, status, at| change(&r, &user(name), membership(status, false), at);

        // bob asks and is approved within one batch: the later change wins, and his
        // request time is that of the first insert (he stays ahead of carol).
        storage
            .set_memberships(&[
                request("bob", Pending, 10),
                request("carol", Pending, 20),
                request("bob", Approved, 30),
            ])
            .await
            .expect("batch");
        let members: Vec<_> = storage
            .members(&r)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.user_id.as_str().to_owned(), p.status))
            .collect();
        assert_eq!(
            members,
            vec![
                ("alice".to_owned(), Approved),
                ("bob".to_owned(), Approved),
                ("carol".to_owned(), Pending),
            ]
        );

        // One change naming a missing room fails the batch, and dave's request in the
        // same batch is not stored either.
        let ghost = MembershipChange {
            room_id: room_id("ghost"),
            ..request("dave", Pending, 40)
        };
        let refused = storage
            .set_memberships(&[request("dave", Pending, 40), ghost])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::NotFound("room")),
            "{refused:?}"
        );
        assert_eq!(storage.membership(&r, &user("dave")).await.unwrap(), None);
        // A missing user is told apart from a missing room.
        let refused = storage
            .set_memberships(&[request("nobody", Pending, 50)])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::NotFound("user")),
            "{refused:?}"
        );
        // An empty batch is a no-op, and the store still takes writes afterwards.
        storage.set_memberships(&[]).await.expect("empty batch");
        set(storage, &r, &user("dave"), membership(Pending, false), 60).await;
        assert_eq!(storage.members(&r).await.unwrap().len(), 4);
    }

    pub async fn seqs_are_gapless_per_room_across_batches(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "a", "alice", 1).await;
        create_room(storage, "b", "bob", 1).await;

        assert_empty(&storage.insert_messages(&[]).await.unwrap());

        let first = vec![
            new_message("a", "alice", "a one", 100, None),
            new_message("a", "alice", "a two", 101, Some("c-1")),
            new_message("b", "bob", "b one", 102, None),
        ];
        let inserted = storage.insert_messages(&first).await.unwrap();
        assert_eq!(inserted.len(), 3);
        assert_eq!(new_one(&inserted[0]), &stored(&first[0], 1));
        assert_eq!(new_one(&inserted[1]), &stored(&first[1], 2));
        assert_eq!(new_one(&inserted[2]), &stored(&first[2], 1));

        let second = vec![
            new_message("b", "alice", "b two", 103, None),
            new_message("a", "bob", "a three", 104, None),
            new_message("a", "alice", "a four", 105, Some("c-2")),
        ];
        let inserted = storage.insert_messages(&second).await.unwrap();
        assert_eq!(new_one(&inserted[0]), &stored(&second[0], 2));
        assert_eq!(new_one(&inserted[1]), &stored(&second[1], 3));
        assert_eq!(new_one(&inserted[2]), &stored(&second[2], 4));

        for single in 5..=7 {
            let one = new_message("a", "bob", &format!("a {single}"), 200, None);
            let inserted = storage
                .insert_messages(std::slice::from_ref(&one))
                .await
                .unwrap();
            assert_eq!(inserted, vec![Inserted::New(stored(&one, single))]);
        }

        assert_eq!(last_seq(storage, "a").await, 7);
        assert_eq!(last_seq(storage, "b").await, 2);

        let a = all_messages(storage, "a").await;
        assert_eq!(seqs(&a), vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(a[0], stored(&first[0], 1));
        assert_eq!(a[1], stored(&first[1], 2));
        assert_eq!(a[2], stored(&second[1], 3));
        assert_eq!(a[3], stored(&second[2], 4));
        assert!(a.iter().all(|message| message.room_id == room_id("a")));

        let b = all_messages(storage, "b").await;
        assert_eq!(b, vec![stored(&first[2], 1), stored(&second[0], 2)]);
    }

    pub async fn a_batch_with_an_unknown_room_stores_nothing(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "a", "alice", 1).await;
        storage
            .insert_messages(&[new_message("a", "alice", "kept", 1, None)])
            .await
            .unwrap();

        let batch = vec![
            new_message("a", "alice", "lost 1", 2, Some("lost-1")),
            new_message("ghost", "alice", "nowhere", 3, None),
            new_message("a", "alice", "lost 2", 4, None),
        ];
        let error = storage.insert_messages(&batch).await.unwrap_err();
        assert!(matches!(error, StorageError::NotFound("room")), "{error:?}");

        // The whole batch was rolled back: no message, no seq taken, no client id kept.
        assert_eq!(last_seq(storage, "a").await, 1);
        assert_eq!(seqs(&all_messages(storage, "a").await), vec![1]);
        let retry = new_message("a", "alice", "lost 1", 5, Some("lost-1"));
        let inserted = storage
            .insert_messages(std::slice::from_ref(&retry))
            .await
            .unwrap();
        assert_eq!(inserted, vec![Inserted::New(stored(&retry, 2))]);
    }

    pub async fn a_batch_with_an_unknown_sender_or_a_taken_id_stores_nothing(
        storage: Arc<dyn Storage>,
    ) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "a", "alice", 1).await;
        let kept = new_message("a", "alice", "kept", 1, None);
        storage
            .insert_messages(std::slice::from_ref(&kept))
            .await
            .unwrap();

        let unknown_sender = vec![
            new_message("a", "alice", "lost 1", 2, Some("lost-1")),
            new_message("a", "ghost", "from nobody", 3, None),
        ];
        let error = storage.insert_messages(&unknown_sender).await.unwrap_err();
        assert!(matches!(error, StorageError::NotFound("user")), "{error:?}");

        let mut taken_id = new_message("a", "alice", "same id", 4, None);
        taken_id.message_id = kept.message_id.clone();
        let batch = vec![
            new_message("a", "alice", "lost 1", 5, Some("lost-1")),
            taken_id,
        ];
        let error = storage.insert_messages(&batch).await.unwrap_err();
        assert!(matches!(error, StorageError::Conflict), "{error:?}");

        // Both batches were rolled back whole: no message, no seq, no client id kept.
        assert_eq!(last_seq(storage, "a").await, 1);
        assert_eq!(all_messages(storage, "a").await, vec![stored(&kept, 1)]);
        let retry = new_message("a", "alice", "lost 1", 6, Some("lost-1"));
        let inserted = storage
            .insert_messages(std::slice::from_ref(&retry))
            .await
            .unwrap();
        assert_eq!(inserted, vec![Inserted::New(stored(&retry, 2))]);
    }

    pub async fn client_msg_ids_deduplicate_per_user(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "a", "alice", 1).await;
        create_room(storage, "b", "alice", 1).await;

        let original = new_message("a", "alice", "hello", 100, Some("c1"));
        let inserted = storage
            .insert_messages(std::slice::from_ref(&original))
            .await
            .unwrap();
        let first = new_one(&inserted[0]).clone();
        assert_eq!(first, stored(&original, 1));

        // A retry in a later batch (new message id, even new text): the stored message.
        let retry = new_message("a", "alice", "hello (retry)", 150, Some("c1"));
        let inserted = storage
            .insert_messages(std::slice::from_ref(&retry))
            .await
            .unwrap();
        assert_eq!(inserted, vec![Inserted::Duplicate(first.clone())]);
        assert_eq!(last_seq(storage, "a").await, 1);

        // Twice in one batch, between other messages: the second copy is a duplicate of
        // the first, and the messages after it take the next seqs without a gap.
        let batch = vec![
            new_message("a", "alice", "twice", 200, Some("c2")),
            new_message("a", "bob", "between", 201, None),
            new_message("a", "alice", "twice", 202, Some("c2")),
            new_message("a", "alice", "hello again", 203, Some("c1")),
            new_message("a", "bob", "after", 204, Some("c2")),
        ];
        let inserted = storage.insert_messages(&batch).await.unwrap();
        assert_eq!(inserted.len(), 5);
        let twice = new_one(&inserted[0]).clone();
        assert_eq!(twice, stored(&batch[0], 2));
        assert_eq!(new_one(&inserted[1]), &stored(&batch[1], 3));
        assert_eq!(duplicate_one(&inserted[2]), &twice);
        assert_eq!(duplicate_one(&inserted[3]), &first);
        // Another user may use the same client id.
        assert_eq!(new_one(&inserted[4]), &stored(&batch[4], 4));

        // The client id belongs to the user, not to the room.
        let elsewhere = new_message("b", "alice", "elsewhere", 300, Some("c1"));
        let inserted = storage
            .insert_messages(std::slice::from_ref(&elsewhere))
            .await
            .unwrap();
        assert_eq!(inserted, vec![Inserted::Duplicate(first.clone())]);
        assert_eq!(last_seq(storage, "b").await, 0);

        // Without a client id, nothing is deduplicated.
        let plain = vec![
            new_message("a", "bob", "same", 400, None),
            new_message("a", "bob", "same", 400, None),
        ];
        let inserted = storage.insert_messages(&plain).await.unwrap();
        assert_eq!(new_one(&inserted[0]).seq, 5);
        assert_eq!(new_one(&inserted[1]).seq, 6);

        // Only the new messages were stored, each once.
        let a = all_messages(storage, "a").await;
        assert_eq!(seqs(&a), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            a.iter()
                .map(|message| message.message.as_str())
                .collect::<Vec<_>>(),
            vec!["hello", "twice", "between", "after", "same", "same"]
        );
        assert_empty(&all_messages(storage, "b").await);
    }

    pub async fn history_pages_backwards_and_forwards(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "a", "alice", 1).await;
        create_room(storage, "b", "alice", 1).await;
        create_room(storage, "empty", "alice", 1).await;

        // Interleave two rooms so that paging has to keep them apart.
        for i in 1..=10 {
            let batch = vec![
                new_message("a", "alice", &format!("a{i}"), 1000 + i, None),
                new_message("b", "alice", &format!("b{i}"), 1000 + i, None),
            ];
            storage.insert_messages(&batch).await.unwrap();
        }
        let a = room_id("a");
        let before = |seq: Option<u64>, limit: u32| storage.messages_before(&a, seq, limit);
        let after = |seq: u64, limit: u32| storage.messages_after(&a, seq, limit);

        assert_eq!(seqs(&before(None, 3).await.unwrap()), vec![8, 9, 10]);
        assert_eq!(seqs(&before(Some(8), 3).await.unwrap()), vec![5, 6, 7]);
        assert_eq!(seqs(&before(Some(5), 3).await.unwrap()), vec![2, 3, 4]);
        assert_eq!(seqs(&before(Some(2), 3).await.unwrap()), vec![1]);
        assert_eq!(seqs(&before(Some(1), 3).await.unwrap()), Vec::<u64>::new());
        assert_eq!(seqs(&before(Some(0), 3).await.unwrap()), Vec::<u64>::new());
        assert_eq!(seqs(&before(Some(11), 2).await.unwrap()), vec![9, 10]);
        assert_eq!(seqs(&before(Some(u64::MAX), 2).await.unwrap()), vec![9, 10]);
        assert_eq!(
            seqs(&before(None, 100).await.unwrap()),
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(&before(Some(4), 100).await.unwrap()),
            vec![1, 2, 3],
            "a limit beyond the start gives the rest"
        );
        assert_empty(&before(None, 0).await.unwrap());

        let page = before(Some(4), 2).await.unwrap();
        assert_eq!(
            page.iter()
                .map(|message| message.message.as_str())
                .collect::<Vec<_>>(),
            vec!["a2", "a3"]
        );
        assert!(page.iter().all(|message| message.room_id == a));

        assert_eq!(seqs(&after(0, 4).await.unwrap()), vec![1, 2, 3, 4]);
        assert_eq!(seqs(&after(4, 4).await.unwrap()), vec![5, 6, 7, 8]);
        assert_eq!(seqs(&after(8, 4).await.unwrap()), vec![9, 10]);
        assert_empty(&after(10, 4).await.unwrap());
        assert_empty(&after(u64::MAX, 4).await.unwrap());
        assert_empty(&after(0, 0).await.unwrap());
        let page = after(6, 1).await.unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].seq, 7);
        assert_eq!(page[0].message, "a7");
        assert_eq!(page[0].timestamp, 1007);
        assert_eq!(page[0].user_id, user("alice"));
        assert_eq!(page[0].room_id, a);

        let b = storage
            .messages_before(&room_id("b"), None, 2)
            .await
            .unwrap();
        assert_eq!(
            b.iter()
                .map(|message| message.message.as_str())
                .collect::<Vec<_>>(),
            vec!["b9", "b10"]
        );

        for room in ["empty", "ghost"] {
            assert_empty(
                &storage
                    .messages_before(&room_id(room), None, 10)
                    .await
                    .unwrap(),
            );
            assert_empty(&storage.messages_after(&room_id(room), 0, 10).await.unwrap());
        }
    }

    pub async fn rooms_of_user_lists_every_status_by_activity(storage: Arc<dyn Storage>) {
        use MemberStatus::{Approved, Pending, Rejected};
        let storage = &*storage;
        create_users(storage, &["alice", "bob", "carol", "dave"]).await;
        create_room(storage, "r1", "alice", 100).await;
        create_room(storage, "r2", "bob", 200).await;
        create_room(storage, "r3", "carol", 300).await;
        create_room(storage, "r4", "carol", 400).await;
        set(
            storage,
            &room_id("r2"),
            &user("alice"),
            membership(MemberStatus::Pending, false),
            210,
        )
        .await;
        set(
            storage,
            &room_id("r3"),
            &user("alice"),
            membership(MemberStatus::Pending, false),
            305,
        )
        .await;
        set(
            storage,
            &room_id("r3"),
            &user("alice"),
            membership(MemberStatus::Rejected, false),
            310,
        )
        .await;

        let summary = |rooms: &[knock_protocol::RoomSummary]| {
            rooms
                .iter()
                .map(|room| {
                    (
                        room.room_id.as_str().to_owned(),
                        room.room_name.clone(),
                        room.status,
                        room.is_admin,
                        room.last_seq,
                    )
                })
                .collect::<Vec<_>>()
        };
        let row = |id: &str, status, is_admin, last_seq| {
            (
                id.to_owned(),
                format!("{id} name"),
                status,
                is_admin,
                last_seq,
            )
        };

        // No messages yet: by the time of the last membership change.
        assert_eq!(
            summary(&storage.rooms_of_user(&user("alice")).await.unwrap()),
            vec![
                row("r3", Rejected, false, 0),
                row("r2", Pending, false, 0),
                row("r1", Approved, true, 0),
            ]
        );

        storage
            .insert_messages(&[
                new_message("r2", "bob", "r2 first", 900, None),
                new_message("r1", "alice", "r1 first", 1000, None),
                new_message("r2", "bob", "r2 second", 950, None),
                new_message("r4", "carol", "r4 first", 2000, None),
            ])
            .await
            .unwrap();

        // A room's newest message decides its place; r3 has none, so its change does.
        assert_eq!(
            summary(&storage.rooms_of_user(&user("alice")).await.unwrap()),
            vec![
                row("r1", Approved, true, 1),
                row("r2", Pending, false, 2),
                row("r3", Rejected, false, 0),
            ]
        );
        assert_eq!(
            summary(&storage.rooms_of_user(&user("bob")).await.unwrap()),
            vec![row("r2", Approved, true, 2)]
        );
        assert_eq!(
            summary(&storage.rooms_of_user(&user("carol")).await.unwrap()),
            vec![row("r4", Approved, true, 1), row("r3", Approved, true, 0)]
        );
        assert_empty(&storage.rooms_of_user(&user("dave")).await.unwrap());
        assert_empty(&storage.rooms_of_user(&user("nobody")).await.unwrap());
    }

    /// Read state (issue 18): `alice` admin of `r`, `bob` and `carol` approved members.
    async fn read_state_room(storage: &dyn Storage) {
        if storage.credential(&user("alice")).await.unwrap().is_none() {
            create_users(storage, &["alice", "bob", "carol", "dave", "erin"]).await;
        }
        create_room(storage, "r", "alice", 1).await;
        for name in ["bob", "carol"] {
            set(
                storage,
                &room_id("r"),
                &user(name),
                membership(MemberStatus::Approved, false),
                2,
            )
            .await;
        }
    }

    fn mentioning(room: &str, sender: &str, text: &str, mentions: &[&str]) -> NewMessage {
        NewMessage {
            mentions: mentions.iter().map(|name| user(name)).collect(),
            ..new_message(room, sender, text, 10, None)
        }
    }

    /// `(readSeq, unreadCount, mentionCount, pendingCount)` of the user's row of `room`.
    async fn read_state(
        storage: &dyn Storage,
        name: &str,
        room: &str,
    ) -> (u64, u64, u64, Option<u64>) {
        let rooms = storage.rooms_of_user(&user(name)).await.expect("rooms");
        let row = rooms
            .iter()
            .find(|row| row.room_id == room_id(room))
            .unwrap_or_else(|| panic!("{name} has no row of {room}"));
        (
            row.read_seq,
            row.unread_count,
            row.mention_count,
            row.pending_count,
        )
    }

    pub async fn mentions_are_stored_with_their_message(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        read_state_room(storage).await;
        let with = mentioning("r", "alice", "@carol @bob", &["carol", "bob"]);
        let retry = NewMessage {
            client_msg_id: Some(ClientMsgId::new("c1")),
            ..mentioning("r", "bob", "hi @alice", &["alice"])
        };
        let inserted = storage
            .insert_messages(&[
                new_message("r", "bob", "plain", 10, None),
                with.clone(),
                retry.clone(),
            ])
            .await
            .unwrap();
        assert_eq!(new_one(&inserted[1]), &stored(&with, 2));
        // History and catch-up carry them, in order; a message without has none.
        let all = all_messages(storage, "r").await;
        assert_eq!(all[0].mentions, Vec::<UserId>::new());
        assert_eq!(all[1].mentions, vec![user("carol"), user("bob")]);
        assert_eq!(
            storage
                .messages_before(&room_id("r"), None, 1)
                .await
                .unwrap()[0]
                .mentions,
            vec![user("alice")]
        );
        // A retry is answered with the stored message, mentions included.
        let again = storage
            .insert_messages(std::slice::from_ref(&retry))
            .await
            .unwrap();
        assert_eq!(duplicate_one(&again[0]).mentions, vec![user("alice")]);
        // They go with the room: a room made again under its id counts none of them.
        assert!(storage.delete_room(&room_id("r")).await.unwrap());
        read_state_room(storage).await;
        storage
            .insert_messages(&[
                new_message("r", "alice", "1", 10, None),
                new_message("r", "alice", "2", 10, None),
            ])
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (0, 2, 0, None));
    }

    pub async fn the_read_marker_never_moves_back_nor_past_the_newest_seq(
        storage: Arc<dyn Storage>,
    ) {
        let storage = &*storage;
        read_state_room(storage).await;
        let r = room_id("r");
        // An empty room: nothing to read, the marker stays at 0.
        assert_eq!(storage.mark_read(&r, &user("bob"), 5).await.unwrap(), None);
        let batch: Vec<NewMessage> = (0..6)
            .map(|n| new_message("r", "alice", &format!("m{n}"), 10, None))
            .collect();
        storage.insert_messages(&batch).await.unwrap();
        assert_eq!(
            storage.mark_read(&r, &user("bob"), 3).await.unwrap(),
            Some(3)
        );
        assert_eq!(read_state(storage, "bob", "r").await.0, 3);
        // Lower or equal: nothing moves.
        assert_eq!(storage.mark_read(&r, &user("bob"), 2).await.unwrap(), None);
        assert_eq!(storage.mark_read(&r, &user("bob"), 3).await.unwrap(), None);
        assert_eq!(read_state(storage, "bob", "r").await.0, 3);
        // Beyond the newest seq: the newest seq.
        assert_eq!(
            storage.mark_read(&r, &user("bob"), u64::MAX).await.unwrap(),
            Some(6)
        );
        assert_eq!(storage.mark_read(&r, &user("bob"), 7).await.unwrap(), None);
        // One user's marker is theirs alone.
        assert_eq!(read_state(storage, "carol", "r").await.0, 0);
        // Not approved (a stranger, a pending user), or no such room: nothing.
        assert_eq!(storage.mark_read(&r, &user("dave"), 4).await.unwrap(), None);
        set(
            storage,
            &r,
            &user("erin"),
            membership(MemberStatus::Pending, false),
            3,
        )
        .await;
        assert_eq!(storage.mark_read(&r, &user("erin"), 4).await.unwrap(), None);
        assert_eq!(
            storage
                .mark_read(&room_id("ghost"), &user("bob"), 4)
                .await
                .unwrap(),
            None
        );
    }

    pub async fn unread_and_mention_counts_start_after_the_marker_and_skip_own_messages(
        storage: Arc<dyn Storage>,
    ) {
        let storage = &*storage;
        read_state_room(storage).await;
        storage
            .insert_messages(&[
                new_message("r", "alice", "1", 10, None),
                mentioning("r", "alice", "2 @bob", &["bob"]),
                new_message("r", "bob", "3 mine", 10, None),
                mentioning("r", "bob", "4 mine @bob @carol", &["bob", "carol"]),
                mentioning("r", "carol", "5 @bob", &["bob"]),
                new_message("r", "carol", "6", 10, None),
            ])
            .await
            .unwrap();
        // Members approved before any message: everything by others is unread.
        assert_eq!(read_state(storage, "bob", "r").await, (0, 4, 2, None));
        assert_eq!(read_state(storage, "carol", "r").await, (0, 4, 1, None));
        assert_eq!(read_state(storage, "alice", "r").await, (0, 4, 0, Some(0)));
        storage
            .mark_read(&room_id("r"), &user("bob"), 2)
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (2, 2, 1, None));
        storage
            .mark_read(&room_id("r"), &user("bob"), 5)
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (5, 1, 0, None));
        storage
            .mark_read(&room_id("r"), &user("bob"), 6)
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (6, 0, 0, None));
        // Other rooms are counted apart, in the same answer.
        create_room(storage, "s", "bob", 20).await;
        storage
            .insert_messages(&[new_message("s", "bob", "alone", 30, None)])
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "s").await, (0, 0, 0, Some(0)));
        assert_eq!(read_state(storage, "bob", "r").await, (6, 0, 0, None));
    }

    /// Edits and deletions are entries of the log but not messages: they add nothing to the
    /// counts. An edit keeps the mentions the message was sent with; a deleted message
    /// shows none and counts for no one.
    pub async fn edits_keep_mentions_and_deleted_messages_count_as_neither_unread_nor_mentions(
        storage: Arc<dyn Storage>,
    ) {
        let storage = &*storage;
        read_state_room(storage).await;
        let first = mentioning("r", "alice", "1 @bob", &["bob"]);
        let second = mentioning("r", "alice", "2 @bob @carol", &["bob", "carol"]);
        storage
            .insert_messages(&[
                first.clone(),
                second.clone(),
                new_message("r", "alice", "3", 10, None),
            ])
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (0, 3, 2, None));
        // An edit (seq 4) is no message and recomputes nothing.
        storage
            .change_message(&edit("r", &first.message_id, "1 edited, no mention", 11))
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (0, 3, 2, None));
        // The deletion (seq 5) of a message after bob's and carol's markers.
        storage
            .change_message(&delete("r", &second.message_id, 12))
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (0, 2, 1, None));
        assert_eq!(read_state(storage, "carol", "r").await, (0, 2, 0, None));
        // Every read that returns messages: the edited one keeps its mentions, the
        // tombstone has none.
        let all = all_messages(storage, "r").await;
        assert_eq!(all[0].mentions, vec![user("bob")]);
        assert_eq!(all[0].message, "1 edited, no mention");
        assert!(all[1].deleted);
        assert_eq!(all[1].mentions, Vec::<UserId>::new());
        let before = storage
            .messages_before(&room_id("r"), None, 10)
            .await
            .unwrap();
        assert_eq!(before[1].mentions, Vec::<UserId>::new());
        let single = storage
            .message(&room_id("r"), &second.message_id)
            .await
            .unwrap()
            .expect("the tombstone");
        assert!(single.deleted && single.mentions.is_empty());
        let log = storage.log_after(&room_id("r"), 0, 10).await.unwrap();
        assert_eq!(log.len(), 5);
        let LogEntry::Message(tombstone) = &log[1] else {
            panic!("the second entry is a message: {log:?}");
        };
        assert!(tombstone.deleted && tombstone.mentions.is_empty());
        // The marker may stand on a change's seq: everything is read.
        assert_eq!(
            storage
                .mark_read(&room_id("r"), &user("bob"), 5)
                .await
                .unwrap(),
            Some(5)
        );
        assert_eq!(read_state(storage, "bob", "r").await, (5, 0, 0, None));
    }

    pub async fn pending_requests_are_counted_for_approved_admins_only(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        read_state_room(storage).await;
        let r = room_id("r");
        set(
            storage,
            &r,
            &user("dave"),
            membership(MemberStatus::Pending, false),
            3,
        )
        .await;
        set(
            storage,
            &r,
            &user("erin"),
            membership(MemberStatus::Pending, false),
            3,
        )
        .await;
        assert_eq!(read_state(storage, "alice", "r").await.3, Some(2));
        assert_eq!(read_state(storage, "bob", "r").await.3, None);
        // A pending user sees no counts of the room.
        assert_eq!(read_state(storage, "dave", "r").await, (0, 0, 0, None));
        set(
            storage,
            &r,
            &user("dave"),
            membership(MemberStatus::Rejected, false),
            4,
        )
        .await;
        set(
            storage,
            &r,
            &user("bob"),
            membership(MemberStatus::Approved, true),
            4,
        )
        .await;
        assert_eq!(read_state(storage, "alice", "r").await.3, Some(1));
        assert_eq!(read_state(storage, "bob", "r").await.3, Some(1));
        set(
            storage,
            &r,
            &user("erin"),
            membership(MemberStatus::Approved, false),
            5,
        )
        .await;
        assert_eq!(read_state(storage, "alice", "r").await.3, Some(0));
        // An admin who left is no admin of the room's requests.
        set(
            storage,
            &r,
            &user("carol"),
            membership(MemberStatus::Pending, false),
            6,
        )
        .await;
        set(
            storage,
            &r,
            &user("bob"),
            membership(MemberStatus::Left, true),
            6,
        )
        .await;
        assert_eq!(read_state(storage, "bob", "r").await.3, None);
        assert_eq!(read_state(storage, "alice", "r").await.3, Some(1));
    }

    pub async fn leaving_and_coming_back_starts_reading_at_the_return(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        read_state_room(storage).await;
        let r = room_id("r");
        let say = |text: &str| new_message("r", "alice", text, 10, None);
        storage
            .insert_messages(&[say("1"), say("2")])
            .await
            .unwrap();
        storage.mark_read(&r, &user("bob"), 1).await.unwrap();
        set(
            storage,
            &r,
            &user("bob"),
            membership(MemberStatus::Left, false),
            3,
        )
        .await;
        storage
            .insert_messages(&[say("3"), mentioning("r", "alice", "4 @bob", &["bob"])])
            .await
            .unwrap();
        // Gone: no counts, and the marker does not move.
        assert_eq!(read_state(storage, "bob", "r").await, (0, 0, 0, None));
        assert_eq!(storage.mark_read(&r, &user("bob"), 4).await.unwrap(), None);
        // Asking again and being let back in: what was said meanwhile is not unread.
        set(
            storage,
            &r,
            &user("bob"),
            membership(MemberStatus::Pending, false),
            4,
        )
        .await;
        assert_eq!(read_state(storage, "bob", "r").await, (0, 0, 0, None));
        set(
            storage,
            &r,
            &user("bob"),
            membership(MemberStatus::Approved, false),
            5,
        )
        .await;
        assert_eq!(read_state(storage, "bob", "r").await, (4, 0, 0, None));
        storage
            .insert_messages(&[mentioning("r", "carol", "5 @bob", &["bob"])])
            .await
            .unwrap();
        assert_eq!(read_state(storage, "bob", "r").await, (4, 1, 1, None));
        // A first approval starts at the room's newest seq too; a role change moves nothing.
        set(
            storage,
            &r,
            &user("dave"),
            membership(MemberStatus::Approved, false),
            6,
        )
        .await;
        assert_eq!(read_state(storage, "dave", "r").await, (5, 0, 0, None));
        set(
            storage,
            &r,
            &user("bob"),
            membership(MemberStatus::Approved, true),
            7,
        )
        .await;
        assert_eq!(read_state(storage, "bob", "r").await, (4, 1, 1, Some(0)));
    }

    pub async fn concurrent_batches_get_distinct_gapless_seqs(storage: Arc<dyn Storage>) {
        const TASKS: usize = 8;
        const BATCHES: usize = 10;
        create_users(&*storage, &["alice", "bob"]).await;
        create_room(&*storage, "busy", "alice", 1).await;
        create_room(&*storage, "quiet", "bob", 1).await;

        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let storage = Arc::clone(&storage);
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for batch_no in 0..BATCHES {
                    // Batches of 1 to 3, some with client ids, some touching another room.
                    let size = 1 + (task + batch_no) % 3;
                    let mut batch = Vec::new();
                    for i in 0..size {
                        let text = format!("t{task}-b{batch_no}-m{i}");
                        let client_id = (i % 2 == 0).then(|| text.clone());
                        batch.push(new_message("busy", "alice", &text, 7, client_id.as_deref()));
                    }
                    if batch_no % 4 == 0 {
                        batch.push(new_message("quiet", "bob", "aside", 7, None));
                    }
                    let inserted = storage.insert_messages(&batch).await.unwrap();
                    assert_eq!(inserted.len(), batch.len());
                    for (sent, result) in batch.iter().zip(&inserted) {
                        let message = new_one(result);
                        assert_eq!(message.message, sent.message);
                        assert_eq!(message.message_id, sent.message_id);
                        if sent.room_id == room_id("busy") {
                            mine.push(message.seq);
                        }
                    }
                }
                mine
            }));
        }

        let mut all = Vec::new();
        for task in tasks {
            let mine = task.await.expect("task");
            // One task's messages keep their order.
            assert!(mine.windows(2).all(|pair| pair[0] < pair[1]), "{mine:?}");
            all.extend(mine);
        }
        let total = u64::try_from(all.len()).unwrap();
        all.sort_unstable();
        assert_eq!(all, (1..=total).collect::<Vec<_>>());

        assert_eq!(last_seq(&*storage, "busy").await, total);
        let stored_busy = all_messages(&*storage, "busy").await;
        assert_eq!(seqs(&stored_busy), (1..=total).collect::<Vec<_>>());
        let quiet_expected = u64::try_from(TASKS * BATCHES.div_ceil(4)).unwrap();
        assert_eq!(last_seq(&*storage, "quiet").await, quiet_expected);
        assert_eq!(
            seqs(&all_messages(&*storage, "quiet").await),
            (1..=quiet_expected).collect::<Vec<_>>()
        );
    }

    pub async fn concurrent_retries_store_one_message(storage: Arc<dyn Storage>) {
        const COPIES: usize = 6;
        create_users(&*storage, &["alice"]).await;
        create_room(&*storage, "r", "alice", 1).await;

        let mut tasks = Vec::new();
        for copy in 0..COPIES {
            let storage = Arc::clone(&storage);
            tasks.push(tokio::spawn(async move {
                let sent = new_message("r", "alice", &format!("copy {copy}"), 5, Some("once"));
                storage.insert_messages(&[sent]).await.unwrap().remove(0)
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }

        let new: Vec<_> = results
            .iter()
            .filter(|result| matches!(result, Inserted::New(_)))
            .collect();
        assert_eq!(new.len(), 1, "exactly one copy is stored: {results:?}");
        let winner = new[0].message();
        assert_eq!(winner.seq, 1);
        assert!(results.iter().all(|result| result.message() == winner));
        assert_eq!(all_messages(&*storage, "r").await, vec![winner.clone()]);
    }

    pub async fn data_survives_reopening(fixture: &Fixture) {
        let sent = {
            let storage = fixture.open().await;
            let storage = &*storage;
            create_users(storage, &["alice", "bob"]).await;
            storage
                .create_session(&session("token-hash", "bob", 5))
                .await
                .unwrap();
            create_room(storage, "r", "alice", 10).await;
            set(
                storage,
                &room_id("r"),
                &user("bob"),
                membership(MemberStatus::Approved, false),
                20,
            )
            .await;
            let sent = vec![
                new_message("r", "alice", "first", 30, Some("c1")),
                new_message("r", "bob", "second", 31, None),
            ];
            storage.insert_messages(&sent).await.unwrap();
            sent
            // The storage is dropped here.
        };

        let storage = fixture.open().await;
        let storage = &*storage;
        assert_eq!(
            storage.credential(&user("alice")).await.unwrap(),
            Some(Credential {
                user_id: user("alice"),
                password_hash: hash_of("alice"),
                created_at: 1,
            })
        );
        assert_eq!(
            storage.session("token-hash").await.unwrap(),
            Some(session("token-hash", "bob", 5))
        );
        assert_eq!(
            storage.room(&room_id("r")).await.unwrap(),
            Some(Room {
                room_id: room_id("r"),
                room_name: "r name".to_owned(),
                last_seq: 2,
            })
        );
        assert_eq!(
            storage
                .membership(&room_id("r"), &user("bob"))
                .await
                .unwrap(),
            Some(membership(MemberStatus::Approved, false))
        );
        assert_eq!(storage.members(&room_id("r")).await.unwrap().len(), 2);
        assert_eq!(
            all_messages(storage, "r").await,
            vec![stored(&sent[0], 1), stored(&sent[1], 2)]
        );

        // Dedup and seqs carry on from the stored state.
        let retry = new_message("r", "alice", "first", 40, Some("c1"));
        let next = new_message("r", "alice", "third", 41, None);
        let inserted = storage
            .insert_messages(&[retry, next.clone()])
            .await
            .unwrap();
        assert_eq!(
            inserted,
            vec![
                Inserted::Duplicate(stored(&sent[0], 1)),
                Inserted::New(stored(&next, 3)),
            ]
        );
        let summary = storage.rooms_of_user(&user("bob")).await.unwrap();
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].last_seq, 3);
    }

    /// Every word of the query, in any case and with or without the diacritics of Latin
    /// letters; letters of any script; quoted phrases as phrases.
    pub async fn search_finds_every_word_whatever_its_case_and_accents(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        let texts = [
            "Meet me at the Café tomorrow",
            "The cafe is closed",
            "CRÈME brûlée for dessert, señor",
            "Привет, как ДЕЛА?",
            "Καλημέρα ΚΌΣΜΕ",
            "green tea and black coffee",
            "black tea, green coffee",
            "東京 タワー 東京タワーに行く",
            "write to bob@example.com or e-mail me",
            "한국어 검색",
        ];
        let batch: Vec<NewMessage> = texts
            .iter()
            .zip(1..)
            .map(|(text, at)| new_message("r", "alice", text, at, None))
            .collect();
        storage.insert_messages(&batch).await.unwrap();
        let found = |query: &'static str| texts_found(storage, "r", query);

        assert_eq!(found("cafe").await, [texts[1], texts[0]], "newest first");
        assert_eq!(found("CAFÉ").await, [texts[1], texts[0]]);
        assert_eq!(found("café tomorrow").await, [texts[0]]);
        assert_eq!(found("creme BRULEE senor").await, [texts[2]]);
        assert_eq!(found("Crème").await, [texts[2]]);
        assert_eq!(found("привет").await, [texts[3]]);
        assert_eq!(found("ПРИВЕТ дела").await, [texts[3]]);
        assert_eq!(found("καλημέρα κόσμε").await, [texts[4]]);
        assert_eq!(found("ΚΑΛΗΜΈΡΑ").await, [texts[4]]);
        assert_eq!(found("green tea").await, [texts[6], texts[5]]);
        assert_eq!(found(r#""green tea""#).await, [texts[5]]);
        assert_eq!(found(r#""black tea" coffee"#).await, [texts[6]]);
        assert_eq!(found(r#""tea black""#).await, Vec::<String>::new());
        // CJK: a word is a run of characters between spaces or punctuation, so a part of
        // a run is not found (the same on both engines).
        assert_eq!(found("東京").await, [texts[7]]);
        assert_eq!(found("タワー").await, [texts[7]]);
        assert_eq!(found("東京タワーに行く").await, [texts[7]]);
        assert_eq!(found("行く").await, Vec::<String>::new());
        assert_eq!(found("검색").await, [texts[9]]);
        // Punctuation separates words, in messages as in queries.
        assert_eq!(found("example").await, [texts[8]]);
        assert_eq!(found("bob example com").await, [texts[8]]);
        assert_eq!(found(r#""example.com""#).await, [texts[8]]);
        assert_eq!(found("e-mail").await, [texts[8]]);
        assert_eq!(found("mail").await, [texts[8]]);
        assert_eq!(found("absent").await, Vec::<String>::new());
        assert_eq!(found("cafe absent").await, Vec::<String>::new());
    }

    /// Characters that are syntax to FTS5 or to tsquery are separators in a query, and the
    /// words among them are plain words.
    pub async fn search_reads_engine_syntax_as_words(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        let tricky = r#"a "quoted" NEAR(star*) AND -minus: ^caret (OR) NOT x'y & z | !w <-> <2>"#;
        let plain = "nothing special here";
        storage
            .insert_messages(&[
                new_message("r", "alice", tricky, 1, None),
                new_message("r", "alice", plain, 2, None),
            ])
            .await
            .unwrap();
        for query in [
            "NEAR(star*)",
            "star*",
            "AND",
            "OR",
            "NOT",
            "-minus",
            "minus:",
            "^caret",
            "(OR)",
            r#""quoted""#,
            "x'y",
            "z | w",
            "!w & z",
            "<-> 2",
            r#"NEAR("star" "caret", 2)"#,
            r#""NOT x"#,
            "*",
        ]
        .into_iter()
        .filter(|query| search_query(query).is_ok())
        {
            assert_eq!(
                texts_found(storage, "r", query).await,
                [tricky],
                "{query:?}"
            );
        }
        assert_eq!(
            texts_found(storage, "r", "special OR star").await,
            Vec::<String>::new(),
            "OR is a word that must be there too, not an operator"
        );
        // Column filters are words too: no column is named, no room is widened.
        for query in ["body:star", "room_key:star", "{body}: star", "r72 OR star"] {
            assert_empty(&texts_found(storage, "r", query).await);
        }
    }

    /// Newest first, every page from where the last ended, and never a message of a room
    /// not given.
    pub async fn search_pages_newest_first_within_the_rooms_given(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        for room in ["a", "b", "c"] {
            create_room(storage, room, "alice", 0).await;
        }
        for n in 1..=5 {
            let batch: Vec<NewMessage> = ["a", "b", "c"]
                .iter()
                .map(|room| new_message(room, "alice", &format!("tea {room} {n}"), n, None))
                .collect();
            storage.insert_messages(&batch).await.unwrap();
        }
        let (a, b) = (room_id("a"), room_id("b"));
        let both = [a.clone(), b.clone()];

        let mut pages = Vec::new();
        let mut before_position = None;
        loop {
            let within = SearchIn::Rooms {
                room_ids: &both,
                before_position,
            };
            let page = search(storage, "tea", within, 3).await;
            let Some(last) = page.last() else { break };
            before_position = Some(last.position);
            pages.push(page);
        }
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        let all: Vec<&FoundMessage> = pages.iter().flatten().collect();
        let texts: Vec<&str> = all
            .iter()
            .map(|found| found.message.message.as_str())
            .collect();
        assert_eq!(
            texts,
            [
                "tea b 5", "tea a 5", "tea b 4", "tea a 4", "tea b 3", "tea a 3", "tea b 2",
                "tea a 2", "tea b 1", "tea a 1"
            ],
            "newest first, in the order stored"
        );
        assert!(
            all.windows(2)
                .all(|pair| pair[0].position > pair[1].position)
        );
        many_rooms_find_the_same(storage, &both, &all).await;
        let a_found = &all[1].message;
        assert_eq!(
            (
                a_found.room_id.clone(),
                a_found.seq,
                a_found.user_id.clone()
            ),
            (a.clone(), 5, user("alice"))
        );

        let only_a = search(
            storage,
            "TEA",
            SearchIn::Rooms {
                room_ids: std::slice::from_ref(&a),
                before_position: None,
            },
            50,
        )
        .await;
        assert_eq!(only_a.len(), 5);
        assert!(only_a.iter().all(|found| found.message.room_id == a));
        let none = search(
            storage,
            "tea",
            SearchIn::Rooms {
                room_ids: &[],
                before_position: None,
            },
            50,
        )
        .await;
        assert_empty(&none);

        one_room_pages_by_seq(storage, &b).await;
    }

    /// A deleted room's messages are gone from the index with it; the others stay found.
    pub async fn search_forgets_the_messages_of_a_deleted_room(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "doomed", "alice", 0).await;
        create_room(storage, "kept", "alice", 0).await;
        storage
            .insert_messages(&[
                new_message("doomed", "alice", "secret plans", 1, None),
                new_message("kept", "alice", "public plans", 2, None),
            ])
            .await
            .unwrap();
        assert!(storage.delete_room(&room_id("doomed")).await.unwrap());
        let rooms = [room_id("doomed"), room_id("kept")];
        let within = SearchIn::Rooms {
            room_ids: &rooms,
            before_position: None,
        };
        let found: Vec<String> = search(storage, "plans", within, 50)
            .await
            .into_iter()
            .map(|found| found.message.message)
            .collect();
        assert_eq!(found, ["public plans"]);
        assert_empty(&texts_found(storage, "doomed", "secret").await);
        // A room made again with the same id starts with nothing to find.
        create_room(storage, "doomed", "alice", 3).await;
        storage
            .insert_messages(&[new_message("doomed", "alice", "new plans", 4, None)])
            .await
            .unwrap();
        assert_eq!(texts_found(storage, "doomed", "plans").await, ["new plans"]);
    }

    /// An edit or a deletion is an entry of the room's log: it takes the room's next seq,
    /// between the messages stored before and after it, and the message reads as it is now.
    pub async fn edits_and_deletions_take_the_rooms_next_seq_between_messages(
        storage: Arc<dyn Storage>,
    ) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "r", "alice", 0).await;
        let first = new_message("r", "alice", "helo", 1, None);
        let second = new_message("r", "bob", "oops", 2, None);
        storage
            .insert_messages(&[first.clone(), second.clone()])
            .await
            .unwrap();
        let edited = storage
            .change_message(&edit("r", &first.message_id, "hello", 10))
            .await
            .unwrap();
        assert_eq!(
            edited,
            Changed::Stored(LogEntry::Edited {
                room_id: room_id("r"),
                message_id: first.message_id.clone(),
                message: "hello".into(),
                edited_at: 10,
                seq: 3,
            })
        );
        let third = new_message("r", "alice", "later", 11, None);
        let stored = storage
            .insert_messages(std::slice::from_ref(&third))
            .await
            .unwrap();
        assert_eq!(new_one(&stored[0]).seq, 4, "after the edit's seq");
        let deleted = storage
            .change_message(&delete("r", &second.message_id, 12))
            .await
            .unwrap();
        assert_eq!(
            deleted,
            Changed::Stored(LogEntry::Deleted {
                room_id: room_id("r"),
                message_id: second.message_id.clone(),
                seq: 5,
            })
        );
        assert_eq!(last_seq(storage, "r").await, 5);
        let summary = &storage.rooms_of_user(&user("bob")).await.unwrap();
        assert_empty(summary);
        assert_eq!(
            storage.rooms_of_user(&user("alice")).await.unwrap()[0].last_seq,
            5,
            "rooms list the newest log entry"
        );

        // The messages as they read now: the edit's text and time, the deletion's tombstone.
        let now_first = ChatMessage {
            message: "hello".into(),
            edited_at: Some(10),
            ..stored_message(&first, 1)
        };
        let tombstone = ChatMessage {
            message: String::new(),
            deleted: true,
            ..stored_message(&second, 2)
        };
        let now_third = stored_message(&third, 4);
        let history = storage
            .messages_before(&room_id("r"), None, 50)
            .await
            .unwrap();
        assert_eq!(
            history,
            [now_first.clone(), tombstone.clone(), now_third.clone()]
        );
        assert_eq!(seqs(&all_messages(storage, "r").await), [1, 2, 4]);
        assert_eq!(
            storage
                .message(&room_id("r"), &first.message_id)
                .await
                .unwrap(),
            Some(now_first.clone())
        );

        // The log: every entry once, in seq order, from anywhere, in pages.
        let log = storage.log_after(&room_id("r"), 0, 50).await.unwrap();
        let expected = vec![
            LogEntry::Message(now_first),
            LogEntry::Message(tombstone),
            LogEntry::Edited {
                room_id: room_id("r"),
                message_id: first.message_id.clone(),
                message: "hello".into(),
                edited_at: 10,
                seq: 3,
            },
            LogEntry::Message(now_third),
            LogEntry::Deleted {
                room_id: room_id("r"),
                message_id: second.message_id.clone(),
                seq: 5,
            },
        ];
        assert_eq!(log, expected);
        log_pages_and_export(storage, &expected).await;
    }

    /// Every page of the log is the entries after its start, in order; the export holds
    /// the current text and leaves the deleted message out.
    async fn log_pages_and_export(storage: &dyn Storage, expected: &[LogEntry]) {
        for after in 0..=5 {
            for limit in 1..=3 {
                let page = storage
                    .log_after(&room_id("r"), after, limit)
                    .await
                    .unwrap();
                let want: Vec<LogEntry> = expected
                    .iter()
                    .filter(|entry| entry.seq() > after)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                assert_eq!(page, want, "after {after}, limit {limit}");
            }
        }

        let exported: Vec<String> = storage
            .messages_by_user(&user("bob"))
            .await
            .unwrap()
            .into_iter()
            .map(|message| message.message)
            .collect();
        assert_empty(&exported);
        let exported: Vec<String> = storage
            .messages_by_user(&user("alice"))
            .await
            .unwrap()
            .into_iter()
            .map(|message| message.message)
            .collect();
        assert_eq!(exported, ["hello", "later"]);
    }

    /// A change to a message that is not the room's, or deleted, or to the text it has,
    /// stores nothing and takes no seq.
    pub async fn edits_and_deletions_are_refused_on_messages_they_cannot_change(
        storage: Arc<dyn Storage>,
    ) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        create_room(storage, "other", "alice", 0).await;
        let message = new_message("r", "alice", "text", 1, None);
        let elsewhere = new_message("other", "alice", "there", 1, None);
        storage
            .insert_messages(&[message.clone(), elsewhere.clone()])
            .await
            .unwrap();
        let unknown = MessageId::new("no-such-message");
        for refused in [
            edit("r", &unknown, "x", 2),
            delete("r", &unknown, 2),
            edit("r", &elsewhere.message_id, "x", 2),
            delete("r", &elsewhere.message_id, 2),
        ] {
            assert_eq!(
                storage.change_message(&refused).await.unwrap(),
                Changed::NotFound,
                "{refused:?}"
            );
        }
        assert_eq!(
            storage
                .change_message(&edit("r", &message.message_id, "text", 2))
                .await
                .unwrap(),
            Changed::Unchanged
        );
        assert_eq!(last_seq(storage, "r").await, 1, "nothing taken a seq");
        assert!(matches!(
            storage
                .change_message(&delete("r", &message.message_id, 3))
                .await
                .unwrap(),
            Changed::Stored(LogEntry::Deleted { seq: 2, .. })
        ));
        for refused in [
            edit("r", &message.message_id, "again", 4),
            delete("r", &message.message_id, 4),
        ] {
            assert_eq!(
                storage.change_message(&refused).await.unwrap(),
                Changed::AlreadyDeleted,
                "{refused:?}"
            );
        }
        assert_eq!(last_seq(storage, "r").await, 2);
        assert_eq!(last_seq(storage, "other").await, 1);
        assert!(matches!(
            storage
                .change_message(&MessageChange {
                    room_id: room_id("ghost"),
                    ..delete("r", &message.message_id, 5)
                })
                .await,
            Ok(Changed::NotFound) | Err(StorageError::NotFound("room"))
        ));
    }

    /// Edits and messages stored at once, from several tasks, number the room's log
    /// 1..N without a gap or a repeat.
    pub async fn concurrent_edits_and_messages_share_one_gapless_log(storage: Arc<dyn Storage>) {
        create_users(&*storage, &["alice"]).await;
        create_room(&*storage, "r", "alice", 0).await;
        let firsts: Vec<NewMessage> = (0..10)
            .map(|i| new_message("r", "alice", &format!("m{i}"), i, None))
            .collect();
        storage.insert_messages(&firsts).await.unwrap();
        let mut tasks = Vec::new();
        for (i, first) in firsts.iter().enumerate() {
            let editor = storage.clone();
            let id = first.message_id.clone();
            tasks.push(tokio::spawn(async move {
                let changed = editor
                    .change_message(&edit("r", &id, &format!("edited {i}"), 100))
                    .await
                    .unwrap();
                assert!(matches!(changed, Changed::Stored(_)), "{changed:?}");
            }));
            let sender = storage.clone();
            tasks.push(tokio::spawn(async move {
                let message = new_message("r", "alice", &format!("n{i}"), 100, None);
                sender.insert_messages(&[message]).await.unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let log = storage.log_after(&room_id("r"), 0, 100).await.unwrap();
        let seqs: Vec<u64> = log.iter().map(LogEntry::seq).collect();
        assert_eq!(seqs, (1..=30).collect::<Vec<u64>>());
        assert_eq!(last_seq(&*storage, "r").await, 30);
    }

    /// Search finds a message by its edited text, not its old one, and a deleted message
    /// not at all.
    pub async fn search_finds_edited_text_and_not_deleted_messages(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        let typo = new_message("r", "alice", "meet at the cafe", 1, None);
        let secret = new_message("r", "alice", "the secret password", 2, None);
        storage
            .insert_messages(&[typo.clone(), secret.clone()])
            .await
            .unwrap();
        storage
            .change_message(&edit("r", &typo.message_id, "meet at the library", 3))
            .await
            .unwrap();
        storage
            .change_message(&delete("r", &secret.message_id, 4))
            .await
            .unwrap();
        assert_empty(&texts_found(storage, "r", "cafe").await);
        assert_eq!(
            texts_found(storage, "r", "library").await,
            ["meet at the library"]
        );
        assert_empty(&texts_found(storage, "r", "secret").await);
        assert_eq!(texts_found(storage, "r", "meet").await.len(), 1);
    }

    /// A reply reads the message it answers as it is when read: its author and the start
    /// of its current text, nothing of it once deleted.
    pub async fn replies_show_the_answered_message_as_it_reads_now(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "r", "alice", 0).await;
        let long = "a".repeat(limits::REPLY_EXCERPT_CHARS - 1) + "é and more";
        let question = new_message("r", "alice", &long, 1, None);
        storage
            .insert_messages(std::slice::from_ref(&question))
            .await
            .unwrap();
        let reply_to = ReplyTo {
            message_id: question.message_id.clone(),
            user_id: user("alice"),
            excerpt: "as the service saw it".into(),
            deleted: false,
        };
        let answer = NewMessage {
            reply_to: Some(reply_to.clone()),
            ..new_message("r", "bob", "yes", 2, None)
        };
        let stored = storage
            .insert_messages(std::slice::from_ref(&answer))
            .await
            .unwrap();
        assert_eq!(
            new_one(&stored[0]).reply_to,
            Some(reply_to),
            "sent live as given"
        );
        let reply_of = |messages: Vec<ChatMessage>| {
            messages
                .into_iter()
                .find(|message| message.message_id == answer.message_id)
                .expect("the answer")
                .reply_to
        };
        let expected = |excerpt: &str, deleted| {
            Some(ReplyTo {
                message_id: question.message_id.clone(),
                user_id: user("alice"),
                excerpt: excerpt.to_owned(),
                deleted,
            })
        };
        let cut = "a".repeat(limits::REPLY_EXCERPT_CHARS - 1) + "é";
        assert_eq!(
            reply_of(all_messages(storage, "r").await),
            expected(&cut, false)
        );
        storage
            .change_message(&edit("r", &question.message_id, "short now", 3))
            .await
            .unwrap();
        let history = storage
            .messages_before(&room_id("r"), None, 10)
            .await
            .unwrap();
        assert_eq!(reply_of(history), expected("short now", false));
        let single = storage
            .message(&room_id("r"), &answer.message_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(single.reply_to, expected("short now", false));
        storage
            .change_message(&delete("r", &question.message_id, 4))
            .await
            .unwrap();
        let logged: Vec<ChatMessage> = storage
            .log_after(&room_id("r"), 0, 10)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|entry| match entry {
                LogEntry::Message(message) => Some(message),
                _ => None,
            })
            .collect();
        assert_eq!(reply_of(logged), expected("", true));
        // A deleted reply shows nothing, not even what it answered.
        storage
            .change_message(&delete("r", &answer.message_id, 5))
            .await
            .unwrap();
        assert_eq!(reply_of(all_messages(storage, "r").await), None);
    }

    /// A deleted room's edits and deletions go with it: a room made again with its id
    /// starts its log at 1.
    pub async fn deleting_a_room_deletes_its_changes(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        let message = new_message("r", "alice", "first", 1, None);
        storage
            .insert_messages(std::slice::from_ref(&message))
            .await
            .unwrap();
        storage
            .change_message(&edit("r", &message.message_id, "edited", 2))
            .await
            .unwrap();
        assert!(storage.delete_room(&room_id("r")).await.unwrap());
        create_room(storage, "r", "alice", 3).await;
        assert_empty(&storage.log_after(&room_id("r"), 0, 10).await.unwrap());
        let again = new_message("r", "alice", "again", 4, None);
        storage
            .insert_messages(std::slice::from_ref(&again))
            .await
            .unwrap();
        assert!(matches!(
            storage
                .change_message(&delete("r", &again.message_id, 5))
                .await
                .unwrap(),
            Changed::Stored(LogEntry::Deleted { seq: 2, .. })
        ));
        assert_eq!(
            storage
                .log_after(&room_id("r"), 0, 10)
                .await
                .unwrap()
                .iter()
                .map(LogEntry::seq)
                .collect::<Vec<_>>(),
            [1, 2]
        );
    }
}

/// The search index beyond the trait, per engine: kept right when a message's text is
/// changed in place (edits, to come), and built by migration 0004 for the messages stored
/// before it.
mod search_index {
    use super::*;
    use sqlx::migrate::Migrator;
    use sqlx::{Executor, SqliteConnection};

    /// The engine's migrations before search, as a database that has not had 0004 yet.
    async fn migrations_before_search(engine: &str) -> (tempfile::TempDir, Migrator) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(engine);
        for entry in std::fs::read_dir(&source).expect("migrations") {
            let path = entry.expect("migration").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.as_str() < "0004" {
                std::fs::copy(&path, dir.path().join(&name)).expect("copy");
            }
        }
        let migrator = Migrator::new(dir.path()).await.expect("migrator");
        (dir, migrator)
    }

    /// Rows as a server before search stored them.
    const BEFORE_SEARCH: &str = "\
        INSERT INTO users (user_id, password_hash, created_at) VALUES ('alice', 'x', 1); \
        INSERT INTO rooms (room_id, room_name, admin_user_id, created_at, last_seq) \
            VALUES ('r', 'R', 'alice', 1, 2); \
        INSERT INTO memberships (room_id, user_id, status, is_admin, requested_at, updated_at) \
            VALUES ('r', 'alice', 'approved', TRUE, 1, 1); \
        INSERT INTO rooms (room_id, room_name, admin_user_id, created_at, last_seq) \
            VALUES ('q', 'Q', 'alice', 1, 1); \
        INSERT INTO memberships (room_id, user_id, status, is_admin, requested_at, updated_at) \
            VALUES ('q', 'alice', 'approved', TRUE, 1, 1); \
        INSERT INTO messages (room_id, seq, message_id, user_id, body, timestamp) \
            VALUES ('r', 1, 'm1', 'alice', 'Déjà vu', 1), ('q', 1, 'q1', 'alice', 'vu in q', 2), \
                   ('r', 2, 'm2', 'alice', 'jamais vu', 3);";

    async fn messages_before_the_migration_are_found(storage: &dyn Storage) {
        let found: Vec<(String, u64)> = search(
            storage,
            "vu",
            SearchIn::Rooms {
                room_ids: &[room_id("r"), room_id("q")],
                before_position: None,
            },
            10,
        )
        .await
        .into_iter()
        .map(|found| (found.message.message, found.message.seq))
        .collect();
        assert_eq!(
            found,
            [
                ("jamais vu".to_owned(), 2),
                ("vu in q".to_owned(), 1),
                ("Déjà vu".to_owned(), 1)
            ],
            "in the order they were stored"
        );
        assert_eq!(texts_found(storage, "r", "deja").await, ["Déjà vu"]);
        let sent = new_message("r", "alice", "vu again", 3, None);
        let inserted = storage
            .insert_messages(std::slice::from_ref(&sent))
            .await
            .unwrap();
        assert_eq!(inserted, vec![Inserted::New(stored(&sent, 3))]);
        assert_eq!(
            texts_found(storage, "r", "vu").await,
            ["vu again", "jamais vu", "Déjà vu"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_migration_indexes_stored_messages() {
        let fixture = Fixture::sqlite_file();
        let (_dir, before) = migrations_before_search("sqlite").await;
        let options = fixture
            .url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .create_if_missing(true);
        let mut connection = SqliteConnection::connect_with(&options).await.unwrap();
        before.run(&mut connection).await.expect("migrations 1-3");
        connection.execute(BEFORE_SEARCH).await.expect("old rows");
        drop(connection);
        messages_before_the_migration_are_found(&*fixture.open().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_migration_indexes_stored_messages() {
        let fixture = Fixture::postgres().await;
        let (_dir, before) = migrations_before_search("postgres").await;
        let mut connection = PgConnection::connect(&fixture.url).await.unwrap();
        before.run(&mut connection).await.expect("migrations 1-3");
        connection.execute(BEFORE_SEARCH).await.expect("old rows");
        drop(connection);
        messages_before_the_migration_are_found(&*fixture.open().await).await;
    }

    const EDIT: &str = "UPDATE messages SET body = 'brand new words' WHERE body = 'old words'";

    async fn store_then_edit(storage: &dyn Storage, edit: impl AsyncFnOnce()) {
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        storage
            .insert_messages(&[
                new_message("r", "alice", "old words", 1, None),
                new_message("r", "alice", "other words", 2, None),
            ])
            .await
            .unwrap();
        assert_eq!(texts_found(storage, "r", "old").await, ["old words"]);
        edit().await;
        assert_empty(&texts_found(storage, "r", "old").await);
        assert_eq!(
            texts_found(storage, "r", "brand").await,
            ["brand new words"]
        );
        assert_eq!(
            texts_found(storage, "r", "words").await,
            ["other words", "brand new words"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_an_edited_text_is_found_by_its_new_words() {
        let fixture = Fixture::sqlite_file();
        let storage = fixture.open().await;
        let mut connection = SqliteConnection::connect(&fixture.url).await.unwrap();
        store_then_edit(&*storage, async || {
            connection.execute(EDIT).await.expect("edit");
        })
        .await;
        // The index still matches the table, through edits and a room's deletion.
        assert!(storage.delete_room(&room_id("r")).await.unwrap());
        connection
            .execute("INSERT INTO messages_search (messages_search) VALUES ('integrity-check')")
            .await
            .expect("the index matches the messages");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_an_edited_text_is_found_by_its_new_words() {
        let fixture = Fixture::postgres().await;
        let storage = fixture.open().await;
        let mut connection = PgConnection::connect(&fixture.url).await.unwrap();
        store_then_edit(&*storage, async || {
            connection.execute(EDIT).await.expect("edit");
        })
        .await;
    }
}

/// PostgreSQL only: several nodes (processes, each with its own pool) share one database.
/// Each test opens two `PostgresStorage`s on one database, as two nodes would.
mod postgres_nodes {
    use super::*;

    /// Two nodes starting at once on a new database: they migrate it together.
    async fn two_nodes(fixture: &Fixture) -> [Arc<dyn Storage>; 2] {
        let (a, b) = tokio::join!(
            PostgresStorage::connect(&fixture.url),
            PostgresStorage::connect(&fixture.url)
        );
        [a, b].map(|node| {
            let node = node.unwrap_or_else(|error| panic!("cannot open {}: {error}", fixture.url));
            Arc::new(node) as Arc<dyn Storage>
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_nodes_take_gapless_seqs_in_one_room() {
        const TASKS_PER_NODE: usize = 8;
        const BATCHES: usize = 12;
        let fixture = Fixture::postgres().await;
        let nodes = two_nodes(&fixture).await;
        create_users(&*nodes[0], &["alice", "bob"]).await;
        create_room(&*nodes[0], "busy", "alice", 1).await;
        create_room(&*nodes[1], "quiet", "bob", 1).await;

        let mut tasks = Vec::new();
        for task in 0..2 * TASKS_PER_NODE {
            let node = Arc::clone(&nodes[task % 2]);
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for batch_no in 0..BATCHES {
                    let size = 1 + (task + batch_no) % 3;
                    let mut batch = Vec::new();
                    for i in 0..size {
                        let text = format!("t{task}-b{batch_no}-m{i}");
                        let client_id = (i % 2 == 0).then(|| text.clone());
                        batch.push(new_message("busy", "alice", &text, 7, client_id.as_deref()));
                    }
                    // Both rooms in one batch, in either order: the nodes must not
                    // deadlock on the rooms' rows.
                    if batch_no % 3 == 0 {
                        let aside = new_message("quiet", "bob", "aside", 7, None);
                        if task % 4 < 2 {
                            batch.push(aside);
                        } else {
                            batch.insert(0, aside);
                        }
                    }
                    let inserted = node.insert_messages(&batch).await.unwrap();
                    assert_eq!(inserted.len(), batch.len());
                    for (sent, result) in batch.iter().zip(&inserted) {
                        let message = new_one(result);
                        assert_eq!(message.message_id, sent.message_id);
                        if sent.room_id == room_id("busy") {
                            mine.push(message.seq);
                        }
                    }
                }
                mine
            }));
        }

        let mut all = Vec::new();
        for task in tasks {
            let mine = task.await.expect("task");
            assert!(mine.windows(2).all(|pair| pair[0] < pair[1]), "{mine:?}");
            all.extend(mine);
        }
        let total = u64::try_from(all.len()).unwrap();
        all.sort_unstable();
        assert_eq!(all, (1..=total).collect::<Vec<_>>());
        for node in &nodes {
            assert_eq!(last_seq(&**node, "busy").await, total);
            assert_eq!(
                seqs(&all_messages(&**node, "busy").await),
                (1..=total).collect::<Vec<_>>()
            );
        }
        let quiet = u64::try_from(2 * TASKS_PER_NODE * BATCHES.div_ceil(3)).unwrap();
        assert_eq!(last_seq(&*nodes[1], "quiet").await, quiet);
        assert_eq!(
            seqs(&all_messages(&*nodes[0], "quiet").await),
            (1..=quiet).collect::<Vec<_>>()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_nodes_store_one_copy_of_a_retried_send() {
        const ROUNDS: usize = 20;
        const COPIES: usize = 8;
        let fixture = Fixture::postgres().await;
        let nodes = two_nodes(&fixture).await;
        create_users(&*nodes[0], &["alice", "bob"]).await;
        create_room(&*nodes[0], "r1", "alice", 1).await;
        create_room(&*nodes[0], "r2", "alice", 1).await;

        for round in 0..ROUNDS {
            let client_id = format!("once-{round}");
            let mut tasks = Vec::new();
            for copy in 0..COPIES {
                let node = Arc::clone(&nodes[copy % 2]);
                // The client id is the user's across rooms: copies go to both rooms.
                let room = if copy % 4 < 2 { "r1" } else { "r2" };
                let sent = new_message(room, "alice", &format!("copy {copy}"), 5, Some(&client_id));
                // Bob's messages keep both rooms busy meanwhile, without client ids.
                let other = new_message(room, "bob", "meanwhile", 5, None);
                tasks.push(tokio::spawn(async move {
                    let (sent, other) = ([sent], [other]);
                    let (mine, theirs) =
                        tokio::join!(node.insert_messages(&sent), node.insert_messages(&other));
                    new_one(&theirs.unwrap()[0]);
                    mine.unwrap().remove(0)
                }));
            }
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.expect("task"));
            }
            let new: Vec<_> = results
                .iter()
                .filter(|result| matches!(result, Inserted::New(_)))
                .collect();
            assert_eq!(
                new.len(),
                1,
                "round {round}: one copy is stored: {results:?}"
            );
            let winner = new[0].message();
            assert!(results.iter().all(|result| result.message() == winner));
        }

        // Every message stored once, every seq taken by a stored message.
        let mut alice_copies = 0;
        for room in ["r1", "r2"] {
            let messages = all_messages(&*nodes[1], room).await;
            let count = u64::try_from(messages.len()).unwrap();
            assert_eq!(seqs(&messages), (1..=count).collect::<Vec<_>>(), "{room}");
            assert_eq!(last_seq(&*nodes[0], room).await, count, "{room}");
            alice_copies += messages
                .iter()
                .filter(|message| message.user_id == user("alice"))
                .count();
        }
        assert_eq!(alice_copies, ROUNDS);
    }

    /// The race, made certain: another node's transaction has stored the client id but not
    /// committed; this node's insert waits for it, then returns that node's message as the
    /// duplicate and gives back the seq it took, or stores its own copy if the other
    /// transaction rolls back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_waiting_on_another_nodes_uncommitted_copy() {
        let fixture = Fixture::postgres().await;
        let [node, _] = two_nodes(&fixture).await;
        create_users(&*node, &["alice"]).await;
        create_room(&*node, "r1", "alice", 1).await;
        create_room(&*node, "r2", "alice", 1).await;

        for commit in [true, false] {
            let client_id = format!("held-{commit}");
            let mut other = PgConnection::connect(&fixture.url).await.expect("connect");
            let mut other_tx = other.begin().await.expect("begin");
            let theirs = new_message("r1", "alice", "theirs", 10, Some(&client_id));
            let seq: i64 = sqlx::query_scalar(
                "UPDATE rooms SET last_seq = last_seq + 1 WHERE room_id = 'r1' \
                 RETURNING last_seq",
            )
            .fetch_one(&mut *other_tx)
            .await
            .expect("take a seq");
            sqlx::query(
                "INSERT INTO messages \
                 (room_id, seq, message_id, user_id, body, timestamp, client_msg_id) \
                 VALUES ('r1', $1, $2, 'alice', 'theirs', 10, $3)",
            )
            .bind(seq)
            .bind(theirs.message_id.as_str())
            .bind(&client_id)
            .execute(&mut *other_tx)
            .await
            .expect("insert their copy");

            let ours = new_message("r2", "alice", "ours", 20, Some(&client_id));
            let sending = tokio::spawn({
                let node = Arc::clone(&node);
                let ours = ours.clone();
                async move { node.insert_messages(&[ours]).await }
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(
                !sending.is_finished(),
                "the insert waits for the other transaction"
            );
            if commit {
                other_tx.commit().await.expect("commit");
            } else {
                other_tx.rollback().await.expect("rollback");
            }
            let inserted = sending.await.expect("task").expect("insert");
            let r1_seq = last_seq(&*node, "r1").await;
            if commit {
                assert_eq!(inserted, vec![Inserted::Duplicate(stored(&theirs, r1_seq))]);
                assert_eq!(last_seq(&*node, "r2").await, 0, "no seq taken in r2");
            } else {
                assert_eq!(inserted, vec![Inserted::New(stored(&ours, 1))]);
                assert_eq!(last_seq(&*node, "r2").await, 1);
            }
        }

        // The seqs carry on without a gap.
        let next = new_message("r2", "alice", "next", 30, None);
        let inserted = node
            .insert_messages(std::slice::from_ref(&next))
            .await
            .unwrap();
        assert_eq!(inserted, vec![Inserted::New(stored(&next, 2))]);
        assert_eq!(seqs(&all_messages(&*node, "r1").await), vec![1]);
        assert_eq!(seqs(&all_messages(&*node, "r2").await), vec![1, 2]);
    }
}

/// PostgreSQL only: what a node's connection pool does when the database closes its
/// connections.
mod postgres_pool {
    use super::*;

    /// The database restarted, or someone ran `pg_terminate_backend`, while the node was
    /// quiet: every pooled connection is dead, and the next requests still succeed on new
    /// ones (the pool pings a connection idle for `PING_AFTER_IDLE` before using it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_closed_while_idle_are_replaced_unseen() {
        const AT_ONCE: usize = 4;
        let fixture = Fixture::postgres().await;
        let node = fixture.open().await;
        create_users(&*node, &["alice"]).await;
        create_room(&*node, "r1", "alice", 1).await;
        let read_at_once = || {
            let reads: Vec<_> = (0..AT_ONCE)
                .map(|_| {
                    let node = Arc::clone(&node);
                    tokio::spawn(async move { node.room(&room_id("r1")).await })
                })
                .collect();
            async move {
                for read in reads {
                    let room = read.await.expect("task").expect("read the room");
                    assert_eq!(room.expect("the room exists").room_id, room_id("r1"));
                }
            }
        };
        // Several connections in the pool.
        read_at_once().await;

        let mut admin = PgConnection::connect(&fixture.url).await.expect("connect");
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .expect("terminate the node's connections");
        assert!(!terminated.is_empty() && terminated.iter().all(|&done| done));
        tokio::time::sleep(PostgresStorage::PING_AFTER_IDLE + Duration::from_millis(300)).await;

        read_at_once().await;
        let sent = new_message("r1", "alice", "after the restart", 5, None);
        let inserted = node
            .insert_messages(std::slice::from_ref(&sent))
            .await
            .expect("store a message");
        assert_eq!(inserted, vec![Inserted::New(stored(&sent, 1))]);
    }
}

/// Invite links and the invite-only setting (issue 18).
mod invite_contract {
    use knock_protocol::{Invite, InviteCode, InviteRef};
    use knock_server::storage::{InviteUse, StoredInvite};

    use super::*;

    fn invite(room: &str, code: &str, created_at: i64) -> Invite {
        Invite {
            room_id: room_id(room),
            code: InviteCode::new(code),
            label: Some(format!("{code} label")),
            created_at,
            expires_at: None,
            max_uses: None,
            uses: 0,
        }
    }

    fn pending_from(room: &str, name: &str) -> MembershipChange {
        MembershipChange {
            only_if: Precondition::Absent,
            reason: Some("hello".into()),
            ..change(
                &room_id(room),
                &user(name),
                membership(MemberStatus::Pending, false),
                50,
            )
        }
    }

    async fn uses(storage: &dyn Storage, code: &str) -> u32 {
        storage
            .invite(&InviteCode::new(code))
            .await
            .unwrap()
            .expect("the invite exists")
            .invite
            .uses
    }

    pub async fn invites_are_created_listed_and_revoked(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        create_room(storage, "other", "alice", 0).await;
        assert_empty(&storage.invites(&room_id("r")).await.unwrap());
        let older = Invite {
            expires_at: Some(5_000),
            max_uses: Some(3),
            label: None,
            ..invite("r", "older", 10)
        };
        storage.create_invite(&older).await.unwrap();
        storage
            .create_invite(&invite("r", "newer", 20))
            .await
            .unwrap();
        storage
            .create_invite(&invite("other", "elsewhere", 30))
            .await
            .unwrap();
        assert!(matches!(
            storage.create_invite(&invite("r", "newer", 40)).await,
            Err(StorageError::Conflict)
        ));
        assert!(matches!(
            storage.create_invite(&invite("ghost", "g", 40)).await,
            Err(StorageError::NotFound("room"))
        ));
        assert_eq!(
            storage.invites(&room_id("r")).await.unwrap(),
            vec![invite("r", "newer", 20), older.clone()],
            "newest first, each as made"
        );
        assert_eq!(
            storage.invite(&InviteCode::new("older")).await.unwrap(),
            Some(StoredInvite {
                invite: older.clone(),
                revoked: false
            })
        );
        assert_eq!(
            storage.invite(&InviteCode::new("none")).await.unwrap(),
            None
        );

        // Only the room's own link, once.
        let newer = InviteCode::new("newer");
        assert!(
            !storage
                .revoke_invite(&room_id("other"), &newer, 60)
                .await
                .unwrap()
        );
        assert!(
            storage
                .revoke_invite(&room_id("r"), &newer, 60)
                .await
                .unwrap()
        );
        assert!(
            !storage
                .revoke_invite(&room_id("r"), &newer, 61)
                .await
                .unwrap()
        );
        assert_eq!(storage.invites(&room_id("r")).await.unwrap(), vec![older]);
        assert!(storage.invite(&newer).await.unwrap().unwrap().revoked);
    }

    pub async fn a_request_by_invite_counts_one_use_up_to_max_uses(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob", "carol", "dave"]).await;
        create_room(storage, "r", "alice", 0).await;
        let link = Invite {
            max_uses: Some(2),
            ..invite("r", "two", 10)
        };
        storage.create_invite(&link).await.unwrap();
        let code = InviteCode::new("two");

        let used = storage
            .request_with_invite(&pending_from("r", "bob"), &code, 100)
            .await
            .unwrap();
        assert_eq!(
            used,
            InviteUse::Used(Invite {
                uses: 1,
                ..link.clone()
            })
        );
        // A change whose precondition fails stores nothing and uses nothing.
        assert_eq!(
            storage
                .request_with_invite(&pending_from("r", "bob"), &code, 100)
                .await
                .unwrap(),
            InviteUse::Conflict
        );
        assert_eq!(uses(storage, "two").await, 1);
        // The link must be of the change's room.
        create_room(storage, "other", "alice", 0).await;
        assert_eq!(
            storage
                .request_with_invite(&pending_from("other", "carol"), &code, 100)
                .await
                .unwrap(),
            InviteUse::Refused(None)
        );
        assert!(matches!(
            storage
                .request_with_invite(&pending_from("r", "carol"), &code, 100)
                .await
                .unwrap(),
            InviteUse::Used(Invite { uses: 2, .. })
        ));
        let InviteUse::Refused(Some(used_up)) = storage
            .request_with_invite(&pending_from("r", "dave"), &code, 100)
            .await
            .unwrap()
        else {
            panic!("a used-up link makes no request");
        };
        assert_eq!(used_up.invite.uses, 2);
        assert_eq!(
            storage
                .membership(&room_id("r"), &user("dave"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(uses(storage, "two").await, 2);

        // The pending rows name the link (its label kept after a revoke) until changed.
        storage
            .revoke_invite(&room_id("r"), &code, 200)
            .await
            .unwrap();
        let by_link = Some(InviteRef {
            code: code.clone(),
            label: Some("two label".into()),
        });
        let rows = storage.members(&room_id("r")).await.unwrap();
        let bob = rows.iter().find(|row| row.user_id == user("bob")).unwrap();
        assert_eq!((bob.status, &bob.invite), (MemberStatus::Pending, &by_link));
        assert_eq!(bob.reason.as_deref(), Some("hello"));
        set(
            storage,
            &room_id("r"),
            &user("bob"),
            membership(MemberStatus::Approved, false),
            300,
        )
        .await;
        let rows = storage.members(&room_id("r")).await.unwrap();
        let bob = rows.iter().find(|row| row.user_id == user("bob")).unwrap();
        assert_eq!(bob.invite, None);
        let alice = rows
            .iter()
            .find(|row| row.user_id == user("alice"))
            .unwrap();
        assert_eq!(alice.invite, None);
    }

    pub async fn concurrent_requests_by_invite_never_pass_max_uses(storage: Arc<dyn Storage>) {
        let names: Vec<String> = (0..8).map(|i| format!("knocker{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        create_users(&*storage, &["alice"]).await;
        create_users(&*storage, &refs).await;
        create_room(&*storage, "r", "alice", 0).await;
        for (code, max) in [("one", 1), ("three", 3)] {
            storage
                .create_invite(&Invite {
                    max_uses: Some(max),
                    ..invite("r", code, 10)
                })
                .await
                .unwrap();
        }
        let knocks = names.iter().enumerate().map(|(i, name)| {
            let storage = storage.clone();
            let change = pending_from("r", name);
            let code = InviteCode::new(if i % 2 == 0 { "one" } else { "three" });
            tokio::spawn(async move { storage.request_with_invite(&change, &code, 100).await })
        });
        let mut used = 0;
        for knock in futures_util::future::join_all(knocks).await {
            match knock.unwrap().unwrap() {
                InviteUse::Used(_) => used += 1,
                InviteUse::Refused(Some(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(used, 4, "one use of `one`, three of `three`");
        assert_eq!(uses(&*storage, "one").await, 1);
        assert_eq!(uses(&*storage, "three").await, 3);
        let pending = users_where(&*storage, &room_id("r"), |row| {
            row.status == MemberStatus::Pending
        })
        .await;
        assert_eq!(pending.len(), 4);
    }

    pub async fn expired_and_revoked_invites_store_nothing(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "r", "alice", 0).await;
        storage
            .create_invite(&Invite {
                expires_at: Some(1_000),
                ..invite("r", "soon", 10)
            })
            .await
            .unwrap();
        storage
            .create_invite(&invite("r", "gone", 10))
            .await
            .unwrap();
        storage
            .revoke_invite(&room_id("r"), &InviteCode::new("gone"), 20)
            .await
            .unwrap();
        for (code, now) in [("soon", 1_000), ("soon", 5_000), ("gone", 30)] {
            let refused = storage
                .request_with_invite(&pending_from("r", "bob"), &InviteCode::new(code), now)
                .await
                .unwrap();
            assert!(
                matches!(refused, InviteUse::Refused(Some(_))),
                "{code}: {refused:?}"
            );
        }
        assert_eq!(
            storage
                .membership(&room_id("r"), &user("bob"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(uses(storage, "soon").await, 0);
        assert!(matches!(
            storage
                .request_with_invite(&pending_from("r", "bob"), &InviteCode::new("soon"), 999)
                .await
                .unwrap(),
            InviteUse::Used(_)
        ));
        // Expired links stay listed; revoked ones do not.
        let listed: Vec<String> = storage
            .invites(&room_id("r"))
            .await
            .unwrap()
            .into_iter()
            .map(|invite| invite.code.0)
            .collect();
        assert_eq!(listed, ["soon"]);
    }

    pub async fn deleting_a_room_deletes_its_invites(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice", "bob"]).await;
        create_room(storage, "doomed", "alice", 0).await;
        create_room(storage, "kept", "alice", 0).await;
        storage
            .create_invite(&invite("doomed", "d", 1))
            .await
            .unwrap();
        storage
            .create_invite(&invite("kept", "k", 1))
            .await
            .unwrap();
        storage
            .request_with_invite(&pending_from("doomed", "bob"), &InviteCode::new("d"), 5)
            .await
            .unwrap();
        assert!(storage.delete_room(&room_id("doomed")).await.unwrap());
        assert_eq!(storage.invite(&InviteCode::new("d")).await.unwrap(), None);
        assert_empty(&storage.invites(&room_id("doomed")).await.unwrap());
        assert_eq!(storage.invites(&room_id("kept")).await.unwrap().len(), 1);
    }

    pub async fn rooms_are_open_until_made_invite_only(storage: Arc<dyn Storage>) {
        let storage = &*storage;
        create_users(storage, &["alice"]).await;
        create_room(storage, "r", "alice", 0).await;
        assert_eq!(
            storage.invite_only(&room_id("r")).await.unwrap(),
            Some(false)
        );
        assert_eq!(storage.invite_only(&room_id("ghost")).await.unwrap(), None);
        assert!(storage.set_invite_only(&room_id("r"), true).await.unwrap());
        assert_eq!(
            storage.invite_only(&room_id("r")).await.unwrap(),
            Some(true)
        );
        assert!(
            !storage
                .set_invite_only(&room_id("ghost"), true)
                .await
                .unwrap()
        );
        assert!(storage.set_invite_only(&room_id("r"), false).await.unwrap());
        assert_eq!(
            storage.invite_only(&room_id("r")).await.unwrap(),
            Some(false)
        );
    }
}
