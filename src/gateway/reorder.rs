//! A small reorder window for inbound audio, sans-IO: frames are put back in the order of the
//! gateway's media timestamps (Twilio `media.timestamp`, in ms from stream start) before they
//! reach the DTMF detector, which needs contiguous audio. Telnyx documents that frame order is
//! not guaranteed, and bursty proxies reorder too.
//!
//! In-order frames pass straight through (no added delay). A frame that arrives early (a gap
//! before it) is held until the gap fills or more than `window` frames are held, then the
//! oldest is released and the gap is given up. A frame older than what was already released
//! is late: released anyway (a gateway with broken timestamps must not lose its audio) and
//! counted. Frames without a timestamp (Asterisk binary frames, which TCP keeps in order) pass
//! straight through.
//!
//! It must not decode audio, read a clock or touch sockets.

use std::collections::BTreeMap;

/// Timestamps within this many ms of the expected one count as in order (gateways round).
const SLACK_MS: u64 = 5;

/// What became of one pushed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Released (possibly with held frames after it).
    Released,
    /// Held until its predecessor arrives.
    Held,
    /// Older than audio already released: released out of order.
    Late,
}

/// The reorder window of one stream.
#[derive(Debug)]
pub struct Reorder {
    window: usize,
    /// Timestamp the next in-order frame should carry.
    next_ms: Option<u64>,
    held: BTreeMap<u64, Vec<u8>>,
}

impl Reorder {
    /// A window holding at most `window` early frames (3 is 60 ms of 20 ms frames).
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            next_ms: None,
            held: BTreeMap::new(),
        }
    }

    /// Takes one frame lasting `duration_ms`; calls `release` with every frame now in order.
    pub fn push(
        &mut self,
        ts_ms: Option<u64>,
        duration_ms: u64,
        payload: Vec<u8>,
        mut release: impl FnMut(&[u8]),
    ) -> Pushed {
        let Some(ts) = ts_ms else {
            release(&payload);
            return Pushed::Released;
        };
        let next = *self.next_ms.get_or_insert(ts);
        if ts + SLACK_MS < next {
            release(&payload);
            return Pushed::Late;
        }
        if ts <= next + SLACK_MS {
            release(&payload);
            self.next_ms = Some(ts + duration_ms);
            self.drain(duration_ms, &mut release);
            return Pushed::Released;
        }
        if self.held.len() < self.window {
            self.held.insert(ts, payload);
            return Pushed::Held;
        }
        // The window is full: give up on the gap, release from the oldest held frame on.
        self.held.insert(ts, payload);
        if let Some((first, frame)) = self.held.pop_first() {
            release(&frame);
            self.next_ms = Some(first + duration_ms);
        }
        self.drain(duration_ms, &mut release);
        Pushed::Released
    }

    fn drain(&mut self, duration_ms: u64, release: &mut impl FnMut(&[u8])) {
        while let (Some(next), Some((&ts, _))) = (self.next_ms, self.held.first_key_value()) {
            if ts > next + SLACK_MS {
                break;
            }
            if let Some((ts, frame)) = self.held.pop_first()
                && ts + SLACK_MS >= next
            {
                release(&frame);
                self.next_ms = Some(ts + duration_ms);
            }
        }
    }

    /// Frames held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Reorder, frames: &[(u64, u8)]) -> (Vec<u8>, Vec<Pushed>) {
        let mut out = Vec::new();
        let mut what = Vec::new();
        for &(ts, id) in frames {
            what.push(r.push(Some(ts), 20, vec![id], |f| out.push(f[0])));
        }
        (out, what)
    }

    #[test]
    fn in_order_frames_pass_straight_through() {
        let mut r = Reorder::new(3);
        let (out, what) = run(&mut r, &[(102, 1), (122, 2), (142, 3)]);
        assert_eq!(out, [1, 2, 3]);
        assert!(what.iter().all(|w| *w == Pushed::Released));
    }

    #[test]
    fn swapped_pairs_come_out_in_timestamp_order() {
        let mut r = Reorder::new(3);
        let (out, _) = run(&mut r, &[(0, 1), (40, 3), (20, 2), (80, 5), (60, 4)]);
        assert_eq!(out, [1, 2, 3, 4, 5]);
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn a_lost_frame_costs_at_most_the_window_then_audio_flows_again() {
        let mut r = Reorder::new(2);
        // Frame 2 (ts 20) never comes.
        let (out, what) = run(&mut r, &[(0, 1), (40, 3), (60, 4), (80, 5), (100, 6)]);
        assert_eq!(what[1..3], [Pushed::Held, Pushed::Held]);
        assert_eq!(out, [1, 3, 4, 5, 6]);
    }

    #[test]
    fn frames_older_than_released_audio_are_passed_on_as_late() {
        let mut r = Reorder::new(1);
        let (out, what) = run(&mut r, &[(0, 1), (40, 3), (60, 4), (20, 2)]);
        assert_eq!(out, [1, 3, 4, 2]);
        assert_eq!(what[3], Pushed::Late);
    }

    #[test]
    fn a_gateway_repeating_one_timestamp_loses_no_audio() {
        let mut r = Reorder::new(3);
        let (out, _) = run(&mut r, &[(20, 1), (20, 2), (20, 3), (20, 4)]);
        assert_eq!(out, [1, 2, 3, 4]);
    }

    #[test]
    fn frames_without_timestamps_are_never_held() {
        let mut r = Reorder::new(3);
        let mut out = Vec::new();
        assert_eq!(
            r.push(None, 20, vec![9], |f| out.push(f[0])),
            Pushed::Released
        );
        assert_eq!(out, [9]);
    }
}
