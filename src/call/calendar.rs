//! Evaluating a calendar at a wall-clock moment: open, closed, holiday or emergency.
//!
//! Pure: the moment and the flags switched on are arguments; nothing here reads a clock.
//!
//! Order of checks (flows/README.md, "Calendars"): an emergency flag of the calendar switched
//! on → a public holiday → a make-up working day (`workday_hours`) or a date override → the
//! weekly hours. Times are local to the calendar's zone.
//!
//! A range `(start, end)` is open for `start <= t < end`. An end of `00:00` means the end of
//! the day (`"09:00-24:00"` and `"00:00-24:00"` compile to an end of midnight), and an end
//! before its start wraps past midnight (`"22:00-06:00"`) within the same listed day.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveTime, Utc};

use crate::flow::model::Calendar;

/// What a calendar says about a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayState {
    /// Within opening hours.
    Open,
    /// Outside opening hours.
    Closed,
    /// A public holiday.
    Holiday,
    /// One of the calendar's emergency flags is on.
    Emergency,
}

impl DayState {
    /// The outcome name used in flows.
    pub fn as_str(self) -> &'static str {
        match self {
            DayState::Open => "open",
            DayState::Closed => "closed",
            DayState::Holiday => "holiday",
            DayState::Emergency => "emergency",
        }
    }
}

impl Calendar {
    /// The state at `at`, with `flags` the emergency flags switched on (any name; only the
    /// calendar's own flags count).
    pub fn state_at(&self, at: DateTime<Utc>, flags: &BTreeSet<String>) -> DayState {
        if self.emergency_flags.iter().any(|f| flags.contains(f)) {
            return DayState::Emergency;
        }
        let local = at.with_timezone(&self.timezone);
        let date = local.date_naive();
        let time = local.time();
        if self.holidays.contains(&date) {
            return DayState::Holiday;
        }
        let hours = if self.workdays.contains(&date) {
            &self.workday_hours
        } else if let Some((_, hours)) = self.overrides.iter().find(|(d, _)| *d == date) {
            hours
        } else {
            &self.weekly[local.weekday().num_days_from_monday() as usize]
        };
        if hours.iter().any(|&(start, end)| in_range(time, start, end)) {
            DayState::Open
        } else {
            DayState::Closed
        }
    }
}

fn in_range(t: NaiveTime, start: NaiveTime, end: NaiveTime) -> bool {
    if end == NaiveTime::MIN {
        t >= start
    } else if end > start {
        start <= t && t < end
    } else {
        t >= start || t < end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CalendarId;
    use chrono::{NaiveDate, TimeZone};
    use chrono_tz::Asia::Shanghai;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Beijing time → UTC.
    fn beijing(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Merchant hours: 09:00-21:00 on weekdays, closed at weekends; National Day 2026 is a
    /// holiday and Sunday 27 September 2026 is a make-up working day.
    fn merchant() -> Calendar {
        let day = vec![(hm(9, 0), hm(21, 0))];
        Calendar {
            id: CalendarId::new("merchant-hours"),
            timezone: Shanghai,
            weekly: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                vec![],
                vec![],
            ],
            holidays: vec![date(2026, 10, 1), date(2026, 10, 2)],
            workdays: vec![date(2026, 9, 27)],
            workday_hours: vec![(hm(10, 0), hm(18, 0))],
            overrides: vec![(date(2026, 12, 31), vec![(hm(9, 0), hm(17, 0))])],
            emergency_flags: vec!["system_outage".into()],
        }
    }

    fn no_flags() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn weekday_hours_are_read_in_beijing_time() {
        let cal = merchant();
        // Thursday 26 November 2026, 10:00 Beijing = 02:00 UTC.
        assert_eq!(
            cal.state_at(beijing(2026, 11, 26, 10, 0), &no_flags()),
            DayState::Open
        );
        assert_eq!(
            cal.state_at(beijing(2026, 11, 26, 8, 59), &no_flags()),
            DayState::Closed
        );
        assert_eq!(
            cal.state_at(beijing(2026, 11, 26, 21, 0), &no_flags()),
            DayState::Closed,
            "the end of a range is exclusive"
        );
        // 02:00 UTC is 10:00 in Beijing (open); 13:30 UTC is 21:30 in Beijing (closed). A
        // reading in UTC would get both wrong.
        let utc = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
        assert_eq!(cal.state_at(utc, &no_flags()), DayState::Open);
        let utc = Utc.with_ymd_and_hms(2026, 11, 26, 13, 30, 0).unwrap();
        assert_eq!(cal.state_at(utc, &no_flags()), DayState::Closed);
    }

    #[test]
    fn weekend_is_closed() {
        assert_eq!(
            merchant().state_at(beijing(2026, 11, 28, 11, 0), &no_flags()),
            DayState::Closed
        );
    }

    #[test]
    fn national_day_is_a_holiday_even_inside_weekday_hours() {
        // Thursday 1 October 2026.
        assert_eq!(
            merchant().state_at(beijing(2026, 10, 1, 11, 0), &no_flags()),
            DayState::Holiday
        );
    }

    #[test]
    fn adjusted_weekend_opens_with_workday_hours() {
        let cal = merchant();
        // Sunday 27 September 2026 is a make-up working day: open 10:00-18:00.
        assert_eq!(
            cal.state_at(beijing(2026, 9, 27, 11, 0), &no_flags()),
            DayState::Open
        );
        assert_eq!(
            cal.state_at(beijing(2026, 9, 27, 9, 30), &no_flags()),
            DayState::Closed
        );
        // The Sunday before is an ordinary weekend day.
        assert_eq!(
            cal.state_at(beijing(2026, 9, 20, 11, 0), &no_flags()),
            DayState::Closed
        );
    }

    #[test]
    fn override_replaces_the_weekly_hours_for_its_date() {
        let cal = merchant();
        assert_eq!(
            cal.state_at(beijing(2026, 12, 31, 17, 30), &no_flags()),
            DayState::Closed
        );
        assert_eq!(
            cal.state_at(beijing(2026, 12, 30, 17, 30), &no_flags()),
            DayState::Open
        );
    }

    #[test]
    fn emergency_flag_wins_over_everything_but_only_the_calendars_own() {
        let cal = merchant();
        let on: BTreeSet<String> = ["system_outage".to_string()].into();
        assert_eq!(
            cal.state_at(beijing(2026, 10, 1, 11, 0), &on),
            DayState::Emergency
        );
        let other: BTreeSet<String> = ["other_flag".to_string()].into();
        assert_eq!(
            cal.state_at(beijing(2026, 11, 26, 10, 0), &other),
            DayState::Open
        );
    }

    #[test]
    fn ranges_may_end_at_midnight_or_wrap_past_it() {
        let mut cal = merchant();
        cal.weekly[5] = vec![(hm(0, 0), hm(0, 0))]; // Saturday "00:00-24:00"
        cal.weekly[6] = vec![(hm(22, 0), hm(6, 0))]; // Sunday "22:00-06:00"
        let sat_late = beijing(2026, 11, 28, 23, 59);
        assert_eq!(cal.state_at(sat_late, &no_flags()), DayState::Open);
        assert_eq!(
            cal.state_at(beijing(2026, 11, 28, 0, 0), &no_flags()),
            DayState::Open
        );
        assert_eq!(
            cal.state_at(beijing(2026, 11, 29, 5, 59), &no_flags()),
            DayState::Open
        );
        assert_eq!(
            cal.state_at(beijing(2026, 11, 29, 12, 0), &no_flags()),
            DayState::Closed
        );
    }
}
