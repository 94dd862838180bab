//! A room full of members, set up through the real flow (create, request, approve), and
//! the open-loop sender that drives probe messages into it.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, anyhow, bail};
use futures_util::{StreamExt, stream};
use knock_protocol::{ClientMessage, ClientMsgId, JoinRoom, MemberStatus, RoomId, Targets};
use tokio::{sync::mpsc, time::Instant};

use crate::{
    client::{Account, Event, Member, Net, Probes, STEP_TIMEOUT, Shared, send},
    hist::Latency,
    sched::{Plan, probe_text},
    util::now_us,
};

/// Sockets opened at once while setting up.
const CONNECT_CONCURRENCY: usize = 64;

#[allow(clippy::struct_field_names)] // `room.room_id` reads as the protocol's field
pub struct Room {
    pub room_id: RoomId,
    /// `members[0]` created the room and is its admin.
    pub members: Vec<Member>,
    pub shared: Arc<Shared>,
}

/// Opens one socket per account; the first creates the room, the others ask to join and
/// the first approves them all. Returns once every member is approved.
pub async fn setup_room(net: &Net, accounts: &[Account], name: &str) -> anyhow::Result<Room> {
    let (shared, mut events) = Shared::with_members(accounts.len());
    let opened: Vec<anyhow::Result<Member>> = stream::iter(accounts.iter().enumerate())
        .map(|(idx, account)| {
            let shared = shared.clone();
            async move {
                let ws = net.open(&account.token).await?;
                Ok(Member::start(idx, account.user_id.clone(), ws, shared))
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut members = opened
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()
        .context("opening member sockets")?;
    let admin = members.first_mut().context("a room needs an admin")?;
    send(
        &mut admin.sink,
        &ClientMessage::CreateRoom {
            room_name: name.to_owned(),
        },
    )
    .await?;
    let room_id = wait_events(&mut events, 1, |_, event| match event {
        Event::RoomCreated(room_id) => Some(room_id.clone()),
        _ => None,
    })
    .await
    .context("createRoom")?
    .remove(0);

    for member in &mut members[1..] {
        send(
            &mut member.sink,
            &ClientMessage::JoinRoom(JoinRoom::Request {
                room_id: Some(room_id.clone()),
                reason: None,
                invite_code: None,
            }),
        )
        .await?;
    }
    let others = members.len() - 1;
    wait_events(&mut events, others, |_, event| match event {
        Event::Join(id, MemberStatus::Pending) if *id == room_id => Some(()),
        _ => None,
    })
    .await
    .context("joinRoom request")?;
    let targets: Vec<_> = members[1..].iter().map(|m| m.user_id.clone()).collect();
    for target in targets {
        send(
            &mut members[0].sink,
            &ClientMessage::JoinRoom(JoinRoom::Approve {
                room_id: Some(room_id.clone()),
                targets: Targets::one(target),
            }),
        )
        .await?;
    }
    wait_events(&mut events, others, |_, event| match event {
        Event::Join(id, MemberStatus::Approved) if *id == room_id => Some(()),
        _ => None,
    })
    .await
    .context("joinRoom approve")?;
    Ok(Room {
        room_id,
        members,
        shared,
    })
}

impl Room {
    pub async fn close(self) {
        let closing: Vec<_> = self.members.into_iter().map(Member::close).collect();
        futures_util::future::join_all(closing).await;
    }
}

/// Waits for `count` events that `want` picks; an error or close event fails.
pub async fn wait_events<T>(
    events: &mut mpsc::UnboundedReceiver<(usize, Event)>,
    count: usize,
    mut want: impl FnMut(usize, &Event) -> Option<T>,
) -> anyhow::Result<Vec<T>> {
    let mut found = Vec::with_capacity(count);
    let deadline = Instant::now() + STEP_TIMEOUT;
    while found.len() < count {
        let (idx, event) = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| {
                anyhow!(
                    "only {} of {count} answers within {STEP_TIMEOUT:?}",
                    found.len()
                )
            })?
            .context("every reader ended")?;
        if let Some(value) = want(idx, &event) {
            found.push(value);
            continue;
        }
        match event {
            Event::Error(code, message) => bail!("member {idx}: server error {code}: {message}"),
            Event::Closed(code) => bail!("member {idx}: socket closed ({code:?})"),
            _ => {}
        }
    }
    Ok(found)
}

/// One sending socket and the room it sends to.
pub struct Sender<'a> {
    pub sink: &'a mut crate::client::Sink,
    pub room_id: RoomId,
}

/// Sends `plan`'s probe messages on time (open loop) and returns how late the sender was
/// against the schedule (the generator's own lag, reported so a slow generator shows).
pub async fn send_plan(
    senders: &mut [Sender<'_>],
    plan: &Plan,
    run: u32,
    size: usize,
) -> anyhow::Result<Latency> {
    send_plan_marking(senders, plan, run, size, None).await
}

/// [`send_plan`], with `marking`'s timers (read markers) served between the sends.
pub async fn send_plan_marking(
    senders: &mut [Sender<'_>],
    plan: &Plan,
    run: u32,
    size: usize,
    mut marking: Option<&mut ReadMarking<'_>>,
) -> anyhow::Result<Latency> {
    assert_eq!(senders.len(), plan.senders, "one sender per planned socket");
    let mut lag = Latency::new();
    let start = Instant::now();
    // Client ids as the browser client sends them (the server then deduplicates and
    // acknowledges), unique across runs by the plan's start time.
    let client_id_prefix = now_us();
    for k in 0..plan.count {
        let due = start + plan.due(k);
        if let Some(marking) = marking.as_deref_mut() {
            marking.until(due, senders).await?;
        }
        tokio::time::sleep_until(due).await;
        lag.record(u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX));
        let sender = &mut senders[plan.sender_of(k)];
        let message = ClientMessage::SendMessage {
            message: probe_text(run, k, now_us(), size),
            room_id: Some(sender.room_id.clone()),
            client_msg_id: Some(ClientMsgId::new(format!("{client_id_prefix}-{k}"))),
            reply_to: None,
        };
        send(sender.sink, &message).await?;
    }
    Ok(lag)
}

/// Waits until `expected` deliveries arrived or `grace` passed since the call.
pub async fn drain(probes: &Probes, expected: u64, grace: Duration) {
    let deadline = Instant::now() + grace;
    while probes.delivered() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Read markers as the web client sends them: every member, once a second at most,
/// sends `markRead` with the newest `seq` it has got in its room when that moved since
/// its last one (timer-paced, not per message). The members' timers are spread over the
/// second in [`ReadMarking::SLOTS`] slots (the `i`-th member added in slot `i % SLOTS`),
/// as independent clients' timers would be, rather than all firing at once.
pub struct ReadMarking<'a> {
    /// Each room's id and its readers' shared state.
    rooms: Vec<(RoomId, Arc<Shared>)>,
    members: Vec<Marker<'a>>,
    start: Instant,
    next_tick: u64,
    /// `markRead` frames sent.
    pub sent: u64,
}

impl Default for ReadMarking<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// One member's timer.
struct Marker<'a> {
    room: usize,
    /// The member's index in its room (as its reader task knows it).
    idx: usize,
    via: Via<'a>,
    /// The `seq` of its last `markRead`.
    marked: u64,
}

/// The socket a member's `markRead` goes out on.
pub enum Via<'a> {
    Own(&'a mut crate::client::Sink),
    /// The sink the plan's sender of this number borrows.
    Sender(usize),
}

impl<'a> ReadMarking<'a> {
    /// Ticks per second; each member's timer fires on one of them.
    pub const SLOTS: u64 = 20;

    pub fn new() -> Self {
        Self {
            rooms: Vec::new(),
            members: Vec::new(),
            start: Instant::now(),
            next_tick: 1,
            sent: 0,
        }
    }

    /// Adds a room; its readers note the `seq`s they get from now on. Returns its number.
    pub fn add_room(&mut self, room_id: RoomId, shared: Arc<Shared>) -> usize {
        shared
            .track_seqs
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.rooms.push((room_id, shared));
        self.rooms.len() - 1
    }

    /// Adds member `idx` of room `room` (a number from [`ReadMarking::add_room`]).
    pub fn add_member(&mut self, room: usize, idx: usize, via: Via<'a>) {
        self.members.push(Marker {
            room,
            idx,
            via,
            marked: 0,
        });
    }

    /// `readMarker` frames the rooms' members have received so far.
    pub fn read_markers(&self) -> u64 {
        self.rooms
            .iter()
            .map(|(_, shared)| {
                shared
                    .read_markers
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// Stops the readers' noting of `seq`s.
    pub fn finish(&self) {
        for (_, shared) in &self.rooms {
            shared
                .track_seqs
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn tick_at(&self, tick: u64) -> Instant {
        self.start + Duration::from_millis(tick * (1_000 / Self::SLOTS))
    }

    /// Serves every timer due before `until`, sleeping until each is due.
    pub async fn until(
        &mut self,
        until: Instant,
        senders: &mut [Sender<'_>],
    ) -> anyhow::Result<()> {
        let slots = usize::try_from(Self::SLOTS).unwrap_or(1);
        loop {
            let at = self.tick_at(self.next_tick);
            if at > until {
                return Ok(());
            }
            tokio::time::sleep_until(at).await;
            let first = usize::try_from(self.next_tick % Self::SLOTS).unwrap_or(0);
            self.next_tick += 1;
            for member in self.members.iter_mut().skip(first).step_by(slots) {
                let (room_id, shared) = &self.rooms[member.room];
                let newest = shared.newest_seq(member.idx);
                if newest <= member.marked {
                    continue;
                }
                member.marked = newest;
                let message = ClientMessage::MarkRead {
                    room_id: room_id.clone(),
                    seq: newest,
                };
                match &mut member.via {
                    Via::Own(sink) => send(*sink, &message).await?,
                    Via::Sender(slot) => send(senders[*slot].sink, &message).await?,
                }
                self.sent += 1;
            }
        }
    }

    /// Like [`drain`], serving the timers meanwhile (they keep firing while the last
    /// deliveries arrive).
    pub async fn drain(
        &mut self,
        probes: &Probes,
        expected: u64,
        grace: Duration,
        senders: &mut [Sender<'_>],
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + grace;
        while probes.delivered() < expected && Instant::now() < deadline {
            let next = Instant::now() + Duration::from_millis(20);
            self.until(next, senders).await?;
            tokio::time::sleep_until(next).await;
        }
        Ok(())
    }
}
