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
/// sends `markRead` with the newest `seq` it has got in the room when that moved since
/// its last one (timer-paced, not per message). The members' timers are spread over the
/// second in [`ReadMarking::SLOTS`] slots (member `i` in slot `i % SLOTS`), as
/// independent clients' timers would be, rather than all firing at once.
pub struct ReadMarking<'a> {
    room_id: RoomId,
    shared: Arc<Shared>,
    /// Per member: its sink, or `None` when it is a sender (then `sender_slot` says which).
    sinks: Vec<Option<&'a mut crate::client::Sink>>,
    sender_slot: Vec<Option<usize>>,
    /// Per member: the `seq` of its last `markRead`.
    marked: Vec<u64>,
    start: Instant,
    next_tick: u64,
    /// `markRead` frames sent.
    pub sent: u64,
}

impl<'a> ReadMarking<'a> {
    /// Ticks per second; each member's timer fires on one of them.
    pub const SLOTS: u64 = 20;

    /// `members` are the room's, in order; `senders[s]` is the index of the member whose
    /// sink the plan's sender `s` borrows (its entry in `members` is skipped).
    pub fn new(
        room_id: RoomId,
        shared: Arc<Shared>,
        members: impl Iterator<Item = Option<&'a mut crate::client::Sink>>,
        senders: &[usize],
    ) -> Self {
        let sinks: Vec<_> = members.collect();
        let mut sender_slot = vec![None; sinks.len()];
        for (slot, &member) in senders.iter().enumerate() {
            sender_slot[member] = Some(slot);
        }
        let marked = vec![0; sinks.len()];
        Self {
            room_id,
            shared,
            sinks,
            sender_slot,
            marked,
            start: Instant::now(),
            next_tick: 1,
            sent: 0,
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
        loop {
            let at = self.tick_at(self.next_tick);
            if at > until {
                return Ok(());
            }
            tokio::time::sleep_until(at).await;
            let slot = self.next_tick % Self::SLOTS;
            self.next_tick += 1;
            let members = usize::try_from(Self::SLOTS).unwrap_or(1);
            let first = usize::try_from(slot).unwrap_or(0);
            for idx in (first..self.sinks.len()).step_by(members) {
                let newest = self.shared.newest_seq(idx);
                if newest <= self.marked[idx] {
                    continue;
                }
                self.marked[idx] = newest;
                let message = ClientMessage::MarkRead {
                    room_id: self.room_id.clone(),
                    seq: newest,
                };
                match (&mut self.sinks[idx], self.sender_slot[idx]) {
                    (_, Some(slot)) => send(senders[slot].sink, &message).await?,
                    (Some(sink), None) => send(*sink, &message).await?,
                    (None, None) => continue,
                }
                self.sent += 1;
            }
        }
    }
}
