//! Loading the static agents: every `kind: agents` file directly under the flows directory,
//! checked against the known queues.
//!
//! It runs at start and on reload, outside the actor (it reads files, which the actor must
//! never do). It must not stop at the first problem: every one is returned at once.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::ids::QueueId;
use crate::queue::agents::{AgentEntry, AgentsFile};

/// Reads every `kind: agents` file directly under `flows_dir` and checks it against the
/// known queues. Other kinds are skipped. Every problem is returned at once.
pub fn load_agents(
    flows_dir: &Path,
    known_queues: &BTreeSet<QueueId>,
) -> Result<Vec<AgentEntry>, Vec<String>> {
    #[derive(Deserialize)]
    struct Kind {
        kind: Option<String>,
    }
    let mut files: Vec<_> = match std::fs::read_dir(flows_dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    let mut agents = Vec::new();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let is_agents = crate::flow::yaml::parse::<Kind>(&file, &text)
            .ok()
            .and_then(|k| k.kind)
            .is_some_and(|k| k == "agents");
        if !is_agents {
            continue;
        }
        match crate::flow::yaml::parse::<AgentsFile>(&file, &text) {
            Ok(doc) => {
                let found = doc.check(known_queues);
                problems.extend(found.iter().map(|p| format!("{}: {p}", file.display())));
                for a in doc.agents {
                    if !seen.insert(a.id.clone()) {
                        problems.push(format!(
                            "{}: agent {} is defined in another agents file too",
                            file.display(),
                            a.id
                        ));
                    }
                    agents.push(a);
                }
            }
            Err(d) => problems.push(d.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(agents)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::ids::AgentId;

    #[test]
    fn agents_files_are_found_among_flow_files_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("queue-general.yaml"),
            "kind: queue\nid: general\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("agents.yaml"),
            "kind: agents\nagents:\n  - { id: a1, name: A, sip: \"sip:1@h\", queues: [general] }\n",
        )
        .unwrap();
        let known = BTreeSet::from([QueueId::from("general")]);
        let agents = load_agents(dir.path(), &known).unwrap();
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0].id, AgentId::from("a1"));
        let problems = load_agents(dir.path(), &BTreeSet::new()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("queue general is not defined"));
    }
}
