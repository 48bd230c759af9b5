//! Raw → model: builds the immutable [`Flow`] of a flow that passed every check, one node
//! kind at a time, with edges resolved to node indices and reading settings resolved from
//! node, then flow, then engine defaults.
//!
//! It must not report problems or panic: a missing edge or node means a check missed
//! something, and the result is `None`.

use std::collections::{BTreeMap, HashMap};

use super::engine_defaults;
use crate::flow::kinds::ReadQueue;
use crate::flow::model::{
    Branch, Collect, Confirm, Enqueue, Flow, Hangup, Lookup, Menu, Node, NodeIndex, NodeKind, Play,
    Prompts, Reading, Schedule, Set, SetLanguage, SourceSpan, Transfer, Utterance, Validation,
};
use crate::flow::raw::{Body, RawGraph, RawNode, RawReading, RawValidation};
use crate::flow::read::Sp;
use crate::ids::{FlowId, Language, NodeId, PromptId, QueueId};

fn utterances(p: &[Sp<PromptId>]) -> Prompts {
    p.iter().map(|s| Utterance::Prompt(s.v.clone())).collect()
}

fn build_reading(r: &RawReading, defaults: &RawReading) -> Reading {
    use engine_defaults as e;
    Reading {
        timeout: r.timeout.or(defaults.timeout).unwrap_or(e::TIMEOUT),
        inter_digit_timeout: r
            .inter_digit_timeout
            .or(defaults.inter_digit_timeout)
            .unwrap_or(e::INTER_DIGIT_TIMEOUT),
        attempts: r.attempts.or(defaults.attempts).unwrap_or(e::ATTEMPTS),
        invalid_prompt: utterances(
            r.invalid_prompt
                .as_ref()
                .or(defaults.invalid_prompt.as_ref())
                .map_or(&[], Vec::as_slice),
        ),
        no_input_prompt: utterances(
            r.no_input_prompt
                .as_ref()
                .or(defaults.no_input_prompt.as_ref())
                .map_or(&[], Vec::as_slice),
        ),
    }
}

/// Builds the model of a flow that passed every check. `None` only if a check missed
/// something (a bug), never a panic.
pub(super) fn build_flow(
    g: &RawGraph,
    exp: &[RawNode],
    entry: Option<&str>,
    version: &str,
    queues: &BTreeMap<String, &ReadQueue>,
) -> Option<Flow> {
    let index: HashMap<&str, NodeIndex> = exp
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), NodeIndex(i)))
        .collect();
    let mut nodes = Vec::with_capacity(exp.len());
    for n in exp {
        let to = |outcome: &str| -> Option<NodeIndex> {
            n.edge(outcome)
                .and_then(|e| index.get(e.target.as_str()).copied())
        };
        let reading = |r: &RawReading| build_reading(r, &g.defaults.reading);
        let kind = match &n.body {
            Body::Play { prompts, barge_in } => NodeKind::Play(Play {
                prompts: utterances(prompts),
                barge_in: *barge_in,
                next: to("done")?,
            }),
            Body::Menu {
                prompt,
                repeat_prompt,
                reading: r,
            } => {
                let mut options = Vec::new();
                for e in &n.edges {
                    if e.outcome
                        .chars()
                        .all(|c| crate::ids::Digit::new(c).is_some())
                        && !e.outcome.is_empty()
                    {
                        options.push((
                            e.outcome
                                .chars()
                                .filter_map(crate::ids::Digit::new)
                                .map(|d| d.as_char())
                                .collect(),
                            *index.get(e.target.as_str())?,
                        ));
                    }
                }
                NodeKind::Menu(Menu {
                    prompt: utterances(prompt),
                    repeat_prompt: utterances(repeat_prompt.as_ref().unwrap_or(prompt)),
                    reading: reading(r),
                    options,
                    invalid_exhausted: to("invalid_exhausted")?,
                    timeout_exhausted: to("timeout_exhausted")?,
                })
            }
            Body::Collect {
                var,
                prompt,
                min_length,
                max_length,
                terminator,
                cancel,
                reading: r,
                validate,
                confirm,
                secure,
            } => NodeKind::Collect(Collect {
                var: var.clone(),
                prompt: utterances(prompt),
                min_length: *min_length,
                max_length: *max_length,
                terminator: *terminator,
                cancel: *cancel,
                reading: reading(r),
                validate: validate
                    .iter()
                    .map(|v| match v {
                        RawValidation::Pattern(re) => Validation::Pattern(re.clone()),
                        RawValidation::Luhn => Validation::Luhn,
                        RawValidation::Range(min, max) => Validation::Range {
                            min: *min,
                            max: *max,
                        },
                    })
                    .collect(),
                confirm: confirm.as_ref().map(|c| Confirm {
                    prefix: utterances(&c.prefix),
                    question: utterances(&c.question),
                    yes: c.yes,
                    no: c.no,
                }),
                secure: *secure,
                ok: to("ok")?,
                invalid_exhausted: to("invalid_exhausted")?,
                timeout_exhausted: to("timeout_exhausted")?,
                cancelled: to("cancelled"),
            }),
            Body::Set { assignments } => NodeKind::Set(Set {
                assignments: assignments.clone(),
                next: to("done")?,
            }),
            Body::Branch { cases } => {
                let mut out = Vec::new();
                for (name, e) in cases {
                    out.push((name.v.clone(), e.clone(), to(&name.v)?));
                }
                NodeKind::Branch(Branch {
                    cases: out,
                    default: to("default")?,
                })
            }
            Body::Schedule { calendar } => {
                let closed = to("closed")?;
                NodeKind::Schedule(Schedule {
                    calendar: calendar.v.as_str().into(),
                    open: to("open")?,
                    closed,
                    holiday: to("holiday").unwrap_or(closed),
                    emergency: to("emergency").unwrap_or(closed),
                })
            }
            Body::Language { language } => NodeKind::SetLanguage(SetLanguage {
                language: Language::new(language.v.clone()),
                next: to("done")?,
            }),
            Body::Lookup { table, key, fields } => {
                let not_found = to("not_found")?;
                let error = to("error").unwrap_or(not_found);
                NodeKind::Lookup(Lookup {
                    table: table.v.as_str().into(),
                    key: key.clone(),
                    fields: fields
                        .iter()
                        .map(|(v, c)| (v.clone(), c.v.clone()))
                        .collect(),
                    ok: to("ok")?,
                    not_found,
                    error,
                    timeout: to("timeout").unwrap_or(error),
                })
            }
            Body::Enqueue {
                queue,
                priority,
                skills,
                prompt,
                exit_key,
                callback_key,
            } => NodeKind::Enqueue(Enqueue {
                queue: QueueId::new(queue.v.clone()),
                // No class named: the queue's last (lowest) class.
                priority: match priority {
                    Some(p) => p.v.as_str().into(),
                    None => queues.get(&queue.v)?.queue.classes.last()?.name.clone(),
                },
                skills: skills.clone(),
                prompt: utterances(prompt),
                exit_key: *exit_key,
                callback_key: *callback_key,
                answered: to("answered"),
                timeout: to("timeout")?,
                no_agents: to("no_agents")?,
                full: to("full")?,
                exit: to("exit"),
                callback_registered: to("callback_registered"),
            }),
            Body::Transfer { to: target } => NodeKind::Transfer(Transfer {
                target: target.clone(),
                connected: to("connected"),
                failed: to("failed")?,
            }),
            Body::Hangup { prompts, reason } => NodeKind::Hangup(Hangup {
                prompts: utterances(prompts),
                reason: reason.clone(),
            }),
            Body::Subflow { .. } | Body::Return { .. } | Body::Broken => return None,
        };
        nodes.push(Node {
            id: NodeId::new(n.id.clone()),
            span: SourceSpan {
                file: n.file.clone(),
                line: n.line,
                column: n.column,
            },
            kind,
        });
    }
    Some(Flow {
        id: FlowId::new(g.id.v.clone()),
        name: g.name.clone(),
        numbers: g.numbers.iter().map(|n| n.v.clone()).collect(),
        languages: g
            .languages
            .iter()
            .map(|l| Language::new(l.v.clone()))
            .collect(),
        vars: g.vars.clone(),
        entry: *index.get(entry?)?,
        nodes,
        max_call_duration: g
            .defaults
            .max_call_duration
            .unwrap_or(engine_defaults::MAX_CALL_DURATION),
        file: g.file.clone(),
        version: version.to_owned(),
    })
}
