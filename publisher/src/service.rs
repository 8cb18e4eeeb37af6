//! The service manager's view of campub (systemd's notify protocol): READY once the first frame
//! is out, watchdog pings only while frames keep flowing, published or captured while idle (a
//! wedged camera stops them and systemd restarts the service), STOPPING on the way out. Without NOTIFY_SOCKET all of this is a no-op.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

pub struct ServiceNotifier {
    ready: bool,
    /// Half the watchdog interval systemd asked for, if it asked.
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
}

impl ServiceNotifier {
    pub fn from_env() -> Self {
        Self {
            ready: false,
            ping_every: sd_notify::watchdog_enabled().map(|d| d / 2),
            last_ping: None,
        }
    }

    /// Call after each published frame.
    pub fn frame_published(&mut self, status: impl FnOnce() -> String) {
        if !self.ready {
            self.ready = true;
            let status = status();
            send(&[NotifyState::Ready, NotifyState::Status(&status)]);
        }
        self.alive();
    }

    /// Call for each frame captured while idle: the pipeline is alive (READY was sent with
    /// the first frame, which is always published).
    pub fn alive(&mut self) {
        if let Some(every) = self.ping_every {
            if self.last_ping.is_none_or(|t| t.elapsed() >= every) {
                self.last_ping = Some(Instant::now());
                send(&[NotifyState::Watchdog]);
            }
        }
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify: {e}");
    }
}
