//! Which way this tab's events arrive, as one state instead of flags:
//! following another tab's relay, holding the stream, long-polling while
//! the stream keeps failing, or stopped. Pure, compiled on both sides and
//! unit-tested on the host; the browser's connection owns one and does what
//! its answers say (open a stream, start polling, back off).

/// The transport's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Another tab holds the stream and relays it; this one listens.
    Following,
    /// This tab holds the stream: `failures` in a row since it was last ready.
    Streaming { failures: u32 },
    /// The stream failed too often in a row: long-polling carries the
    /// events while the stream keeps being retried.
    Polling { failures: u32 },
    /// Signed out, or the page is leaving: nothing more happens.
    Stopped,
}

/// What a stream failure calls for.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// The backoff attempt for the next stream (0 for the first retry).
    pub attempt: u32,
    /// Start long-polling now.
    pub start_polling: bool,
    /// Long-polling already delivers: the indicator may stay live.
    pub still_delivering: bool,
}

impl Transport {
    /// Whether this tab holds the stream (streaming or polling).
    pub fn leading(self) -> bool {
        matches!(self, Self::Streaming { .. } | Self::Polling { .. })
    }

    /// Whether long-polling carries the events.
    pub fn polling(self) -> bool {
        matches!(self, Self::Polling { .. })
    }

    /// Whether the connection ended.
    pub fn stopped(self) -> bool {
        self == Self::Stopped
    }

    /// This tab was granted the stream. `true` when it now leads (it was
    /// following); a stopped or already leading tab stays as it is.
    pub fn lead(&mut self) -> bool {
        if *self != Self::Following {
            return false;
        }
        *self = Self::Streaming { failures: 0 };
        true
    }

    /// The stream said `ready`: streaming again, polling ends.
    pub fn stream_ready(&mut self) {
        if self.leading() {
            *self = Self::Streaming { failures: 0 };
        }
    }

    /// The stream failed; after `poll_after` failures in a row, long-polling
    /// starts. `None` when this tab does not lead (nothing to retry).
    pub fn stream_failed(&mut self, poll_after: u32) -> Option<Failure> {
        match *self {
            Self::Streaming { failures } => {
                let failures = failures + 1;
                let start_polling = failures >= poll_after;
                *self = if start_polling {
                    Self::Polling { failures }
                } else {
                    Self::Streaming { failures }
                };
                Some(Failure {
                    attempt: failures - 1,
                    start_polling,
                    still_delivering: false,
                })
            }
            Self::Polling { failures } => {
                *self = Self::Polling {
                    failures: failures + 1,
                };
                Some(Failure {
                    attempt: failures,
                    start_polling: false,
                    still_delivering: true,
                })
            }
            Self::Following | Self::Stopped => None,
        }
    }

    /// The browser is back online: retry at once, counting failures anew
    /// (long-polling goes on until a stream is ready).
    pub fn retry_now(&mut self) {
        match self {
            Self::Streaming { failures } | Self::Polling { failures } => *failures = 0,
            Self::Following | Self::Stopped => {}
        }
    }

    /// Signed out or leaving.
    pub fn stop(&mut self) {
        *self = Self::Stopped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_leads_once_granted_and_a_stopped_tab_never_does() {
        let mut t = Transport::Following;
        assert!(!t.leading());
        assert!(t.lead());
        assert_eq!(t, Transport::Streaming { failures: 0 });
        assert!(!t.lead(), "already leading");
        t.stop();
        assert!(!t.lead());
        assert!(!t.leading() && t.stopped());
    }

    #[test]
    fn failures_back_off_then_poll_until_the_stream_is_ready_again() {
        let mut t = Transport::Following;
        t.lead();
        let first = t.stream_failed(3).unwrap();
        assert_eq!(
            first,
            Failure {
                attempt: 0,
                start_polling: false,
                still_delivering: false
            }
        );
        assert_eq!(t.stream_failed(3).unwrap().attempt, 1);
        let third = t.stream_failed(3).unwrap();
        assert!(third.start_polling && !third.still_delivering);
        assert!(t.polling() && t.leading());
        let fourth = t.stream_failed(3).unwrap();
        assert_eq!(
            fourth,
            Failure {
                attempt: 3,
                start_polling: false,
                still_delivering: true
            }
        );
        t.retry_now();
        assert_eq!(t, Transport::Polling { failures: 0 });
        t.stream_ready();
        assert_eq!(t, Transport::Streaming { failures: 0 });
    }

    #[test]
    fn followers_and_stopped_tabs_ignore_stream_events() {
        let mut t = Transport::Following;
        assert_eq!(t.stream_failed(3), None);
        t.stream_ready();
        assert_eq!(t, Transport::Following);
        t.stop();
        assert_eq!(t.stream_failed(3), None);
        t.stream_ready();
        assert!(t.stopped());
    }
}
