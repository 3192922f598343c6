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

/// How many ended invocations an instance remembers (request ids and invocation ids), to
/// tell "answered twice" (403) and "too late, it timed out" (410) from "never yours" (400).
const REMEMBERED_ANSWERS: usize = 64;

/// What the lifecycle needs of an invocation: the id the Runtime API knows it by.
pub(crate) trait Identified {
    /// The invocation's request id.
    fn request_id(&self) -> &str;

    /// The tenant it runs for (`X-Amz-Tenant-Id`), on a function with tenant isolation.
    fn tenant(&self) -> Option<&str> {
        None
    }
}

/// The invocation an instance runs.
pub(crate) struct Running<I> {
    pub(crate) invocation: I,
    pub(crate) delivered_at: Option<Instant>,
    /// The nonce sent as `Lambda-Runtime-Invocation-Id` with its delivery (made at its first
    /// delivery, and sent again if a runtime that lost the event asks again: the same run).
    pub(crate) invocation_id: Option<String>,
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
    /// Hand out this running invocation under `invocation_id`, its one delivery (the driver
    /// logs START and starts its timer).
    Deliver {
        request_id: String,
        invocation_id: String,
    },
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
    /// That invocation timed out: the answer is too late (AWS: 410, `InvokeTimeout`).
    TimedOut,
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

/// How an invocation ended, as the instance remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its result (or a failure to read one) ended it.
    Answered,
    /// Its timeout ended it.
    TimedOut,
}

/// One ended invocation, remembered to answer a late post for it.
struct Gone {
    request_id: String,
    invocation_id: Option<String>,
    how: Outcome,
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
    answered: VecDeque<Gone>,
    init_duration: Option<Duration>,
    init_reported: bool,
    /// The one tenant it serves for life, once bound ([`Lifecycle::bind`] or its first
    /// invocation that names one): Lambda never reuses an execution environment of a
    /// function with tenant isolation across tenants.
    tenant: Option<String>,
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
            tenant: None,
        }
    }

    /// Reserves the instance for `tenant` (`None`: no tenant, it stays unbound). An instance
    /// already bound keeps its tenant: it serves one for life.
    pub(crate) fn bind(&mut self, tenant: Option<&str>) {
        if self.tenant.is_none() {
            self.tenant = tenant.map(str::to_string);
        }
    }

    /// The tenant it serves, once bound.
    pub(crate) fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Whether it may run an invocation of `tenant`: it is bound to that tenant, or bound to
    /// none and the invocation names none (an unbound instance takes a tenant's first
    /// invocation only when the driver bound it first, or it is the one endpoint of a
    /// runtime started by hand).
    pub(crate) fn serves(&self, tenant: Option<&str>) -> bool {
        match (&self.tenant, tenant) {
            (Some(own), Some(tenant)) => own == tenant,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// Initialised, running nothing and writing no lines: it may be ended without failing
    /// anyone (to make room for another tenant's instance).
    pub(crate) fn is_idle(&self) -> bool {
        self.initialized && self.running.is_empty() && self.finishing == 0
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

    /// `GET /next`, `init_took` after the instance started; `fresh_id` makes the nonce of an
    /// invocation's first delivery.
    pub(crate) fn next(
        &mut self,
        now: Instant,
        init_took: Duration,
        fresh_id: impl FnOnce() -> String,
    ) -> Next {
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
            let invocation_id = fresh_id();
            running.invocation_id = Some(invocation_id.clone());
            return Next::Deliver {
                request_id: running.invocation.request_id().to_string(),
                invocation_id,
            };
        }
        // A runtime asking again while its invocations run waits: a delivered invocation is
        // never handed out again, whatever the runtime did with it (a handler's side effects
        // happen once per delivery). On Lambda such a `/next` blocks as well, and the
        // invocation it did not answer ends by its timeout.
        Next::Wait {
            freeze: self.running.is_empty(),
        }
    }

    /// Offers `invocation`: taken (`None`) when [`Lifecycle::can_take`] and it
    /// [`serves`](Lifecycle::serves) the invocation's tenant (binding an unbound instance to
    /// it), else given back.
    pub(crate) fn offer(&mut self, invocation: I) -> Option<I> {
        if !self.can_take() || !self.serves(invocation.tenant()) {
            return Some(invocation);
        }
        self.bind(invocation.tenant());
        self.running.push(Running {
            invocation,
            delivered_at: None,
            invocation_id: None,
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
    pub(crate) fn begin_answer(
        &mut self,
        request_id: &str,
        echoed: Option<&str>,
    ) -> Option<Posted<I>> {
        let refused = self.refusal(request_id, echoed);
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
    ///
    /// With `echoed` (the `Lambda-Runtime-Invocation-Id` the runtime sent back), the result
    /// must be for the delivery that nonce names: the nonce of an invocation that timed out
    /// is too late (410) even when a later invocation runs under the same request id, one
    /// that was answered is answered (403), any other is a stranger's (400). Without it (a
    /// runtime that does not echo), the request id alone decides, as before the nonce.
    fn refusal(&self, request_id: &str, echoed: Option<&str>) -> Option<Posted<I>> {
        let current = self.delivered(request_id);
        let ended = |gone: &Gone| match echoed {
            Some(nonce) => gone.invocation_id.as_deref() == Some(nonce),
            None => gone.request_id == request_id,
        };
        match (current, echoed) {
            (Some(running), Some(nonce)) if running.invocation_id.as_deref() == Some(nonce) => {
                return None;
            }
            (Some(_), None) => return None,
            _ => {}
        }
        // The most recent end under that name says how it ended.
        Some(match self.answered.iter().rev().find(|gone| ended(gone)) {
            Some(Gone {
                how: Outcome::TimedOut,
                ..
            }) => Posted::TimedOut,
            Some(_) => Posted::AlreadyAnswered,
            None => Posted::UnknownId,
        })
    }

    /// A result posted for `request_id` by `poster`. While a streamed answer is under way,
    /// only it or an error (which ends it, as AWS lets a runtime's error interrupt a stream)
    /// ends the invocation; another response is refused.
    pub(crate) fn post(
        &mut self,
        request_id: &str,
        echoed: Option<&str>,
        poster: Poster,
        is_error: bool,
    ) -> Posted<I> {
        if let Some(refused) = self.refusal(request_id, echoed) {
            return refused;
        }
        let answering = self
            .delivered(request_id)
            .is_some_and(|running| running.answering);
        if answering && poster == Poster::Whole && !is_error {
            return Posted::InProgress;
        }
        match self.finish_running(request_id, Outcome::Answered) {
            Some(running) => Posted::Accepted(Box::new(running)),
            None => Posted::UnknownId,
        }
    }

    /// Ends the running invocation `request_id` (answered, or timed out: `how`): its lines
    /// are being written.
    pub(crate) fn finish_running(&mut self, request_id: &str, how: Outcome) -> Option<Running<I>> {
        let at = self
            .running
            .iter()
            .position(|r| r.invocation.request_id() == request_id)?;
        let running = self.running.remove(at);
        self.finishing += 1;
        self.answered.push_back(Gone {
            request_id: request_id.to_string(),
            invocation_id: running.invocation_id.clone(),
            how,
        });
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

    /// An invocation as the lifecycle sees it: an id and, on a per-tenant function, a tenant.
    struct Invocation {
        request_id: String,
        tenant: Option<String>,
    }

    impl Identified for Invocation {
        fn request_id(&self) -> &str {
            &self.request_id
        }

        fn tenant(&self) -> Option<&str> {
            self.tenant.as_deref()
        }
    }

    type Lifecycle = super::Lifecycle<Invocation>;

    fn invocation() -> Invocation {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Invocation {
            request_id: format!("request-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            tenant: None,
        }
    }

    fn of_tenant(tenant: &str) -> Invocation {
        Invocation {
            tenant: Some(tenant.to_string()),
            ..invocation()
        }
    }

    #[test]
    fn an_instance_serves_one_tenant_for_life() {
        let mut life = Lifecycle::new(1, true);
        assert_eq!(life.next(at(1), Duration::ZERO, fresh), Next::Initialized);
        assert!(
            life.offer(of_tenant("blue")).is_none(),
            "unbound: takes blue"
        );
        assert_eq!(life.tenant(), Some("blue"));
        let id = deliver(&mut life);
        assert!(matches!(
            life.post(&id, None, Poster::Whole, false),
            Posted::Accepted(_)
        ));
        assert!(life.finished());
        assert!(life.is_idle());
        let green = life.offer(of_tenant("green"));
        assert!(green.is_some(), "idle, and still never green's");
        assert!(
            life.offer(invocation()).is_some(),
            "nor an invocation of no tenant"
        );
        life.bind(Some("green"));
        assert_eq!(
            life.tenant(),
            Some("blue"),
            "a bound instance keeps its tenant"
        );
        assert!(life.offer(of_tenant("blue")).is_none());
    }

    #[test]
    fn an_instance_bound_before_its_init_takes_only_its_tenant() {
        let mut life = Lifecycle::new(2, true);
        life.bind(Some("blue"));
        assert!(!life.is_idle(), "initialising");
        assert_eq!(life.next(at(1), Duration::ZERO, fresh), Next::Initialized);
        assert!(life.offer(of_tenant("green")).is_some());
        assert!(life.offer(of_tenant("blue")).is_none());
        assert!(life.serves(Some("blue")) && !life.serves(Some("green")));
    }

    fn at(ms: u64) -> Instant {
        // A fixed base: transitions read time only as given.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    /// A nonce for a first delivery: `nonce-N`, counted per test thread.
    fn fresh() -> String {
        thread_local!(static COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });
        COUNT.with(|count| {
            count.set(count.get() + 1);
            format!("nonce-{}", count.get())
        })
    }

    fn deliver(life: &mut Lifecycle) -> String {
        match life.next(at(1), Duration::ZERO, fresh) {
            Next::Deliver { request_id, .. } => request_id,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn an_invocation_goes_init_ready_running_finishing_ready() {
        let mut life = Lifecycle::new(1, true);
        assert!(life.is_init() && life.will_be_free() && !life.can_take());
        assert_eq!(
            life.next(at(5), Duration::from_millis(5), fresh),
            Next::Initialized
        );
        assert_eq!(
            life.next(at(6), Duration::ZERO, fresh),
            Next::Wait { freeze: true }
        );
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(!life.will_be_free());
        assert!(life.delivered(&id).is_none(), "offered, not yet delivered");
        assert_eq!(
            life.next(at(7), Duration::ZERO, fresh),
            Next::Deliver {
                request_id: id.clone(),
                invocation_id: "nonce-1".into()
            }
        );
        assert_eq!(
            life.next(at(8), Duration::ZERO, fresh),
            Next::Wait { freeze: false },
            "asked again without an answer: never handed out twice"
        );
        let Posted::Accepted(running) = life.post(&id, None, Poster::Whole, false) else {
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
        life.next(at(0), Duration::from_millis(3), fresh);
        for expected in [Some(Duration::from_millis(3)), None] {
            assert!(life.offer(invocation()).is_none());
            let id = deliver(&mut life);
            let Posted::Accepted(running) = life.post(&id, None, Poster::Whole, false) else {
                panic!("accepted");
            };
            assert_eq!(running.init_duration, expected);
            life.finished();
        }
    }

    #[test]
    fn a_second_result_is_already_answered_and_a_stranger_is_unknown() {
        let mut life = Lifecycle::new(1, false);
        life.next(at(0), Duration::ZERO, fresh);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(
            matches!(
                life.post(&id, None, Poster::Whole, false),
                Posted::UnknownId
            ),
            "not delivered yet"
        );
        deliver(&mut life);
        assert!(matches!(
            life.post("someone-else", None, Poster::Whole, false),
            Posted::UnknownId
        ));
        assert!(matches!(
            life.post(&id, None, Poster::Whole, false),
            Posted::Accepted(_)
        ));
        assert!(matches!(
            life.post(&id, None, Poster::Whole, false),
            Posted::AlreadyAnswered
        ));
    }

    #[test]
    fn a_busy_or_initialising_instance_takes_no_invocation() {
        let mut life = Lifecycle::new(1, true);
        assert!(life.offer(invocation()).is_some(), "initialising");
        life.next(at(0), Duration::ZERO, fresh);
        assert!(life.offer(invocation()).is_none());
        assert!(life.offer(invocation()).is_some(), "busy");
    }

    #[test]
    fn ending_hands_back_the_invocations_it_ran() {
        let mut life = Lifecycle::new(1, true);
        assert!(life.end().during_init);
        let mut life = Lifecycle::new(1, true);
        life.next(at(0), Duration::ZERO, fresh);
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
        life.next(at(0), Duration::ZERO, fresh);
        assert!(life.offer(invocation()).is_none());
        let id = deliver(&mut life);
        assert!(life.finish_running("other", Outcome::TimedOut).is_none());
        assert!(life.finish_running(&id, Outcome::TimedOut).is_some());
        assert!(life.finish_running(&id, Outcome::TimedOut).is_none());
        assert!(
            matches!(life.post(&id, None, Poster::Whole, false), Posted::TimedOut),
            "a late answer of a timed-out invocation is too late (410), not a second one"
        );
    }

    /// Two deliveries under one request id, the first timed out: `(id, first's nonce,
    /// second's nonce)`, the second delivered and running.
    fn reused_after_a_timeout(life: &mut Lifecycle) -> (String, String, String) {
        life.next(at(0), Duration::ZERO, fresh);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        let Next::Deliver {
            invocation_id: first,
            ..
        } = life.next(at(1), Duration::ZERO, || "first".into())
        else {
            panic!("delivered");
        };
        assert!(life.finish_running(&id, Outcome::TimedOut).is_some());
        assert!(life.finished());
        assert!(
            life.offer(Invocation {
                request_id: id.clone(),
                tenant: None,
            })
            .is_none()
        );
        let Next::Deliver {
            request_id,
            invocation_id: second,
        } = life.next(at(2), Duration::ZERO, || "second".into())
        else {
            panic!("delivered again");
        };
        assert_eq!(request_id, id, "the same request id");
        assert_ne!(first, second, "a nonce per delivery");
        (id, first, second)
    }

    #[test]
    fn an_echoed_nonce_refuses_the_timed_out_answer_under_a_reused_request_id() {
        let mut life = Lifecycle::new(2, false);
        let (id, first, second) = reused_after_a_timeout(&mut life);
        assert!(matches!(
            life.post(&id, Some(&first), Poster::Whole, false),
            Posted::TimedOut
        ));
        assert!(matches!(
            life.begin_answer(&id, Some(&first)),
            Some(Posted::TimedOut)
        ));
        assert!(matches!(
            life.post(&id, Some("nobody's"), Poster::Whole, true),
            Posted::UnknownId
        ));
        assert!(matches!(
            life.post(&id, Some(&second), Poster::Whole, false),
            Posted::Accepted(_)
        ));
        assert!(matches!(
            life.post(&id, Some(&second), Poster::Whole, false),
            Posted::AlreadyAnswered
        ));
    }

    #[test]
    fn without_an_echo_the_request_id_alone_decides() {
        let mut life = Lifecycle::new(2, false);
        let (id, _, _) = reused_after_a_timeout(&mut life);
        // A runtime that does not echo cannot be told apart: its post answers the running
        // invocation of that id, as on Lambda (no header, no validation).
        assert!(matches!(
            life.post(&id, None, Poster::Whole, false),
            Posted::Accepted(_)
        ));
    }

    #[test]
    fn with_slots_several_run_at_once_each_poll_gets_its_own_and_idle_freezes() {
        let mut life = Lifecycle::new(3, true);
        life.next(at(0), Duration::ZERO, fresh);
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
            life.next(at(2), Duration::ZERO, fresh),
            Next::Wait { freeze: false },
            "a fourth poll waits, and nothing is frozen while others run"
        );
        assert!(matches!(
            life.post(&ids[1], None, Poster::Whole, false),
            Posted::Accepted(_)
        ));
        assert!(
            life.can_take(),
            "a slot is free while the answered one's lines are written"
        );
        for id in [&ids[0], &ids[2]] {
            assert!(matches!(
                life.post(id, None, Poster::Whole, false),
                Posted::Accepted(_)
            ));
        }
        assert_eq!(
            life.next(at(3), Duration::ZERO, fresh),
            Next::Wait { freeze: true }
        );
    }

    #[test]
    fn a_streamed_answer_under_way_refuses_another_and_is_never_handed_out_again() {
        let mut life = Lifecycle::new(1, false);
        life.next(at(0), Duration::ZERO, fresh);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(
            matches!(life.begin_answer(&id, None), Some(Posted::UnknownId)),
            "not delivered yet"
        );
        deliver(&mut life);
        assert!(
            life.begin_answer(&id, None).is_none(),
            "the first stream goes on"
        );
        assert!(matches!(
            life.begin_answer(&id, None),
            Some(Posted::InProgress)
        ));
        assert!(matches!(
            life.post(&id, None, Poster::Whole, false),
            Posted::InProgress
        ));
        assert_eq!(
            life.next(at(2), Duration::ZERO, fresh),
            Next::Wait { freeze: false },
            "its handler ran: the event is not handed out again"
        );
        assert!(matches!(
            life.post(&id, None, Poster::Stream, false),
            Posted::Accepted(_)
        ));
        assert!(matches!(
            life.begin_answer(&id, None),
            Some(Posted::AlreadyAnswered)
        ));
    }

    #[test]
    fn an_error_ends_a_streamed_answer_under_way() {
        let mut life = Lifecycle::new(1, false);
        life.next(at(0), Duration::ZERO, fresh);
        assert!(life.offer(invocation()).is_none());
        let id = deliver(&mut life);
        assert!(life.begin_answer(&id, None).is_none());
        assert!(matches!(
            life.post(&id, None, Poster::Whole, true),
            Posted::Accepted(_)
        ));
        assert!(matches!(
            life.post(&id, None, Poster::Stream, false),
            Posted::AlreadyAnswered
        ));
    }
}
