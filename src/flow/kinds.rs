//! Reading the non-graph kinds: queues, calendars and tables, straight into the model.
//!
//! Problems are reported and a best-effort value (with defaults) is still returned, so that
//! flows referring to a slightly broken queue do not get a second, misleading "unknown queue".
//! No I/O.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};

use crate::flow::diagnostic::Diagnostic;
use crate::flow::model::{AnnounceConfig, Calendar, ClassConfig, QueueConfig, Table, Utterance};
use crate::flow::read::{Cx, Obj, Sp};
use crate::flow::spec;
use crate::flow::yaml::Yaml;
use crate::ids::{CalendarId, PriorityClass, PromptId, QueueId, TableId};

/// Queue defaults (also listed in `flows/README.md`).
pub mod queue_defaults {
    use std::time::Duration;
    /// `max_wait`.
    pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
    /// `max_size`.
    pub const MAX_SIZE: usize = 100;
    /// `service_level`.
    pub const SERVICE_LEVEL: Duration = Duration::from_secs(20);
    /// `hold_music`.
    pub const HOLD_MUSIC: &str = "hold_music";
    /// `announce.first_after`.
    pub const FIRST_AFTER: Duration = Duration::from_secs(30);
    /// `announce.every`.
    pub const EVERY: Duration = Duration::from_secs(60);
    /// `wrap_up`.
    pub const WRAP_UP: Duration = Duration::from_secs(10);
    /// `offer_timeout`.
    pub const OFFER_TIMEOUT: Duration = Duration::from_secs(15);
    /// `max_agent_share` of a strict class.
    pub const MAX_AGENT_SHARE: f64 = 1.0;
}

/// A queue plus the positions of the references the compiler checks later.
#[derive(Debug)]
pub struct ReadQueue {
    /// The compiled queue.
    pub queue: QueueConfig,
    /// `overflow`, where written.
    pub overflow_at: Option<Sp<String>>,
    /// Prompts it plays, where written.
    pub prompts: Vec<Sp<PromptId>>,
}

fn dur(o: &Obj<'_>, key: &str, default: Duration, d: &mut Vec<Diagnostic>) -> Duration {
    o.duration(key, d).map_or(default, |s| s.v)
}

/// Reads a `kind: queue` file.
pub fn read_queue(cx: Cx<'_>, root: &Yaml, d: &mut Vec<Diagnostic>) -> Option<ReadQueue> {
    use queue_defaults as q;
    let o = Obj::new(cx, root, "", spec::QUEUE, &[], d)?;
    let id = o.text("id", d)?.v;
    let mut classes: Vec<ClassConfig> = Vec::new();
    for (i, c) in o.seq("classes", d).unwrap_or_default().iter().enumerate() {
        let Some(co) = Obj::new(cx, c, &format!("classes[{i}]."), spec::CLASS, &[], d) else {
            continue;
        };
        let Some(name) = co.text("name", d) else {
            continue;
        };
        if classes.iter().any(|k| k.name.as_str() == name.v) {
            d.push(cx.err_at(
                "duplicate-key",
                name.line,
                name.column,
                &format!("classes[{i}].name"),
                format!("class \"{}\" appears twice", name.v),
            ));
        }
        let strict = co.bool("strict", d).is_some_and(|b| b.v);
        let share = co.number("max_agent_share", d);
        if let Some(s) = &share
            && !(s.v > 0.0 && s.v <= 1.0)
        {
            d.push(cx.err_at(
                "bad-value",
                s.line,
                s.column,
                &format!("classes[{i}].max_agent_share"),
                "max_agent_share is a share of agents: more than 0, at most 1",
            ));
        }
        classes.push(ClassConfig {
            name: PriorityClass::new(name.v),
            strict,
            max_agent_share: share.map_or(q::MAX_AGENT_SHARE, |s| s.v),
            base_priority: co.number("base_priority", d).map_or(0.0, |s| s.v),
            aging_per_second: co.number("aging_per_second", d).map_or(0.0, |s| s.v),
        });
    }
    if classes.is_empty() && o.get("classes").is_some() {
        let at = o.get("classes").unwrap_or(root);
        d.push(cx.err(
            "missing-field",
            at,
            "classes",
            "a queue needs at least one priority class",
        ));
    }
    let mut prompts = Vec::new();
    let hold = o.text("hold_music", d).unwrap_or(Sp {
        v: q::HOLD_MUSIC.to_owned(),
        line: root.line,
        column: root.column,
    });
    prompts.push(Sp {
        v: PromptId::new(hold.v.clone()),
        line: hold.line,
        column: hold.column,
    });
    let announce = match o.obj("announce", spec::ANNOUNCE, d) {
        Some(a) => {
            let messages: Vec<Sp<String>> = a.texts("messages", true, d).unwrap_or_default();
            prompts.extend(messages.iter().map(|m| Sp {
                v: PromptId::new(m.v.clone()),
                line: m.line,
                column: m.column,
            }));
            AnnounceConfig {
                first_after: dur(&a, "first_after", q::FIRST_AFTER, d),
                every: dur(&a, "every", q::EVERY, d),
                position: a.bool("position", d).is_none_or(|b| b.v),
                wait_time: a.bool("wait_time", d).is_none_or(|b| b.v),
                messages: messages
                    .into_iter()
                    .map(|m| Utterance::Prompt(PromptId::new(m.v)))
                    .collect(),
            }
        }
        None => AnnounceConfig {
            first_after: q::FIRST_AFTER,
            every: q::EVERY,
            position: true,
            wait_time: true,
            messages: Vec::new(),
        },
    };
    let overflow_at = o.text("overflow", d);
    if let Some(ov) = &overflow_at
        && ov.v == id
    {
        d.push(cx.err_at(
            "bad-value",
            ov.line,
            ov.column,
            "overflow",
            "a queue cannot overflow into itself",
        ));
    }
    let max_size = o
        .count("max_size", d)
        .map_or(q::MAX_SIZE, |s| usize::try_from(s.v).unwrap_or(usize::MAX));
    let queue = QueueConfig {
        id: QueueId::new(id.clone()),
        name: o.text("name", d).map_or(id, |s| s.v),
        classes,
        max_wait: dur(&o, "max_wait", q::MAX_WAIT, d),
        overflow: overflow_at.as_ref().map(|s| QueueId::new(s.v.clone())),
        max_size,
        service_level: dur(&o, "service_level", q::SERVICE_LEVEL, d),
        skills: o
            .texts("skills", false, d)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.v)
            .collect(),
        hold_music: PromptId::new(hold.v),
        announce,
        wrap_up: dur(&o, "wrap_up", q::WRAP_UP, d),
        offer_timeout: dur(&o, "offer_timeout", q::OFFER_TIMEOUT, d),
        join_without_agents: o.bool("join_without_agents", d).is_none_or(|b| b.v),
    };
    Some(ReadQueue {
        queue,
        overflow_at,
        prompts,
    })
}

/// The end of a day, for ranges written `...-24:00` (the last representable instant).
pub fn end_of_day() -> NaiveTime {
    NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap_or(NaiveTime::MIN)
}

fn time(s: &str) -> Option<NaiveTime> {
    if s == "24:00" {
        return Some(end_of_day());
    }
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// Parses `"09:00-21:00"`; the end may be `24:00` (see [`end_of_day`]).
pub fn parse_range(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let Some((a, b)) = s.split_once('-') else {
        return Err(format!("\"{s}\" is not a time range like \"09:00-21:00\""));
    };
    let (Some(start), Some(end)) = (time(a.trim()), time(b.trim())) else {
        return Err(format!(
            "\"{s}\" is not a time range like \"09:00-21:00\" (HH:MM, 00:00 to 24:00)"
        ));
    };
    if a.trim() == "24:00" || start >= end {
        return Err(format!("\"{s}\": the range must end after it starts"));
    }
    Ok((start, end))
}

fn ranges(o: &Obj<'_>, key: &str, d: &mut Vec<Diagnostic>) -> Vec<(NaiveTime, NaiveTime)> {
    let mut out: Vec<(NaiveTime, NaiveTime)> = Vec::new();
    for r in o.texts(key, false, d).unwrap_or_default() {
        match parse_range(&r.v) {
            Ok(range) => {
                if out.iter().any(|(s, e)| range.0 < *e && *s < range.1) {
                    d.push(o.cx.err_at(
                        "bad-time-range",
                        r.line,
                        r.column,
                        &o.path(key),
                        format!("\"{}\" overlaps another range of the same day", r.v),
                    ));
                }
                out.push(range);
            }
            Err(m) => d.push(o.cx.err_at("bad-time-range", r.line, r.column, &o.path(key), m)),
        }
    }
    out.sort();
    out
}

fn dates(o: &Obj<'_>, key: &str, d: &mut Vec<Diagnostic>) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for s in o.texts(key, false, d).unwrap_or_default() {
        match NaiveDate::parse_from_str(&s.v, "%Y-%m-%d") {
            Ok(date) => out.push(date),
            Err(_) => d.push(o.cx.err_at(
                "bad-date",
                s.line,
                s.column,
                &o.path(key),
                format!("\"{}\" is not a date like \"2026-10-01\"", s.v),
            )),
        }
    }
    out.sort();
    out
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Reads a `kind: calendar` file.
pub fn read_calendar(cx: Cx<'_>, root: &Yaml, d: &mut Vec<Diagnostic>) -> Option<Calendar> {
    // The time zone gets its own code: a calendar without one would open at the wrong hours.
    let fields: Vec<spec::Field> = spec::CALENDAR
        .iter()
        .map(|f| spec::Field {
            required: f.required && f.name != "timezone",
            ..*f
        })
        .collect();
    let o = Obj::new(cx, root, "", &fields, &[], d)?;
    let id = o.text("id", d)?.v;
    let timezone = match o.text("timezone", d) {
        None => {
            if o.get("timezone").is_none() {
                d.push(
                    cx.err(
                        "calendar-without-timezone",
                        root,
                        "timezone",
                        format!("calendar \"{id}\" has no timezone"),
                    )
                    .help("add `timezone: Asia/Shanghai` (an IANA zone name)"),
                );
            }
            None
        }
        Some(tz) => match tz.v.parse::<chrono_tz::Tz>() {
            Ok(z) => Some(z),
            Err(_) => {
                d.push(
                    cx.err_at(
                        "bad-timezone",
                        tz.line,
                        tz.column,
                        "timezone",
                        format!("\"{}\" is not an IANA time zone", tz.v),
                    )
                    .suggest(&tz.v, chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())),
                );
                None
            }
        },
    };
    let mut weekly: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
    if let Some(w) = o.obj(
        "weekly",
        &WEEKDAYS.map(|day| spec::Field {
            name: day,
            shape: spec::Shape::Ranges,
            required: false,
            doc: "",
        }),
        d,
    ) {
        for (i, day) in WEEKDAYS.iter().enumerate() {
            weekly[i] = ranges(&w, day, d);
        }
    }
    let mut overrides = Vec::new();
    for (i, ov) in o.seq("overrides", d).unwrap_or_default().iter().enumerate() {
        let Some(oo) = Obj::new(cx, ov, &format!("overrides[{i}]."), spec::OVERRIDE, &[], d) else {
            continue;
        };
        let date =
            oo.text("date", d)
                .and_then(|s| match NaiveDate::parse_from_str(&s.v, "%Y-%m-%d") {
                    Ok(date) => Some(date),
                    Err(_) => {
                        d.push(cx.err_at(
                            "bad-date",
                            s.line,
                            s.column,
                            &oo.path("date"),
                            format!("\"{}\" is not a date like \"2026-10-01\"", s.v),
                        ));
                        None
                    }
                });
        let hours = ranges(&oo, "hours", d);
        if let Some(date) = date {
            overrides.push((date, hours));
        }
    }
    let holidays = dates(&o, "holidays", d);
    let workdays = dates(&o, "workdays", d);
    for w in &workdays {
        if holidays.contains(w)
            && let Some(y) = o.get("workdays")
        {
            d.push(cx.err(
                "bad-date",
                y,
                "workdays",
                format!("{w} is both a holiday and a make-up working day"),
            ));
        }
    }
    Some(Calendar {
        id: CalendarId::new(id),
        timezone: timezone.unwrap_or(chrono_tz::Tz::UTC),
        weekly,
        holidays,
        workdays,
        workday_hours: ranges(&o, "workday_hours", d),
        overrides,
        emergency_flags: o
            .texts("emergency_flags", false, d)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.v)
            .collect(),
    })
}

/// A table plus its column names (for checking `lookup.fields`).
#[derive(Debug)]
pub struct ReadTable {
    /// The compiled table.
    pub table: Table,
    /// Every column any row has.
    pub columns: Vec<String>,
}

/// Reads a `kind: table` file.
pub fn read_table(cx: Cx<'_>, root: &Yaml, d: &mut Vec<Diagnostic>) -> Option<ReadTable> {
    let o = Obj::new(cx, root, "", spec::TABLE, &[], d)?;
    let id = o.text("id", d)?.v;
    let key = o.text("key", d)?.v;
    let mut rows: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut columns: Vec<String> = Vec::new();
    for (i, row) in o.seq("rows", d).unwrap_or_default().iter().enumerate() {
        let Some(entries) = row.as_map() else {
            d.push(cx.err(
                "wrong-type",
                row,
                &format!("rows[{i}]"),
                format!("expected a mapping column: value, found {}", row.shape()),
            ));
            continue;
        };
        let mut r = BTreeMap::new();
        for (k, v) in entries {
            let col = k.scalar_text().unwrap_or_default();
            match v.scalar_text() {
                Some(val) => {
                    if !columns.contains(&col) {
                        columns.push(col.clone());
                    }
                    r.insert(col, val);
                }
                None => d.push(cx.err(
                    "wrong-type",
                    v,
                    &format!("rows[{i}].{col}"),
                    format!("expected a plain value, found {}", v.shape()),
                )),
            }
        }
        match r.get(&key).cloned() {
            None => d.push(cx.err(
                "missing-field",
                row,
                &format!("rows[{i}].{key}"),
                format!("row has no key column \"{key}\""),
            )),
            Some(k) if rows.contains_key(&k) => {
                d.push(cx.err(
                    "duplicate-key",
                    row,
                    &format!("rows[{i}].{key}"),
                    format!("key \"{k}\" appears in two rows"),
                ));
            }
            Some(k) => {
                rows.insert(k, r);
            }
        }
    }
    Some(ReadTable {
        table: Table {
            id: TableId::new(id),
            rows,
        },
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_may_end_at_midnight_but_not_run_backwards() {
        let (s, e) = parse_range("00:00-24:00").expect("all day");
        assert_eq!(s, NaiveTime::MIN);
        assert_eq!(e, end_of_day());
        assert!(parse_range("21:00-09:00").is_err());
        assert!(parse_range("9:00-21:00").is_err());
        assert!(parse_range("09:00-25:00").is_err());
        assert!(parse_range("09:00").is_err());
    }
}
