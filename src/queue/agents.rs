//! The `kind: agents` file: static agents, their SIP addresses, skills and queues.
//!
//! Only the serde shape and its checks live here; the YAML text is parsed by the flow
//! loader (`flow/yaml.rs`), which hands the document to these types. Nothing here reads
//! files or talks to the ACD; [`AgentEntry::login`] builds the fact a shell feeds it.
//!
//! # Format
//!
//! ```yaml
//! kind: agents
//! agents:
//!   - id: a1001                      # unique agent id
//!     name: Li Wei                   # shown on dashboards
//!     sip: sip:1001@pbx.example.com  # where accepted calls are sent (sip:, sips: or tel:)
//!     skills: { mandarin: 5, cards: 3 }   # skill → level 1 (lowest) .. 5 (highest)
//!     queues: [general, general-overflow]
//!   - id: a1002
//!     name: Sam Taylor
//!     sip: sip:1002@pbx.example.com
//!     skills: { english: 4 }
//!     queues: [merchant-crossborder]
//! ```
//!
//! All fields but `skills` (default: none) are required; unknown fields are errors. An agent
//! listed here is known to the engine but still logs in (over the API, or all at start-up by
//! the shell) before it is offered calls. Agents may also log in over the API without
//! being listed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use thiserror::Error;

use crate::ids::{AgentId, QueueId};
use crate::queue::event::AcdInput;

/// Highest skill level.
pub const MAX_SKILL_LEVEL: u8 = 5;

/// A whole `kind: agents` document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsFile {
    /// Must be `agents`.
    pub kind: String,
    /// The agents, in file order.
    pub agents: Vec<AgentEntry>,
}

/// One agent of the file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    /// Unique id.
    pub id: AgentId,
    /// A human name.
    pub name: String,
    /// Where accepted calls go: `sip:user@host`, `sips:...` or `tel:+...`.
    pub sip: String,
    /// Skill → level (1..=5).
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Queues served.
    pub queues: Vec<QueueId>,
}

impl AgentEntry {
    /// The ACD fact that logs this agent in with its skills and queues.
    pub fn login(&self) -> AcdInput {
        AcdInput::AgentLoggedIn {
            agent: self.id.clone(),
            skills: self
                .skills
                .iter()
                .map(|(skill, level)| (skill.clone(), *level))
                .collect(),
            queues: self.queues.clone(),
        }
    }
}

/// A problem in an agents file (the author's fault: the file is refused as a whole).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AgentsFileError {
    /// `kind` is not `agents`.
    #[error("kind is {0:?}, expected \"agents\"")]
    WrongKind(String),
    /// Two agents share an id.
    #[error("agent {0}: id used more than once")]
    DuplicateId(AgentId),
    /// A skill level outside 1..=5.
    #[error("agent {agent}: skill {skill} has level {level}, expected 1..=5")]
    BadSkillLevel {
        /// The agent.
        agent: AgentId,
        /// The skill.
        skill: String,
        /// The level written.
        level: u8,
    },
    /// A queue no `kind: queue` file defines.
    #[error("agent {agent}: queue {queue} is not defined")]
    UnknownQueue {
        /// The agent.
        agent: AgentId,
        /// The queue named.
        queue: QueueId,
    },
    /// The address is not `sip:`, `sips:` or `tel:`.
    #[error("agent {agent}: sip address {address:?} must start with sip:, sips: or tel:")]
    BadAddress {
        /// The agent.
        agent: AgentId,
        /// The address written.
        address: String,
    },
    /// An agent serving no queue.
    #[error("agent {0}: serves no queue")]
    NoQueues(AgentId),
}

impl AgentsFile {
    /// Every problem in the file at once, checked against the queues that exist.
    pub fn check(&self, known_queues: &BTreeSet<QueueId>) -> Vec<AgentsFileError> {
        let mut problems = Vec::new();
        if self.kind != "agents" {
            problems.push(AgentsFileError::WrongKind(self.kind.clone()));
        }
        let mut seen = BTreeSet::new();
        for agent in &self.agents {
            if !seen.insert(&agent.id) {
                problems.push(AgentsFileError::DuplicateId(agent.id.clone()));
            }
            let address_ok = ["sip:", "sips:", "tel:"]
                .iter()
                .any(|scheme| agent.sip.len() > scheme.len() && agent.sip.starts_with(scheme));
            if !address_ok {
                problems.push(AgentsFileError::BadAddress {
                    agent: agent.id.clone(),
                    address: agent.sip.clone(),
                });
            }
            for (skill, level) in &agent.skills {
                if !(1..=MAX_SKILL_LEVEL).contains(level) {
                    problems.push(AgentsFileError::BadSkillLevel {
                        agent: agent.id.clone(),
                        skill: skill.clone(),
                        level: *level,
                    });
                }
            }
            if agent.queues.is_empty() {
                problems.push(AgentsFileError::NoQueues(agent.id.clone()));
            }
            for queue in &agent.queues {
                if !known_queues.contains(queue) {
                    problems.push(AgentsFileError::UnknownQueue {
                        agent: agent.id.clone(),
                        queue: queue.clone(),
                    });
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Result<AgentsFile, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn agents_file_parses_and_logs_agents_in_with_their_skills() {
        let file = parse(json!({
            "kind": "agents",
            "agents": [
                { "id": "a1", "name": "Li Wei", "sip": "sip:1001@pbx",
                  "skills": { "mandarin": 5, "cards": 3 }, "queues": ["general"] },
                { "id": "a2", "name": "Sam", "sip": "tel:+8610555", "queues": ["general"] }
            ]
        }))
        .expect("valid document");
        let known = BTreeSet::from([QueueId::from("general")]);
        assert_eq!(file.check(&known), vec![]);
        assert_eq!(
            file.agents[0].login(),
            AcdInput::AgentLoggedIn {
                agent: AgentId::from("a1"),
                skills: vec![("cards".into(), 3), ("mandarin".into(), 5)],
                queues: vec![QueueId::from("general")],
            }
        );
        assert!(file.agents[1].skills.is_empty());
    }

    #[test]
    fn agents_file_refuses_unknown_fields() {
        let result = parse(json!({
            "kind": "agents",
            "agents": [{ "id": "a1", "name": "x", "sip": "sip:1@h", "queues": [], "pin": "1" }]
        }));
        assert!(result.is_err());
    }

    #[test]
    fn agents_file_reports_every_problem_at_once() {
        let file = parse(json!({
            "kind": "agent",
            "agents": [
                { "id": "a1", "name": "x", "sip": "1001", "skills": { "cards": 9 },
                  "queues": ["nowhere"] },
                { "id": "a1", "name": "y", "sip": "sip:2@h", "queues": [] }
            ]
        }))
        .expect("well-formed document");
        let problems = file.check(&BTreeSet::from([QueueId::from("general")]));
        assert_eq!(
            problems,
            vec![
                AgentsFileError::WrongKind("agent".into()),
                AgentsFileError::BadAddress {
                    agent: AgentId::from("a1"),
                    address: "1001".into()
                },
                AgentsFileError::BadSkillLevel {
                    agent: AgentId::from("a1"),
                    skill: "cards".into(),
                    level: 9
                },
                AgentsFileError::UnknownQueue {
                    agent: AgentId::from("a1"),
                    queue: QueueId::from("nowhere")
                },
                AgentsFileError::DuplicateId(AgentId::from("a1")),
                AgentsFileError::NoQueues(AgentId::from("a1")),
            ]
        );
    }
}
