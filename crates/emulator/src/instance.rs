//! The life of one execution environment as a state machine: its phases and the transitions
//! that the Runtime API and the function's supervision cause. Pure: no I/O, no clock, no
//! locks, no async runtime; generic over the invocation it runs (anything with a request id,
//! [`Identified`]), so it is tested here with plain values. Each transition returns what
//! happened, and the driver (`function/`) does the effects (answering `/next`, starting and
//! cancelling timers, freezing, logging, killing) and keeps the timers and channels with its
//! own invocation type.
//!
//! ```text
//!   Init --/next--> ready --offer--> running (undelivered) --/next--> running (delivered)
//!                     ^                                                      |
//!                     +-------finished------- finishing <---result posted----+
//! ```
//! An instance has `slots` places (`AWS_LAMBDA_MAX_CONCURRENCY`, 1 on every Lambda but Managed
//! Instances): it takes an invocation while fewer run. With one slot it also waits until the
//! last invocation's END and REPORT lines are written, so no two invocations' lines mix; with
//! several, its runtime polls `/next` once per slot and lines mix as they do on Lambda.
//! A timeout, a crash or an init error ends the instance; the driver then takes the
//! invocations it was running ([`Lifecycle::end`]) to answer them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many answered request ids an instance remembers, to tell "answered twice" (403) from
/// "never yours" (400).
const REMEMBERED_ANSWERS: usize = 64;

/// What the lifecycle needs of an invocation: the id the Runtime API knows it by.
pub(crate) trait Identified {
    /// The invocation's request id.
    fn request_id(&self) -> &str;
}

/// The invocation an instance runs.
pub(crate) struct Running<I> {
    pub(crate) invocation: I,
    pub(crate) delivered_at: Option<Instant>,
    /// The instance's init duration, reported with its first invocation only.
    pub(crate) init_duration: Option<Duration>,
    /// A streamed answer is being read for it: a second answer is refused, and `/next`
    /// never hands it out again.
    pub(crate) answering: bool,
}

/// What a `GET /next` from the instance leads to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The instance finished its init: it is ready now (the driver offers it work and asks
    /// again).
    Initialized,
    /// Hand out this running invocation; `first` when this is its first delivery (the driver
    /// then logs START and starts its timer).
    Deliver { request_id: String, first: bool },
    /// Nothing to do: wait until an invocation is offered; `freeze` when nothing runs at all
    /// (the instance is idle, and Lambda freezes it).
    Wait { freeze: bool },
}

/// What a result (`/response` or `/error`) posted for a request id leads to.
pub(crate) enum Posted<I> {
    /// It answers this running invocation, handed back to be finished.
    Accepted(Box<Running<I>>),
    /// That invocation was answered already (AWS: 403).
    AlreadyAnswered,
    /// Another answer to it is being read (AWS: 400, `Runtime.InvokeResponseInProgress`).
    InProgress,
    /// Not an invocation of this instance (AWS: 400).
    UnknownId,
}

/// Who posts a result: the streamed answer that [`Lifecycle::begin_answer`] let in, or
/// anyone else (a whole `/response` or `/error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Poster {
    /// The streamed answer under way for the invocation.
    Stream,
    /// A request that carries the whole result.
    Whole,
}

/// How an instance ended: whether it was still initialising, and what it was running.
pub(crate) struct Ended<I> {
    pub(crate) during_init: bool,
    pub(crate) running: Vec<Running<I>>,
}

/// One instance's state and what it remembers across invocations.
pub(crate) struct Lifecycle<I> {
    slots: usize,
    initialized: bool,
    running: Vec<Running<I>>,
    /// Invocations answered whose END and REPORT lines are still being written.
    finishing: usize,
    answered: VecDeque<String>,
    init_duration: Option<Duration>,
    init_reported: bool,
}

impl<I: Identified> Lifecycle<I> {
    /// A new, initialising instance with `slots` places. `report_init` is false where no Init
    /// Duration is measured (a runtime started by hand).
    pub(crate) fn new(slots: usize, report_init: bool) -> Self {
        Lifecycle {
            slots: slots.max(1),
            initialized: false,
            running: Vec::new(),
            finishing: 0,
            answered: VecDeque::new(),
            init_duration: None,
            init_reported: !report_init,
        }
    }

    /// Whether it is still initialising.
    pub(crate) fn is_init(&self) -> bool {
        !self.initialized
    }

    /// Whether it takes an invocation now.
    pub(crate) fn can_take(&self) -> bool {
        self.initialized
            && if self.slots == 1 {
                self.running.is_empty() && self.finishing == 0
            } else {
                self.running.len() < self.slots
            }
    }

    /// Whether it will take an invocation without another instance being started: it is
    /// initialising, or has (or is about to have) a free slot.
    pub(crate) fn will_be_free(&self) -> bool {
        self.running.len() < self.slots
    }

    /// `GET /next`, `init_took` after the instance started.
    pub(crate) fn next(&mut self, now: Instant, init_took: Duration) -> Next {
        if !self.initialized {
            self.initialized = true;
            self.init_duration = Some(init_took);
            return Next::Initialized;
        }
        if let Some(running) = self.running.iter_mut().find(|r| r.delivered_at.is_none()) {
            running.delivered_at = Some(now);
            if !self.init_reported {
                self.init_reported = true;
                running.init_duration = self.init_duration;
            }
            return Next::Deliver {
                request_id: running.invocation.request_id().to_string(),
                first: true,
            };
        }
        // With one slot, a runtime asking again while its invocation runs gets it again (it
        // lost the event); with several, the other slots simply wait. An invocation whose
        // answer is being read is never handed out again: its handler has run.
        if self.slots == 1
            && let Some(running) = self.running.first()
            && !running.answering
        {
            return Next::Deliver {
                request_id: running.invocation.request_id().to_string(),
                first: false,
            };
        }
        Next::Wait {
            freeze: self.running.is_empty(),
        }
    }

    /// Offers `invocation`: taken (`None`) when [`Lifecycle::can_take`], else given back.
    pub(crate) fn offer(&mut self, invocation: I) -> Option<I> {
        if !self.can_take() {
            return Some(invocation);
        }
        self.running.push(Running {
            invocation,
            delivered_at: None,
            init_duration: None,
            answering: false,
        });
        None
    }

    /// The running invocation `request_id`, when it has been delivered.
    pub(crate) fn delivered(&self, request_id: &str) -> Option<&Running<I>> {
        self.running
            .iter()
            .find(|r| r.delivered_at.is_some() && r.invocation.request_id() == request_id)
    }

    /// The running invocation `request_id`, delivered or not.
    pub(crate) fn running_mut(&mut self, request_id: &str) -> Option<&mut Running<I>> {
        self.running
            .iter_mut()
            .find(|r| r.invocation.request_id() == request_id)
    }

    /// A streamed answer for `request_id` starts: `None` when it may go on (the invocation
    /// is delivered and no other answer is under way; none is let in after it), else why not.
    pub(crate) fn begin_answer(&mut self, request_id: &str) -> Option<Posted<I>> {
        let refused = self.refusal(request_id);
        if refused.is_some() {
            return refused;
        }
        let Some(running) = self
            .running
            .iter_mut()
            .find(|r| r.delivered_at.is_some() && r.invocation.request_id() == request_id)
        else {
            return Some(Posted::UnknownId);
        };
        if running.answering {
            return Some(Posted::InProgress);
        }
        running.answering = true;
        None
    }

    /// Why a result for `request_id` is refused before looking at its answer, if it is.
    fn refusal(&self, request_id: &str) -> Option<Posted<I>> {
        if self.delivered(request_id).is_some() {
            return None;
        }
        Some(if self.answered.iter().any(|id| id == request_id) {
            Posted::AlreadyAnswered
        } else {
            Posted::UnknownId
        })
    }

    /// A result posted for `request_id` by `poster`. While a streamed answer is under way,
    /// only it or an error (which ends it, as AWS lets a runtime's error interrupt a stream)
    /// ends the invocation; another response is refused.
    pub(crate) fn post(&mut self, request_id: &str, poster: Poster, is_error: bool) -> Posted<I> {
        if let Some(refused) = self.refusal(request_id) {
            return refused;
        }
        let answering = self
            .delivered(request_id)
            .is_some_and(|running| running.answering);
        if answering && poster == Poster::Whole && !is_error {
            return Posted::InProgress;
        }
        match self.finish_running(request_id) {
            Some(running) => Posted::Accepted(Box::new(running)),
            None => Posted::UnknownId,
        }
    }

    /// Ends the running invocation `request_id` (answered, or timed out): its lines are being
    /// written.
    pub(crate) fn finish_running(&mut self, request_id: &str) -> Option<Running<I>> {
        let at = self
            .running
            .iter()
            .position(|r| r.invocation.request_id() == request_id)?;
        let running = self.running.remove(at);
        self.finishing += 1;
        self.answered.push_back(request_id.to_string());
        if self.answered.len() > REMEMBERED_ANSWERS {
            self.answered.pop_front();
        }
        Some(running)
    }

    /// The instance is ending (crash, init failure, a timeout that kills it): whether it was
    /// initialising, and the invocations it ran, for the driver to answer.
    pub(crate) fn end(&mut self) -> Ended<I> {
        Ended {
            during_init: !self.initialized,
            running: std::mem::take(&mut self.running),
        }
    }

    /// One invocation's END and REPORT lines are written. False when none was finishing.
    pub(crate) fn finished(&mut self) -> bool {
        if self.finishing == 0 {
            return false;
        }
        self.finishing -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// An invocation as the lifecycle sees it: an id, nothing else.
    struct Invocation {
        request_id: String,
    }

    impl Identified for Invocation {
        fn request_id(&self) -> &str {
            &self.request_id
        }
    }

    type Lifecycle = super::Lifecycle<Invocation>;

    fn invocation() -> Invocation {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Invocation {
            request_id: format!("request-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }

    fn at(ms: u64) -> Instant {
        // A fixed base: transitions read time only as given.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    fn deliver(life: &mut Lifecycle) -> String {
        match life.next(at(1), Duration::ZERO) {
            Next::Deliver { request_id, .. } => request_id,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn an_invocation_goes_init_ready_running_finishing_ready() {
        let mut life = Lifecycle::new(1, true);
        assert!(life.is_init() && life.will_be_free() && !life.can_take());
        assert_eq!(
            life.next(at(5), Duration::from_millis(5)),
            Next::Initialized
        );
        assert_eq!(
            life.next(at(6), Duration::ZERO),
            Next::Wait { freeze: true }
        );
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(!life.will_be_free());
        assert!(life.delivered(&id).is_none(), "offered, not yet delivered");
        assert_eq!(
            life.next(at(7), Duration::ZERO),
            Next::Deliver {
                request_id: id.clone(),
                first: true
            }
        );
        assert_eq!(
            life.next(at(8), Duration::ZERO),
            Next::Deliver {
                request_id: id.clone(),
                first: false
            }
        );
        let Posted::Accepted(running) = life.post(&id, Poster::Whole, false) else {
            panic!("the running invocation's result is accepted");
        };
        assert_eq!(running.init_duration, Some(Duration::from_millis(5)));
        assert!(!life.can_take(), "its lines are being written");
        assert!(life.finished());
        assert!(!life.finished(), "only once");
        assert!(life.can_take());
    }

    #[test]
    fn only_the_first_invocation_reports_init() {
        let mut life = Lifecycle::new(1, true);
        life.next(at(0), Duration::from_millis(3));
        for expected in [Some(Duration::from_millis(3)), None] {
            assert!(life.offer(invocation()).is_none());
            let id = deliver(&mut life);
            let Posted::Accepted(running) = life.post(&id, Poster::Whole, false) else {
                panic!("accepted");
            };
            assert_eq!(running.init_duration, expected);
            life.finished();
        }
    }

    #[test]
    fn a_second_result_is_already_answered_and_a_stranger_is_unknown() {
        let mut life = Lifecycle::new(1, false);
        life.next(at(0), Duration::ZERO);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(
            matches!(life.post(&id, Poster::Whole, false), Posted::UnknownId),
            "not delivered yet"
        );
        deliver(&mut life);
        assert!(matches!(
            life.post("someone-else", Poster::Whole, false),
            Posted::UnknownId
        ));
        assert!(matches!(
            life.post(&id, Poster::Whole, false),
            Posted::Accepted(_)
        ));
        assert!(matches!(
            life.post(&id, Poster::Whole, false),
            Posted::AlreadyAnswered
        ));
    }

    #[test]
    fn a_busy_or_initialising_instance_takes_no_invocation() {
        let mut life = Lifecycle::new(1, true);
        assert!(life.offer(invocation()).is_some(), "initialising");
        life.next(at(0), Duration::ZERO);
        assert!(life.offer(invocation()).is_none());
        assert!(life.offer(invocation()).is_some(), "busy");
    }

    #[test]
    fn ending_hands_back_the_invocations_it_ran() {
        let mut life = Lifecycle::new(1, true);
        assert!(life.end().during_init);
        let mut life = Lifecycle::new(1, true);
        life.next(at(0), Duration::ZERO);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        let ended = life.end();
        assert!(!ended.during_init);
        assert_eq!(ended.running.len(), 1);
        assert_eq!(ended.running[0].invocation.request_id, id);
    }

    #[test]
    fn a_timeout_finishes_the_running_invocation_once() {
        let mut life = Lifecycle::new(1, true);
        life.next(at(0), Duration::ZERO);
        assert!(life.offer(invocation()).is_none());
        let id = deliver(&mut life);
        assert!(life.finish_running("other").is_none());
        assert!(life.finish_running(&id).is_some());
        assert!(life.finish_running(&id).is_none());
        assert!(matches!(
            life.post(&id, Poster::Whole, false),
            Posted::AlreadyAnswered
        ));
    }

    #[test]
    fn with_slots_several_run_at_once_each_poll_gets_its_own_and_idle_freezes() {
        let mut life = Lifecycle::new(3, true);
        life.next(at(0), Duration::ZERO);
        let ids: Vec<String> = (0..3)
            .map(|_| {
                let invocation = invocation();
                let id = invocation.request_id.clone();
                assert!(life.offer(invocation).is_none());
                id
            })
            .collect();
        assert!(life.offer(invocation()).is_some(), "three slots, all taken");
        assert!(!life.will_be_free());
        let delivered: Vec<String> = (0..3).map(|_| deliver(&mut life)).collect();
        assert_eq!(
            delivered, ids,
            "each poll gets an invocation of its own, in order"
        );
        assert_eq!(
            life.next(at(2), Duration::ZERO),
            Next::Wait { freeze: false },
            "a fourth poll waits, and nothing is frozen while others run"
        );
        assert!(matches!(
            life.post(&ids[1], Poster::Whole, false),
            Posted::Accepted(_)
        ));
        assert!(
            life.can_take(),
            "a slot is free while the answered one's lines are written"
        );
        for id in [&ids[0], &ids[2]] {
            assert!(matches!(
                life.post(id, Poster::Whole, false),
                Posted::Accepted(_)
            ));
        }
        assert_eq!(
            life.next(at(3), Duration::ZERO),
            Next::Wait { freeze: true }
        );
    }

    #[test]
    fn a_streamed_answer_under_way_refuses_another_and_is_never_handed_out_again() {
        let mut life = Lifecycle::new(1, false);
        life.next(at(0), Duration::ZERO);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(
            matches!(life.begin_answer(&id), Some(Posted::UnknownId)),
            "not delivered yet"
        );
        deliver(&mut life);
        assert!(life.begin_answer(&id).is_none(), "the first stream goes on");
        assert!(matches!(life.begin_answer(&id), Some(Posted::InProgress)));
        assert!(matches!(
            life.post(&id, Poster::Whole, false),
            Posted::InProgress
        ));
        assert_eq!(
            life.next(at(2), Duration::ZERO),
            Next::Wait { freeze: false },
            "its handler ran: the event is not handed out again"
        );
        assert!(matches!(
            life.post(&id, Poster::Stream, false),
            Posted::Accepted(_)
        ));
        assert!(matches!(
            life.begin_answer(&id),
            Some(Posted::AlreadyAnswered)
        ));
    }

    #[test]
    fn an_error_ends_a_streamed_answer_under_way() {
        let mut life = Lifecycle::new(1, false);
        life.next(at(0), Duration::ZERO);
        assert!(life.offer(invocation()).is_none());
        let id = deliver(&mut life);
        assert!(life.begin_answer(&id).is_none());
        assert!(matches!(
            life.post(&id, Poster::Whole, true),
            Posted::Accepted(_)
        ));
        assert!(matches!(
            life.post(&id, Poster::Stream, false),
            Posted::AlreadyAnswered
        ));
    }
}
