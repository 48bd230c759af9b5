//! One key press, one digit: the in-band detector and the gateway's digit events often both
//! report the same press (the gateway's RFC 4733 event and the tone itself, or a simulator
//! sending both). A report of the same key from the *other* source within a short window of
//! the last accepted one is the same press and is dropped.
//!
//! Rule: remember the last accepted press (key, source, time). A new report is a duplicate iff
//! it is the same key, from the other source, within `window`; a duplicate consumes the memory
//! so a genuine repeat of the key is accepted. Reports from the same source are always new
//! presses (each source already debounces itself). Known limit: if one source lags the other
//! by more than a whole press of the same key, the late report can pair with the wrong press.
//!
//! Sans-IO: time is an argument.

use std::time::{Duration, Instant};

use crate::ids::Digit;

/// Where a digit report came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitSource {
    /// A digit event from the gateway (RFC 4733 / SIP INFO, relayed).
    Gateway,
    /// The engine's own detector on the caller's audio.
    InBand,
}

impl DigitSource {
    /// A metric label.
    pub fn label(self) -> &'static str {
        match self {
            DigitSource::Gateway => "gateway",
            DigitSource::InBand => "inband",
        }
    }
}

/// The de-duplicator of one call.
#[derive(Debug)]
pub struct DigitDedupe {
    window: Duration,
    last: Option<(Digit, DigitSource, Instant)>,
}

impl DigitDedupe {
    /// A de-duplicator pairing reports up to `window` apart.
    pub fn new(window: Duration) -> Self {
        Self { window, last: None }
    }

    /// Whether a report is a new key press (true) or the second report of the last one.
    pub fn accept(&mut self, digit: Digit, source: DigitSource, now: Instant) -> bool {
        if let Some((d, s, at)) = self.last
            && d == digit
            && s != source
            && now.saturating_duration_since(at) <= self.window
            && at.saturating_duration_since(now) <= self.window
        {
            self.last = None;
            return false;
        }
        self.last = Some((digit, source, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digit {
        Digit::new(c).unwrap()
    }

    #[test]
    fn event_and_tone_of_one_press_are_one_digit() {
        let t0 = Instant::now();
        let mut dd = DigitDedupe::new(Duration::from_millis(150));
        assert!(dd.accept(d('1'), DigitSource::InBand, t0));
        assert!(!dd.accept(d('1'), DigitSource::Gateway, t0 + Duration::from_millis(60)));
        // Gateway first, tone detected later: same.
        assert!(dd.accept(
            d('2'),
            DigitSource::Gateway,
            t0 + Duration::from_millis(500)
        ));
        assert!(!dd.accept(d('2'), DigitSource::InBand, t0 + Duration::from_millis(540)));
    }

    #[test]
    fn a_repeated_key_pressed_twice_is_two_digits() {
        let t0 = Instant::now();
        let mut dd = DigitDedupe::new(Duration::from_millis(150));
        assert!(dd.accept(d('1'), DigitSource::InBand, t0));
        assert!(!dd.accept(d('1'), DigitSource::Gateway, t0 + Duration::from_millis(10)));
        assert!(dd.accept(d('1'), DigitSource::InBand, t0 + Duration::from_millis(120)));
        assert!(!dd.accept(
            d('1'),
            DigitSource::Gateway,
            t0 + Duration::from_millis(130)
        ));
        // Same source twice is always two presses.
        assert!(dd.accept(d('5'), DigitSource::Gateway, t0 + Duration::from_secs(1)));
        assert!(dd.accept(
            d('5'),
            DigitSource::Gateway,
            t0 + Duration::from_millis(1050)
        ));
    }

    #[test]
    fn reports_further_apart_than_the_window_are_two_presses() {
        let t0 = Instant::now();
        let mut dd = DigitDedupe::new(Duration::from_millis(150));
        assert!(dd.accept(d('9'), DigitSource::Gateway, t0));
        assert!(dd.accept(d('9'), DigitSource::InBand, t0 + Duration::from_millis(400)));
        assert!(dd.accept(d('8'), DigitSource::InBand, t0 + Duration::from_millis(420)));
    }
}
