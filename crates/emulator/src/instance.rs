//! The life of one execution environment as a state machine: its phases and the transitions
//! that the Runtime API and the function's supervision cause. Pure: no I/O, no clock, no
//! locks; each transition returns what happened, and the driver ([`crate::function`]) does the
//! effects (answering `/next`, starting timers, freezing, logging, killing).
//!
//! ```text
//!   Init --/next--> Idle --offer--> Busy(undelivered) --/next--> Busy(delivered)
//!                    ^                                                  |
//!                    +------finished------ Finishing <---result posted--+
//! ```
//! A timeout, a crash or an init error ends the instance from any phase; the driver then takes
//! the invocation it was running ([`Lifecycle::take_running`]) to answer it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use crate::function::Invocation;

/// How many answered request ids an instance remembers, to tell "answered twice" (403) from
/// "never yours" (400).
const REMEMBERED_ANSWERS: usize = 64;

/// Where an instance is in its life.
pub(crate) enum Phase {
    /// Started, has not called `/next` yet.
    Init,
    /// Ready for an invocation (in `/next`, or about to call it).
    Idle,
    /// An invocation is assigned; `delivered_at` is set once `/next` returned it.
    Busy(Running),
    /// Answered; its END/REPORT lines are being written. It gets no invocation until then,
    /// so an invocation's log lines never mix with the next one's.
    Finishing,
}

/// The invocation an instance runs.
pub(crate) struct Running {
    pub(crate) invocation: Invocation,
    pub(crate) delivered_at: Option<Instant>,
    /// The invocation's timeout, once it runs.
    pub(crate) timer: Option<AbortHandle>,
    /// The instance's init duration, reported with its first invocation only.
    pub(crate) init_duration: Option<Duration>,
}

/// What a `GET /next` from the instance leads to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The instance finished its init: it is idle now (the driver assigns it work and asks
    /// again).
    Initialized,
    /// Hand out the running invocation; `first` when this is its first delivery (the driver
    /// then logs START and starts its timer).
    Deliver { first: bool },
    /// Nothing to do: wait (frozen) until an invocation is assigned.
    Wait,
}

/// What a result (`/response` or `/error`) posted for a request id leads to.
pub(crate) enum Posted {
    /// It answers the running invocation, handed back to be finished; the instance is
    /// finishing.
    Accepted(Box<Running>),
    /// That invocation was answered already (AWS: 403).
    AlreadyAnswered,
    /// Not an invocation of this instance (AWS: 400).
    UnknownId,
}

/// One instance's phase and what it remembers across phases.
pub(crate) struct Lifecycle {
    phase: Phase,
    answered: VecDeque<String>,
    init_duration: Option<Duration>,
    init_reported: bool,
}

impl Lifecycle {
    /// A new instance in [`Phase::Init`]. `report_init` is false where no Init Duration is
    /// measured (a runtime started by hand).
    pub(crate) fn new(report_init: bool) -> Self {
        Lifecycle {
            phase: Phase::Init,
            answered: VecDeque::new(),
            init_duration: None,
            init_reported: !report_init,
        }
    }

    /// The phase, for the driver's decisions.
    pub(crate) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Whether it is still initialising.
    pub(crate) fn is_init(&self) -> bool {
        matches!(self.phase, Phase::Init)
    }

    /// Whether it will take an invocation without another instance being started: it is
    /// initialising, idle or about to be idle.
    pub(crate) fn will_be_free(&self) -> bool {
        !matches!(self.phase, Phase::Busy(_))
    }

    /// `GET /next`, `init_took` after the instance started.
    pub(crate) fn next(&mut self, now: Instant, init_took: Duration) -> Next {
        match &mut self.phase {
            Phase::Init => {
                self.init_duration = Some(init_took);
                self.phase = Phase::Idle;
                Next::Initialized
            }
            Phase::Busy(running) if running.delivered_at.is_none() => {
                running.delivered_at = Some(now);
                if !self.init_reported {
                    self.init_reported = true;
                    running.init_duration = self.init_duration;
                }
                Next::Deliver { first: true }
            }
            Phase::Busy(_) => Next::Deliver { first: false },
            Phase::Idle | Phase::Finishing => Next::Wait,
        }
    }

    /// Offers `invocation`: an idle instance takes it (`None`); any other phase gives it back.
    pub(crate) fn offer(&mut self, invocation: Invocation) -> Option<Invocation> {
        if !matches!(self.phase, Phase::Idle) {
            return Some(invocation);
        }
        self.phase = Phase::Busy(Running {
            invocation,
            delivered_at: None,
            timer: None,
            init_duration: None,
        });
        None
    }

    /// The running invocation, when it has been delivered and is `request_id`.
    pub(crate) fn delivered(&self, request_id: &str) -> Option<&Running> {
        match &self.phase {
            Phase::Busy(running)
                if running.delivered_at.is_some()
                    && running.invocation.request_id == request_id =>
            {
                Some(running)
            }
            _ => None,
        }
    }

    /// The running invocation, delivered or not.
    pub(crate) fn running_mut(&mut self) -> Option<&mut Running> {
        match &mut self.phase {
            Phase::Busy(running) => Some(running),
            _ => None,
        }
    }

    /// A result posted for `request_id`.
    pub(crate) fn post(&mut self, request_id: &str) -> Posted {
        if self.delivered(request_id).is_none() {
            return if self.answered.iter().any(|id| id == request_id) {
                Posted::AlreadyAnswered
            } else {
                Posted::UnknownId
            };
        }
        match self.finish_running(request_id) {
            Some(running) => Posted::Accepted(Box::new(running)),
            None => Posted::UnknownId,
        }
    }

    /// Ends the running invocation `request_id` (a timeout, say): the instance is finishing.
    pub(crate) fn finish_running(&mut self, request_id: &str) -> Option<Running> {
        if !matches!(&self.phase, Phase::Busy(r) if r.invocation.request_id == request_id) {
            return None;
        }
        let Phase::Busy(running) = std::mem::replace(&mut self.phase, Phase::Finishing) else {
            return None;
        };
        self.answered.push_back(request_id.to_string());
        if self.answered.len() > REMEMBERED_ANSWERS {
            self.answered.pop_front();
        }
        Some(running)
    }

    /// The instance is ending (crash, init failure): its phase and invocation, if any, for the
    /// driver to answer.
    pub(crate) fn end(&mut self) -> Phase {
        std::mem::replace(&mut self.phase, Phase::Finishing)
    }

    /// Its END and REPORT lines are written: idle again. False when it was not finishing.
    pub(crate) fn finished(&mut self) -> bool {
        if !matches!(self.phase, Phase::Finishing) {
            return false;
        }
        self.phase = Phase::Idle;
        true
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn invocation() -> Invocation {
        Invocation::new(Bytes::from_static(b"{}"), None)
    }

    fn at(ms: u64) -> Instant {
        // A fixed base: transitions read time only as given.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn an_invocation_goes_init_idle_busy_finishing_idle() {
        let mut life = Lifecycle::new(true);
        assert!(life.is_init() && life.will_be_free());
        assert_eq!(
            life.next(at(5), Duration::from_millis(5)),
            Next::Initialized
        );
        assert_eq!(life.next(at(6), Duration::ZERO), Next::Wait);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(!life.will_be_free());
        assert!(life.delivered(&id).is_none(), "assigned, not yet delivered");
        assert_eq!(
            life.next(at(7), Duration::ZERO),
            Next::Deliver { first: true }
        );
        assert_eq!(
            life.next(at(8), Duration::ZERO),
            Next::Deliver { first: false }
        );
        let Posted::Accepted(running) = life.post(&id) else {
            panic!("the running invocation's result is accepted");
        };
        assert_eq!(running.init_duration, Some(Duration::from_millis(5)));
        assert_eq!(life.next(at(9), Duration::ZERO), Next::Wait, "finishing");
        assert!(life.finished());
        assert!(!life.finished(), "only once");
        assert_eq!(life.next(at(10), Duration::ZERO), Next::Wait);
    }

    #[test]
    fn only_the_first_invocation_reports_init() {
        let mut life = Lifecycle::new(true);
        life.next(at(0), Duration::from_millis(3));
        for expected in [Some(Duration::from_millis(3)), None] {
            let invocation = invocation();
            let id = invocation.request_id.clone();
            assert!(life.offer(invocation).is_none());
            life.next(at(1), Duration::ZERO);
            let Posted::Accepted(running) = life.post(&id) else {
                panic!("accepted");
            };
            assert_eq!(running.init_duration, expected);
            life.finished();
        }
    }

    #[test]
    fn a_second_result_is_already_answered_and_a_stranger_is_unknown() {
        let mut life = Lifecycle::new(false);
        life.next(at(0), Duration::ZERO);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        assert!(
            matches!(life.post(&id), Posted::UnknownId),
            "not delivered yet"
        );
        life.next(at(1), Duration::ZERO);
        assert!(matches!(life.post("someone-else"), Posted::UnknownId));
        assert!(matches!(life.post(&id), Posted::Accepted(_)));
        assert!(matches!(life.post(&id), Posted::AlreadyAnswered));
    }

    #[test]
    fn a_busy_or_initialising_instance_takes_no_invocation() {
        let mut life = Lifecycle::new(true);
        assert!(life.offer(invocation()).is_some(), "initialising");
        life.next(at(0), Duration::ZERO);
        assert!(life.offer(invocation()).is_none());
        assert!(life.offer(invocation()).is_some(), "busy");
    }

    #[test]
    fn ending_hands_back_the_invocation_it_ran() {
        let mut life = Lifecycle::new(true);
        life.next(at(0), Duration::ZERO);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        let Phase::Busy(running) = life.end() else {
            panic!("it was busy");
        };
        assert_eq!(running.invocation.request_id, id);
        assert!(matches!(life.phase(), Phase::Finishing));
    }

    #[test]
    fn a_timeout_finishes_the_running_invocation_once() {
        let mut life = Lifecycle::new(true);
        life.next(at(0), Duration::ZERO);
        let invocation = invocation();
        let id = invocation.request_id.clone();
        assert!(life.offer(invocation).is_none());
        life.next(at(1), Duration::ZERO);
        assert!(life.finish_running("other").is_none());
        assert!(life.finish_running(&id).is_some());
        assert!(life.finish_running(&id).is_none());
        assert!(matches!(life.post(&id), Posted::AlreadyAnswered));
    }
}
