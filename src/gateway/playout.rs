//! Playout pacing and marks for one call, sans-IO: time is an argument, nothing here sleeps,
//! sends or reads a clock.
//!
//! Prompt audio is released in 20 ms frames no further than `lead` ahead of real time, so a
//! barge-in `clear`/`FLUSH_MEDIA` has little to discard and the caller's line falls silent
//! within a frame of the key. Once a prompt plays, the lead is topped up in chunks of about
//! `refill` (several frames in one message) when it has fallen that far below `lead`: fewer,
//! larger messages cost the engine and the gateway less per call-second and play as smoothly
//! (both gateways buffer and re-frame whatever length they get), and a `clear` still discards
//! at most `lead`. A top-up is due one frame early, so a turn woken by the caller's next
//! inbound frame does it and no wake-up of its own is needed while audio flows in. The end of every prompt is tagged with a mark; the gateway echoes
//! it when the audio before it is done. Twilio echoes marks the same way whether the audio was
//! played or discarded by `clear`, so every `clear` starts a new *generation*: an echo of a mark
//! from an older generation is reported [`MarkOutcome::Cleared`], never as played. An echo of a
//! name never sent is [`MarkOutcome::Unknown`] and changes nothing. For gateways whose builds
//! lack mark echoes, a mark not echoed within `mark_grace` after its audio should have ended
//! resolves as [`MarkOutcome::TimedOut`] (treat as played, and count it).
//!
//! It must not know about prompts, codecs or sockets: the session feeds it "a frame was sent"
//! and "a prompt ended", and asks what is due.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One 20 ms frame of 8 kHz audio (ITU-T G.711 framing used by every gateway we speak).
pub const FRAME: Duration = Duration::from_millis(20);

/// Most marks remembered at once (a call has one prompt in flight; this bounds hostile echoes
/// and forgotten marks alike).
const MAX_MARKS: usize = 64;

/// What a mark echo (or its absence) means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkOutcome<T> {
    /// The audio before the mark was played to the caller.
    Played(T),
    /// The audio before the mark was discarded by a `clear` we sent.
    Cleared(T),
    /// No echo came within the grace time; assume it played.
    TimedOut(T),
    /// An echo for a name we never sent (or already resolved): ignored.
    Unknown,
}

#[derive(Debug)]
struct PendingMark<T> {
    name: String,
    generation: u64,
    due: Instant,
    tag: T,
}

/// The playout state of one call.
#[derive(Debug)]
pub struct Playout<T> {
    lead: Duration,
    refill: Duration,
    mark_grace: Duration,
    /// When the audio sent so far finishes playing, if any is still queued at the gateway.
    horizon: Option<Instant>,
    generation: u64,
    seq: u64,
    paused: bool,
    marks: VecDeque<PendingMark<T>>,
}

impl<T> Playout<T> {
    /// A tracker keeping audio at most `lead` ahead of real time (clamped to at least one
    /// frame), topped up in chunks of about `refill` (clamped to one frame ..= `lead`; one
    /// frame means a message per frame), resolving unanswered marks `mark_grace` after their
    /// audio should have ended.
    pub fn new(lead: Duration, refill: Duration, mark_grace: Duration) -> Self {
        let lead = lead.max(FRAME);
        Self {
            lead,
            refill: refill.clamp(FRAME, lead),
            mark_grace,
            horizon: None,
            generation: 0,
            seq: 0,
            paused: false,
            marks: VecDeque::new(),
        }
    }

    /// How much audio is queued ahead of `now` at the gateway (as far as we know).
    pub fn ahead(&self, now: Instant) -> Duration {
        self.horizon
            .map(|h| h.saturating_duration_since(now))
            .unwrap_or_default()
    }

    /// Whether one more frame may be sent at `now`.
    pub fn frame_due(&self, now: Instant) -> bool {
        !self.paused && self.ahead(now) + FRAME <= self.lead
    }

    /// Whether a top-up should start at `now`: the audio ahead has fallen to within one frame
    /// of `lead - refill`. Send frames while [`Playout::frame_due`] once this is true.
    pub fn refill_due(&self, now: Instant) -> bool {
        !self.paused && self.ahead(now) + self.refill <= self.lead + FRAME
    }

    /// Records that one frame was sent at `now`.
    pub fn frame_sent(&mut self, now: Instant) {
        let start = self.horizon.filter(|h| *h > now).unwrap_or(now);
        self.horizon = Some(start + FRAME);
    }

    /// The gateway asked us to stop sending (Asterisk `MEDIA_XOFF`) or allowed it again.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Tags the end of the audio sent so far; returns the mark name to send. `label` should
    /// name the prompt (prompt ids only: no caller data).
    pub fn mark(&mut self, now: Instant, label: &str, tag: T) -> String {
        self.seq += 1;
        let label: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
            .take(64)
            .collect();
        let name = format!("{}:{}", self.seq, label);
        let due = self.horizon.filter(|h| *h > now).unwrap_or(now) + self.mark_grace;
        if self.marks.len() >= MAX_MARKS {
            self.marks.pop_front();
        }
        self.marks.push_back(PendingMark {
            name: name.clone(),
            generation: self.generation,
            due,
            tag,
        });
        name
    }

    /// Barge-in: everything queued is being discarded by a `clear` sent now. Marks sent before
    /// it will echo as [`MarkOutcome::Cleared`].
    pub fn clear(&mut self, now: Instant) {
        self.generation += 1;
        self.horizon = Some(now);
        for m in &mut self.marks {
            // A cleared mark is answered at once by Twilio; do not wait long for it.
            m.due = m.due.min(now + self.mark_grace);
        }
    }

    /// A mark came back from the gateway.
    pub fn echoed(&mut self, name: &str) -> MarkOutcome<T> {
        let Some(i) = self.marks.iter().position(|m| m.name == name) else {
            return MarkOutcome::Unknown;
        };
        match self.marks.remove(i) {
            Some(m) if m.generation < self.generation => MarkOutcome::Cleared(m.tag),
            Some(m) => MarkOutcome::Played(m.tag),
            None => MarkOutcome::Unknown,
        }
    }

    /// Resolves marks whose echo is overdue at `now`: cleared ones as `Cleared`, current ones
    /// as `TimedOut`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<MarkOutcome<T>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.marks.len() {
            if self.marks[i].due <= now {
                if let Some(m) = self.marks.remove(i) {
                    out.push(if m.generation < self.generation {
                        MarkOutcome::Cleared(m.tag)
                    } else {
                        MarkOutcome::TimedOut(m.tag)
                    });
                }
            } else {
                i += 1;
            }
        }
        out
    }

    /// The next moment a mark falls overdue.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.marks.iter().map(|m| m.due).min()
    }

    /// When the next top-up is due (now, if it is; `None` while paused). The deadline is the
    /// low-water mark itself, one frame after a top-up first becomes due, so an inbound frame
    /// arriving in between does the work.
    pub fn next_frame_at(&self, now: Instant) -> Option<Instant> {
        if self.paused {
            return None;
        }
        if self.refill_due(now) && self.frame_due(now) {
            return Some(now);
        }
        self.horizon.map(|h| h + self.refill - self.lead)
    }

    /// Marks sent and not yet resolved.
    pub fn pending_marks(&self) -> usize {
        self.marks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn audio_is_never_more_than_the_lead_ahead_of_real_time() {
        let t0 = Instant::now();
        let mut p: Playout<u32> = Playout::new(ms(200), FRAME, ms(1000));
        let mut sent = 0;
        // Ten simulated seconds, waking whenever the tracker says a frame is due.
        let mut now = t0;
        while now <= t0 + Duration::from_secs(10) {
            while p.frame_due(now) {
                p.frame_sent(now);
                sent += 1;
                assert!(p.ahead(now) <= ms(200));
            }
            now = p.next_frame_at(now).expect("not paused");
        }
        // 10 s of real time (both ends included) plus the 200 ms lead, in 20 ms frames.
        assert_eq!(sent, 500 + 10);
    }

    /// Sends a top-up the way the session does: only when one is due, then every frame due.
    fn top_up(p: &mut Playout<u32>, now: Instant) -> usize {
        let mut n = 0;
        if p.refill_due(now) {
            while p.frame_due(now) {
                p.frame_sent(now);
                n += 1;
            }
        }
        n
    }

    #[test]
    fn refills_come_in_chunks_when_woken_by_deadlines_alone() {
        let t0 = Instant::now();
        let mut p: Playout<u32> = Playout::new(ms(200), ms(100), ms(1000));
        let mut chunks = Vec::new();
        let mut now = t0;
        while now <= t0 + Duration::from_secs(10) {
            let n = top_up(&mut p, now);
            if n > 0 {
                chunks.push(n);
            }
            assert!(p.ahead(now) <= ms(200));
            let next = p.next_frame_at(now).expect("not paused");
            assert!(next > now, "a top-up leaves nothing due");
            // Never woken later than the low-water mark: the buffer keeps 100 ms.
            now = next;
            assert!(p.ahead(now) >= ms(100));
        }
        // The first message fills the whole lead, each later one about 100 ms (five frames).
        assert_eq!(chunks[0], 10);
        assert!(chunks[1..].iter().all(|&n| n == 5), "{chunks:?}");
        let frames: usize = chunks.iter().sum();
        assert_eq!(frames, 500 + 10);
    }

    #[test]
    fn inbound_frames_every_20ms_take_the_top_ups_before_the_deadline() {
        // Turns come from the caller's 20 ms frames (at an offset from the playout clock);
        // the top-up happens on one of them, and the deadline never has to fire.
        let t0 = Instant::now();
        let mut p: Playout<u32> = Playout::new(ms(200), ms(100), ms(1000));
        let mut messages = 0;
        top_up(&mut p, t0);
        let mut deadline = p.next_frame_at(t0).expect("not paused");
        for k in 1..=500u64 {
            let now = t0 + ms(20 * k - 7);
            assert!(now < deadline, "frame {k} came after the deadline");
            if top_up(&mut p, now) > 0 {
                messages += 1;
            }
            assert!(p.ahead(now) >= ms(100) && p.ahead(now) <= ms(200));
            deadline = p.next_frame_at(now).expect("not paused");
        }
        // Ten seconds of audio in a message per 80–100 ms (the top-up rides on the frame that
        // comes up to 20 ms before the low-water mark) instead of 500, one per frame.
        assert!((100..=125).contains(&messages), "{messages} top-ups");
    }

    #[test]
    fn after_a_clear_the_next_prompt_fills_the_lead_at_once() {
        let t0 = Instant::now();
        let mut p: Playout<u32> = Playout::new(ms(200), ms(100), ms(1000));
        top_up(&mut p, t0);
        let t1 = t0 + ms(50);
        assert_eq!(top_up(&mut p, t1), 0, "150 ms still ahead: no top-up yet");
        p.clear(t1);
        assert_eq!(top_up(&mut p, t1), 10);
    }

    #[test]
    fn mark_echo_after_play_is_played() {
        let t0 = Instant::now();
        let mut p = Playout::new(ms(200), FRAME, ms(1000));
        p.frame_sent(t0);
        let name = p.mark(t0, "welcome_95017", 7);
        assert_eq!(name, "1:welcome_95017");
        assert_eq!(p.echoed(&name), MarkOutcome::Played(7));
        assert_eq!(p.pending_marks(), 0);
    }

    #[test]
    fn marks_echoed_after_a_clear_count_as_cleared_not_played() {
        let t0 = Instant::now();
        let mut p = Playout::new(ms(200), FRAME, ms(1000));
        for _ in 0..10 {
            p.frame_sent(t0);
        }
        let a = p.mark(t0, "menu_main", 1);
        p.clear(t0 + ms(40));
        assert_eq!(p.ahead(t0 + ms(40)), Duration::ZERO);
        let b = p.mark(t0 + ms(40), "invalid_choice", 2);
        assert_eq!(p.echoed(&a), MarkOutcome::Cleared(1));
        assert_eq!(p.echoed(&b), MarkOutcome::Played(2));
    }

    #[test]
    fn echoes_of_marks_never_sent_are_ignored() {
        let mut p: Playout<u8> = Playout::new(ms(200), FRAME, ms(1000));
        assert_eq!(p.echoed("99:forged"), MarkOutcome::Unknown);
        let name = p.mark(Instant::now(), "x", 1);
        assert_eq!(p.echoed(&name), MarkOutcome::Played(1));
        assert_eq!(
            p.echoed(&name),
            MarkOutcome::Unknown,
            "a second echo is stale"
        );
    }

    #[test]
    fn unanswered_mark_times_out_after_its_audio_plus_grace() {
        let t0 = Instant::now();
        let mut p = Playout::new(ms(200), FRAME, ms(500));
        for _ in 0..5 {
            p.frame_sent(t0);
        }
        p.mark(t0, "goodbye", 3);
        assert_eq!(p.poll_timeout(), Some(t0 + ms(100) + ms(500)));
        assert!(p.handle_timeout(t0 + ms(599)).is_empty());
        assert_eq!(
            p.handle_timeout(t0 + ms(600)),
            vec![MarkOutcome::TimedOut(3)]
        );
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn paused_gateway_gets_no_frames_until_resumed() {
        let t0 = Instant::now();
        let mut p: Playout<()> = Playout::new(ms(200), FRAME, ms(500));
        p.set_paused(true);
        assert!(!p.frame_due(t0));
        assert_eq!(p.next_frame_at(t0), None);
        p.set_paused(false);
        assert!(p.frame_due(t0));
    }

    #[test]
    fn mark_labels_keep_only_safe_characters() {
        let mut p = Playout::new(ms(200), FRAME, ms(500));
        let name = p.mark(Instant::now(), "a b\"c\n{d}+e", 0);
        assert_eq!(name, "1:abcd+e");
    }
}
