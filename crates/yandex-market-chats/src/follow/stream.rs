//! [`FollowStream`]: opens the checkpoint, runs cycles, hands out their
//! events one at a time and saves what was taken before going on.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::ChatEvent;
use super::checkpoint::SharedCheckpoint;
use super::cycle::Follower;
use super::judge::{Change, Item};
use crate::Error;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Work = BoxFuture<(Follower, Result<Vec<Item>, Error>)>;

enum Step {
    /// Yield this error, then end.
    Failing(Error),
    /// Claim the checkpoint and load the state (before the first cycle).
    Start,
    Opening(BoxFuture<Result<Vec<Vec<u8>>, Error>>),
    /// Hand out queued events, or start the next cycle.
    Idle,
    Working(Work),
    Saving(BoxFuture<Result<(), Error>>),
    Done,
}

/// The events of a [`FollowQuery`](super::FollowQuery). `Send + Unpin +
/// 'static`.
///
/// Before it hands out an event or waits for the next cycle, it saves the
/// state of every event taken so far: after a crash, what comes again is at
/// most the last event taken plus those not taken yet.
#[must_use = "streams do nothing unless polled"]
pub struct FollowStream {
    step: Step,
    /// `None` while a cycle runs (the cycle's future owns it).
    follower: Option<Follower>,
    checkpoint: SharedCheckpoint,
    /// Whether this stream holds the checkpoint (and must give it back).
    opened: bool,
    first_cycle: bool,
    /// Events (and state changes) of the last cycle not taken yet.
    queue: VecDeque<Item>,
    /// An event was taken (or the start point set) and not saved yet.
    taken: bool,
    /// The state changed and is not saved yet.
    dirty: bool,
}

impl std::fmt::Debug for FollowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowStream")
            .field("pending", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl FollowStream {
    pub(crate) fn new(
        follower: Follower,
        checkpoint: SharedCheckpoint,
        problem: Option<Error>,
    ) -> Self {
        Self {
            step: problem.map_or(Step::Start, Step::Failing),
            follower: Some(follower),
            checkpoint,
            opened: false,
            first_cycle: true,
            queue: VecDeque::new(),
            taken: false,
            dirty: false,
        }
    }

    fn follower(&mut self) -> &mut Follower {
        self.follower
            .as_mut()
            .expect("the follower is home between cycles")
    }

    /// Starts saving what changed.
    fn save(&mut self) -> Step {
        self.taken = false;
        self.dirty = false;
        let record = self.follower().record();
        let checkpoint = SharedCheckpoint::clone(&self.checkpoint);
        Step::Saving(Box::pin(async move { record.write(&*checkpoint).await }))
    }
}

impl Stream for FollowStream {
    type Item = Result<ChatEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.step {
                Step::Done => return Poll::Ready(None),
                Step::Failing(_) => {
                    let Step::Failing(error) = std::mem::replace(&mut this.step, Step::Done) else {
                        unreachable!("matched above")
                    };
                    return Poll::Ready(Some(Err(error)));
                }
                Step::Start => {
                    let checkpoint = SharedCheckpoint::clone(&this.checkpoint);
                    let business = this.follower().business();
                    this.step =
                        Step::Opening(Box::pin(async move { checkpoint.open(business).await }));
                }
                Step::Opening(open) => {
                    let Poll::Ready(opened) = open.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    let loaded = opened.and_then(|records| {
                        this.opened = true;
                        this.follower().load(&records)
                    });
                    match loaded {
                        Ok(()) => this.step = Step::Idle,
                        Err(error) => this.step = Step::Failing(error),
                    }
                }
                Step::Saving(save) => {
                    let Poll::Ready(saved) = save.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    match saved {
                        Ok(()) => this.step = Step::Idle,
                        Err(error) => this.step = Step::Failing(error),
                    }
                }
                Step::Working(work) => {
                    let Poll::Ready((follower, result)) = work.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    this.follower = Some(follower);
                    match result {
                        Ok(items) => {
                            this.queue.extend(items);
                            this.step = Step::Idle;
                        }
                        // Everything taken is saved already: a new stream
                        // continues from there.
                        Err(error) => this.step = Step::Failing(error),
                    }
                }
                Step::Idle => {
                    // What was taken is saved before anything else happens;
                    // other changes before the stream waits.
                    if this.taken || (this.dirty && this.queue.is_empty()) {
                        this.step = this.save();
                        continue;
                    }
                    if let Some(item) = this.queue.pop_front() {
                        this.follower().apply(&item);
                        this.dirty = true;
                        // The start point is saved before any event.
                        this.taken = matches!(item.change, Some(Change::Started));
                        if let Some(event) = item.event {
                            this.taken = true;
                            return Poll::Ready(Some(Ok(event)));
                        }
                        continue;
                    }
                    let follower = this.follower.take().expect("a follower when idle");
                    let first = std::mem::replace(&mut this.first_cycle, false);
                    this.step = Step::Working(Box::pin(follower.cycle(first)));
                }
            }
        }
    }
}

impl Drop for FollowStream {
    fn drop(&mut self) {
        // The checkpoint is free for the next stream. What was taken and
        // not saved yet (the last event, at most) comes again.
        if self.opened {
            self.checkpoint.close();
        }
    }
}
