//! Loops that can spin: a cycle made only of nodes that neither wait for the caller nor end
//! the call, unless a `branch` in it reads a variable a `set` in it assigns (a counter).
//!
//! It runs on the inlined graph and only reports; it must not change nodes.

use std::collections::{BTreeSet, HashMap};

use crate::flow::diagnostic::Diagnostic;
use crate::flow::raw::{Body, RawNode};

/// A cycle made only of nodes that neither wait for the caller nor end the call can spin
/// forever. A cycle is allowed when a `branch` in it reads a variable a `set` in it assigns
/// (a counter that lets it out).
pub(super) fn check_loops(exp: &[RawNode], d: &mut Vec<Diagnostic>) {
    let index: HashMap<&str, usize> = exp
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let spins: Vec<bool> = exp.iter().map(|n| !n.body.waits()).collect();
    let succ: Vec<Vec<usize>> = exp
        .iter()
        .map(|n| {
            n.edges
                .iter()
                .filter_map(|e| index.get(e.target.as_str()).copied())
                .filter(|&j| spins[j])
                .collect()
        })
        .collect();
    let reach = |from: usize| -> Vec<bool> {
        let mut seen = vec![false; exp.len()];
        let mut todo: Vec<usize> = succ[from].clone();
        while let Some(i) = todo.pop() {
            if !seen[i] {
                seen[i] = true;
                todo.extend(&succ[i]);
            }
        }
        seen
    };
    let reaches: Vec<Vec<bool>> = (0..exp.len())
        .map(|i| {
            if spins[i] {
                reach(i)
            } else {
                vec![false; exp.len()]
            }
        })
        .collect();
    let mut done = vec![false; exp.len()];
    for i in 0..exp.len() {
        if done[i] || !spins[i] || !reaches[i][i] {
            continue;
        }
        let members: Vec<usize> = (0..exp.len())
            .filter(|&j| reaches[i][j] && reaches[j][i])
            .collect();
        for &j in &members {
            done[j] = true;
        }
        let assigned: BTreeSet<String> = members
            .iter()
            .flat_map(|&j| match &exp[j].body {
                Body::Set { assignments } => assignments
                    .iter()
                    .map(|(v, _)| format!("vars.{v}"))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let counted = members.iter().any(|&j| match &exp[j].body {
            Body::Branch { cases } => cases
                .iter()
                .any(|(_, e)| e.paths().iter().any(|p| assigned.contains(*p))),
            _ => false,
        });
        if !counted {
            let n = &exp[i];
            let names: Vec<&str> = members.iter().map(|&j| exp[j].id.as_str()).collect();
            d.push(
                Diagnostic::error("loop-without-input", &n.file, n.line, n.column, format!("nodes {} form a loop that never waits for the caller and has no counter", names.join(" → ")))
                    .node(n.id.clone())
                    .help("put a menu or collect in the loop, or count passes with a set and a branch on that variable"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{HEAD, run};

    #[test]
    fn loop_with_a_counter_is_allowed() {
        let flow = format!(
            "{HEAD}  a: {{type: set, vars: {{n: \"vars.seen\", seen: \"true\"}}, on: {{done: b}}}}\n  \
             b: {{type: branch, cases: [{{out: \"vars.n\"}}], on: {{out: end, default: a}}}}\n  \
             end: {{type: hangup, prompt: bye}}\n"
        );
        let c = run(&[("f.yaml", &flow)], None);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert!(c.set.is_some());
    }

    #[test]
    fn loop_through_a_menu_is_allowed() {
        let flow = format!(
            "{HEAD}  a: {{type: play, prompt: hi, on: {{done: m}}}}\n  \
             m: {{type: menu, prompt: hi, on: {{\"1\": a, invalid_exhausted: a, timeout_exhausted: end}}}}\n  \
             end: {{type: hangup}}\n"
        );
        assert!(run(&[("f.yaml", &flow)], None).diagnostics.is_empty());
    }
}
