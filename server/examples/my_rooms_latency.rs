//! Times `myRooms` in storage alone (`Storage::rooms_of_user`, the one statement that
//! answers it) for a user in 500 rooms, each holding 200 messages: every tenth written by
//! the user, every 25th mentioning them; the user admin of half the rooms, each of those
//! with 3 pending requests; the user's read marker half-way through every room, so each
//! row counts about 90 unread messages and 4 mentions.
//!
//! `cargo run --release -p knock-server --example my_rooms_latency -- [DATABASE_URL] [CALLS]`
//!
//! Without a URL: a fresh SQLite file in a temporary folder; 300 calls. A PostgreSQL URL
//! works too (users and rooms get fresh names; use a scratch database, 100,000 messages
//! are left in it). docs/benchmarks.md, *Read state*, has the figures.

use std::time::{Duration, Instant};

use knock_protocol::{MemberStatus, MessageId, RoomId, UserId};
use knock_server::storage::{
    self, Membership, MembershipChange, NewMessage, NewRoom, Precondition, Storage,
};

const ROOMS: usize = 500;
const MESSAGES_PER_ROOM: usize = 200;
const REQUESTS_PER_ADMIN_ROOM: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scratch = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite:{}", scratch.path().join("knock.db").display()));
    let calls: usize = args.next().map_or(Ok(300), |n| n.parse())?;
    anyhow::ensure!(calls > 0, "no calls to time");

    let storage = storage::open(&url).await?;
    let me = fill(storage.as_ref()).await?;

    let first = storage.rooms_of_user(&me).await?;
    anyhow::ensure!(first.len() == ROOMS, "{} rooms listed", first.len());
    let unread: u64 = first.iter().map(|room| room.unread_count).sum();
    let mentions: u64 = first.iter().map(|room| room.mention_count).sum();
    let pending: u64 = first.iter().filter_map(|room| room.pending_count).sum();
    println!("per answer: {unread} unread, {mentions} mentions, {pending} pending requests");

    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let rooms = storage.rooms_of_user(&me).await?;
        latencies.push(started.elapsed());
        anyhow::ensure!(rooms.len() == ROOMS);
    }
    print_timing("rooms_of_user (500 rooms)", latencies);
    Ok(())
}

/// Makes the user, their 500 rooms and the rooms' messages; the user's id.
async fn fill(storage: &dyn Storage) -> anyhow::Result<UserId> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let me = UserId(format!("me-{run}"));
    let other = UserId(format!("other-{run}"));
    let requesters: Vec<UserId> = (0..REQUESTS_PER_ADMIN_ROOM)
        .map(|n| UserId(format!("req{n}-{run}")))
        .collect();
    for user in [&me, &other].into_iter().chain(&requesters) {
        storage.create_user(user, "not a real hash", 0).await?;
    }

    let filled = Instant::now();
    let mut changes = Vec::new();
    let rooms: Vec<RoomId> = (0..ROOMS)
        .map(|n| RoomId(format!("room-{run}-{n:03}")))
        .collect();
    for (n, room_id) in rooms.iter().enumerate() {
        let mine = n % 2 == 0;
        storage
            .create_room(&NewRoom {
                room_id: room_id.clone(),
                room_name: format!("Room {n}"),
                admin: if mine { me.clone() } else { other.clone() },
                created_at: 0,
            })
            .await?;
        let change = |user: &UserId, status, is_admin| MembershipChange {
            room_id: room_id.clone(),
            user_id: user.clone(),
            membership: Membership { status, is_admin },
            only_if: Precondition::Any,
            reason: None,
            updated_at: 1,
        };
        if mine {
            changes.push(change(&other, MemberStatus::Approved, false));
            for requester in &requesters {
                changes.push(change(requester, MemberStatus::Pending, false));
            }
        } else {
            changes.push(change(&me, MemberStatus::Approved, false));
        }
    }
    storage.set_memberships(&changes).await?;

    let mut batch = Vec::with_capacity(1_000);
    for (room_no, room_id) in rooms.iter().enumerate() {
        for n in 0..MESSAGES_PER_ROOM {
            let mention = n % 25 == 7;
            batch.push(NewMessage {
                room_id: room_id.clone(),
                user_id: if n % 10 == 3 {
                    me.clone()
                } else {
                    other.clone()
                },
                message: if mention {
                    format!("@{me} message {n}")
                } else {
                    format!("message {n}, about as long as the load generator's probes")
                },
                timestamp: i64::try_from(room_no * MESSAGES_PER_ROOM + n)?,
                message_id: MessageId(uuid::Uuid::now_v7().to_string()),
                client_msg_id: None,
                reply_to: None,
                mentions: if mention {
                    vec![me.clone()]
                } else {
                    Vec::new()
                },
            });
        }
        if batch.len() >= 1_000 {
            storage.insert_messages(&batch).await?;
            batch.clear();
        }
    }
    storage.insert_messages(&batch).await?;
    for room_id in &rooms {
        let half = u64::try_from(MESSAGES_PER_ROOM / 2)?;
        storage.mark_read(room_id, &me, half).await?;
    }
    println!(
        "filled {ROOMS} rooms x {MESSAGES_PER_ROOM} messages in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    Ok(me)
}

fn print_timing(what: &str, mut latencies: Vec<Duration>) {
    latencies.sort_unstable();
    // Nearest rank below, in thousandths.
    let ms =
        |permille: usize| latencies[(latencies.len() - 1) * permille / 1000].as_secs_f64() * 1e3;
    println!(
        "{} {what}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        ms(500),
        ms(900),
        ms(990),
    );
}
