//! The words camview shows over the picture: the banner (rate, size, sender, latency, counts, a
//! save note) and the notice while no frames come (waiting, stale, a connection problem).

use camwire::MessageKind;

use crate::monitor::LinkState;
use crate::stats::Latency;

/// Whether frames are coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Waiting,
    Live,
    /// No frame for this many whole seconds (and longer than --stale-after-ms).
    Stale(u64),
}

/// What the banner shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct BannerFacts<'a> {
    /// Displayed frames per second, smoothed.
    pub fps: f64,
    /// The size of the picture on screen, `None` before the first.
    pub picture_px: Option<(usize, usize)>,
    /// The last frame's stream name (empty when its sender gives none) and message shape.
    pub last_frame: Option<(&'a str, MessageKind)>,
    /// The stream asked for with --stream: named until the first frame arrives.
    pub subscribed: Option<&'a str>,
    /// The last shown frame's latency; `None` when its sender gave no capture time.
    pub latency: Option<Latency>,
    pub skipped: u64,
    pub lost: u64,
    pub bad: u64,
    /// Where the last `s` saved the frame, while that is recent.
    pub saved_note: Option<&'a str>,
}

/// The banner: fps, resolution, stream; latency, skipped and bad counts; a save note.
pub fn banner_lines(facts: &BannerFacts<'_>) -> Vec<String> {
    let fps = facts.fps;
    let fps = if fps < 10.0 {
        format!("{fps:.1}")
    } else {
        format!("{fps:.0}")
    };
    let size = match facts.picture_px {
        Some((width_px, height_px)) => format!("{width_px}x{height_px}"),
        None => "no picture".to_string(),
    };
    let source = match facts.last_frame {
        Some((stream, _)) if !stream.is_empty() => stream,
        Some((_, kind)) => kind.label(),
        None => facts.subscribed.unwrap_or("any stream"),
    };
    let latency = match facts.latency {
        Some(Latency::Ms(ms)) => format!("latency {ms:.0} ms"),
        Some(Latency::ClocksUnsynchronised) => "latency: clocks unsynchronised?".to_string(),
        None => "latency n/a".to_string(),
    };
    let mut counts = format!("{latency}  skipped {}  bad {}", facts.skipped, facts.bad);
    if facts.lost > 0 {
        // The link is slower than the stream: the publisher drops frames for this viewer.
        counts.push_str(&format!("  lost {} (slow link)", facts.lost));
    }
    let mut lines = vec![format!("FPS: {fps}  {size}  {source}"), counts];
    if let Some(note) = facts.saved_note {
        lines.push(note.to_string());
    }
    lines
}

/// An endpoint in a state ZeroMQ's retries cannot fix (a refused key, a failed handshake).
#[derive(Debug, Clone, Copy)]
pub struct LinkProblem<'a> {
    pub endpoint: &'a str,
    pub state: LinkState,
    pub detail: Option<&'a str>,
}

/// What the notice shows.
#[derive(Debug, Clone, Copy)]
pub struct NoticeFacts<'a> {
    pub signal: Signal,
    /// The endpoints subscribed to, as the user gave them.
    pub endpoints: &'a str,
    /// The stream asked for with --stream.
    pub stream: Option<&'a str>,
    pub problem: Option<LinkProblem<'a>>,
    /// This viewer's public CURVE key, when it has one, and whether it was made for this run.
    pub own_key: Option<(&'a str, bool)>,
}

/// The notice over a missing or stale picture; empty while frames come.
pub fn notice_lines(facts: &NoticeFacts<'_>) -> Vec<String> {
    let from = match facts.stream {
        Some(stream) => format!("stream {stream} on {}", facts.endpoints),
        None => facts.endpoints.to_string(),
    };
    let mut lines = match facts.signal {
        Signal::Live => return Vec::new(),
        Signal::Waiting => vec![format!("waiting for {from}")],
        Signal::Stale(secs) => vec![format!("no frames for {secs} s"), format!("from {from}")],
    };
    if let Some(problem) = facts.problem {
        lines.extend(problem_lines(problem, facts.own_key));
    }
    lines
}

/// What went wrong with the connection, and for a refused key, which key to allow.
fn problem_lines(problem: LinkProblem<'_>, own_key: Option<(&str, bool)>) -> Vec<String> {
    let preposition = match problem.state {
        LinkState::NotAuthorised => "by",
        _ => "with",
    };
    let mut lines = vec![format!(
        "{} {preposition} {}",
        problem.state.headline(),
        problem.endpoint
    )];
    match (problem.state, own_key) {
        (LinkState::NotAuthorised, Some((public_key, ephemeral))) => {
            lines.push("the publisher's allow-list does not name this viewer's key".into());
            lines.push(public_key.to_string());
            if ephemeral {
                lines.push("(a key made for this run: give a lasting one with --key)".into());
            }
        }
        _ => lines.extend(problem.detail.map(str::to_string)),
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINTS: &str = "tcp://127.0.0.1:5555";

    fn live() -> BannerFacts<'static> {
        BannerFacts {
            fps: 29.97,
            picture_px: Some((640, 360)),
            last_frame: Some(("cam0", MessageKind::Native)),
            latency: Some(Latency::Ms(12.4)),
            skipped: 3,
            bad: 1,
            ..BannerFacts::default()
        }
    }

    fn waiting() -> NoticeFacts<'static> {
        NoticeFacts {
            signal: Signal::Waiting,
            endpoints: ENDPOINTS,
            stream: None,
            problem: None,
            own_key: None,
        }
    }

    #[test]
    fn live_banner() {
        assert_eq!(
            banner_lines(&live()),
            ["FPS: 30  640x360  cam0", "latency 12 ms  skipped 3  bad 1"]
        );
    }

    #[test]
    fn slow_rates_keep_a_decimal_and_loss_is_named() {
        let facts = BannerFacts {
            fps: 7.25,
            lost: 12,
            ..live()
        };
        assert_eq!(
            banner_lines(&facts),
            [
                "FPS: 7.2  640x360  cam0",
                "latency 12 ms  skipped 3  bad 1  lost 12 (slow link)"
            ]
        );
    }

    #[test]
    fn unnamed_senders_are_named_by_their_shape() {
        let facts = BannerFacts {
            last_frame: Some(("", MessageKind::Base64)),
            latency: None,
            ..live()
        };
        assert_eq!(
            banner_lines(&facts),
            [
                "FPS: 30  640x360  tutorial base64",
                "latency n/a  skipped 3  bad 1"
            ]
        );
    }

    #[test]
    fn banner_before_the_first_frame() {
        assert_eq!(
            banner_lines(&BannerFacts::default()),
            [
                "FPS: 0.0  no picture  any stream",
                "latency n/a  skipped 0  bad 0"
            ]
        );
        let facts = BannerFacts {
            subscribed: Some("front"),
            ..BannerFacts::default()
        };
        assert_eq!(banner_lines(&facts)[0], "FPS: 0.0  no picture  front");
    }

    #[test]
    fn clocks_unsynchronised() {
        let facts = BannerFacts {
            latency: Some(Latency::ClocksUnsynchronised),
            ..live()
        };
        assert_eq!(
            banner_lines(&facts)[1],
            "latency: clocks unsynchronised?  skipped 3  bad 1"
        );
    }

    #[test]
    fn saved_note_is_a_third_line() {
        let facts = BannerFacts {
            saved_note: Some("saved cam0-42-native-1764000000000.jpg"),
            ..live()
        };
        assert_eq!(
            banner_lines(&facts),
            [
                "FPS: 30  640x360  cam0",
                "latency 12 ms  skipped 3  bad 1",
                "saved cam0-42-native-1764000000000.jpg"
            ]
        );
    }

    #[test]
    fn no_notice_while_live() {
        let facts = NoticeFacts {
            signal: Signal::Live,
            ..waiting()
        };
        assert_eq!(notice_lines(&facts), Vec::<String>::new());
    }

    #[test]
    fn waiting_names_the_stream_and_endpoints() {
        assert_eq!(
            notice_lines(&waiting()),
            ["waiting for tcp://127.0.0.1:5555"]
        );
        let facts = NoticeFacts {
            stream: Some("front"),
            ..waiting()
        };
        assert_eq!(
            notice_lines(&facts),
            ["waiting for stream front on tcp://127.0.0.1:5555"]
        );
    }

    #[test]
    fn stale_says_for_how_long() {
        let facts = NoticeFacts {
            signal: Signal::Stale(7),
            ..waiting()
        };
        assert_eq!(
            notice_lines(&facts),
            ["no frames for 7 s", "from tcp://127.0.0.1:5555"]
        );
    }

    #[test]
    fn not_authorised_shows_the_key_to_allow() {
        let facts = NoticeFacts {
            problem: Some(LinkProblem {
                endpoint: ENDPOINTS,
                state: LinkState::NotAuthorised,
                detail: Some("the publisher refused this viewer's key"),
            }),
            own_key: Some(("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", true)),
            ..waiting()
        };
        assert_eq!(
            notice_lines(&facts),
            [
                "waiting for tcp://127.0.0.1:5555",
                "not authorised by tcp://127.0.0.1:5555",
                "the publisher's allow-list does not name this viewer's key",
                "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
                "(a key made for this run: give a lasting one with --key)"
            ]
        );
        let lasting = NoticeFacts {
            own_key: Some(("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", false)),
            ..facts
        };
        assert_eq!(
            notice_lines(&lasting).len(),
            4,
            "no advice for a lasting key"
        );
    }

    #[test]
    fn handshake_failed_gives_the_detail() {
        let facts = NoticeFacts {
            signal: Signal::Stale(3),
            problem: Some(LinkProblem {
                endpoint: ENDPOINTS,
                state: LinkState::HandshakeFailed,
                detail: Some("wrong --server-key, or CURVE on one side only"),
            }),
            ..waiting()
        };
        assert_eq!(
            notice_lines(&facts),
            [
                "no frames for 3 s",
                "from tcp://127.0.0.1:5555",
                "handshake failed with tcp://127.0.0.1:5555",
                "wrong --server-key, or CURVE on one side only"
            ]
        );
    }
}
