//! Whether anyone is watching: campub encodes and sends frames only while a ZeroMQ subscriber
//! or an HTTP client wants them. Capture keeps running while nobody watches, so a stalled
//! camera is still caught (and systemd's watchdog still fed), and the next frame after a
//! viewer arrives is encoded: the first frame request is answered within one frame.

use std::time::{Duration, Instant};

/// What the pipeline can see of its viewers at one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewers {
    /// ZeroMQ subscribers connected; None when campub cannot see its links (a non-TCP
    /// endpoint, /proc hidden), which counts as watched: campub never idles blind.
    pub zmq: Option<usize>,
    /// HTTP clients waiting for a frame (/stream clients, snapshots waiting for a fresh one).
    pub http: usize,
}

impl Viewers {
    pub fn anyone(self) -> bool {
        self.zmq.is_none_or(|n| n > 0) || self.http > 0
    }
}

/// Idle or streaming, and since when.
#[derive(Debug)]
pub struct Demand {
    /// --no-idle: always streaming.
    enabled: bool,
    idle_since: Option<Instant>,
}

/// A change of state, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    WentIdle,
    Resumed { idle_for: Duration },
}

impl Demand {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            idle_since: None,
        }
    }

    pub fn is_idle(&self) -> bool {
        self.idle_since.is_some()
    }

    /// Decides for the frame at hand. `published` frames so far: the first frame is always
    /// encoded and sent (it proves the pipeline and tells systemd campub is ready).
    pub fn update(&mut self, viewers: Viewers, published: u64, now: Instant) -> Option<Change> {
        let watched = !self.enabled || published == 0 || viewers.anyone();
        match (self.idle_since, watched) {
            (None, false) => {
                self.idle_since = Some(now);
                Some(Change::WentIdle)
            }
            (Some(since), true) => {
                self.idle_since = None;
                Some(Change::Resumed {
                    idle_for: now.saturating_duration_since(since),
                })
            }
            _ => None,
        }
    }
}

/// The log line for a change.
pub fn describe(change: Change, viewers: Viewers) -> String {
    match change {
        Change::WentIdle => "idle: nobody is watching; capturing without encoding until a \
                             viewer connects"
            .to_owned(),
        Change::Resumed { idle_for } if viewers.zmq.is_none() => format!(
            "resumed after {:.1} s idle: campub can no longer see its ZeroMQ subscribers' \
             links, so it streams from now on whether anyone watches or not",
            idle_for.as_secs_f64()
        ),
        Change::Resumed { idle_for } => {
            let who = match viewers {
                Viewers { http: 0, .. } => "a ZeroMQ subscriber",
                Viewers { zmq: Some(0), .. } => "an HTTP client",
                _ => "viewers",
            };
            format!(
                "resumed: {who} connected after {:.1} s idle",
                idle_for.as_secs_f64()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: Viewers = Viewers {
        zmq: Some(0),
        http: 0,
    };

    #[test]
    fn idles_after_the_first_frame_and_resumes_for_any_viewer() {
        let t0 = Instant::now();
        let mut demand = Demand::new(true);
        assert_eq!(
            demand.update(NOBODY, 0, t0),
            None,
            "the first frame goes out"
        );
        assert!(!demand.is_idle());
        assert_eq!(demand.update(NOBODY, 1, t0), Some(Change::WentIdle));
        assert!(demand.is_idle());
        assert_eq!(demand.update(NOBODY, 1, t0), None);
        let later = t0 + Duration::from_secs(3);
        let http = Viewers {
            zmq: Some(0),
            http: 1,
        };
        assert_eq!(
            demand.update(http, 1, later),
            Some(Change::Resumed {
                idle_for: Duration::from_secs(3)
            })
        );
        assert_eq!(demand.update(NOBODY, 2, later), Some(Change::WentIdle));
        let zmq = Viewers {
            zmq: Some(2),
            http: 0,
        };
        assert!(matches!(
            demand.update(zmq, 2, later),
            Some(Change::Resumed { .. })
        ));
    }

    #[test]
    fn never_idle_blind_or_when_turned_off() {
        let t0 = Instant::now();
        let blind = Viewers { zmq: None, http: 0 };
        let mut demand = Demand::new(true);
        assert_eq!(demand.update(blind, 5, t0), None);
        assert!(!demand.is_idle());
        let mut off = Demand::new(false);
        assert_eq!(off.update(NOBODY, 5, t0), None);
        assert!(!off.is_idle());
    }

    #[test]
    fn the_log_says_when_campub_went_blind() {
        let resumed = Change::Resumed {
            idle_for: Duration::from_millis(1500),
        };
        let blind = Viewers { zmq: None, http: 0 };
        assert!(describe(resumed, blind).starts_with(
            "resumed after 1.5 s idle: campub can no longer see its ZeroMQ subscribers' links"
        ));
    }

    #[test]
    fn the_log_says_who_came() {
        let resumed = Change::Resumed {
            idle_for: Duration::from_millis(2500),
        };
        let zmq = Viewers {
            zmq: Some(1),
            http: 0,
        };
        assert_eq!(
            describe(resumed, zmq),
            "resumed: a ZeroMQ subscriber connected after 2.5 s idle"
        );
        let http = Viewers {
            zmq: Some(0),
            http: 1,
        };
        assert_eq!(
            describe(resumed, http),
            "resumed: an HTTP client connected after 2.5 s idle"
        );
    }
}
