//! The loader never panics, whatever the files hold: random bytes, and good files with random
//! edits (deleted, duplicated or swapped characters), compile to diagnostics or a flow set.

use std::path::PathBuf;

use ivr::flow::compile::{CatalogueInput, catalogue_from_text, compile};
use proptest::prelude::*;

const GOOD: &str = include_str!("fixtures/good/flows/line.yaml");
const SUB: &str = include_str!("fixtures/good/flows/subflow-language.yaml");
const QUEUE: &str = include_str!("fixtures/good/flows/queue-general.yaml");
const CAL: &str = include_str!("fixtures/good/flows/calendar-office.yaml");
const TABLE: &str = include_str!("fixtures/good/flows/table-merchants.yaml");
const CATALOGUE: &str = include_str!("fixtures/good/audio-prompts/prompts.yaml");

fn catalogue() -> CatalogueInput {
    catalogue_from_text(std::path::Path::new("prompts.yaml"), CATALOGUE).0
}

fn run(flow: String) -> ivr::flow::compile::Compiled {
    let sources = vec![
        (PathBuf::from("line.yaml"), flow),
        (PathBuf::from("sub.yaml"), SUB.to_owned()),
        (PathBuf::from("queue.yaml"), QUEUE.to_owned()),
        (PathBuf::from("cal.yaml"), CAL.to_owned()),
        (PathBuf::from("table.yaml"), TABLE.to_owned()),
    ];
    compile(&sources, &catalogue(), None)
}

fn edit(text: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, op, c) in edits {
        if chars.is_empty() {
            break;
        }
        let i = at % chars.len();
        match op % 4 {
            0 => {
                chars.remove(i);
            }
            1 => chars.insert(i, c),
            2 => {
                let j = (i + 1) % chars.len();
                chars.swap(i, j);
            }
            _ => chars[i] = c,
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn edited_good_flow_never_panics_and_errors_mean_no_set(
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), prop::sample::select(vec![' ', ':', '#', '"', '-', '\n', '{', '}', '[', 'x', '1'])), 1..6)
    ) {
        let c = run(edit(GOOD, &edits));
        let has_error = c.diagnostics.iter().any(|d| d.is_error());
        prop_assert_eq!(c.set.is_none(), has_error);
        for d in &c.diagnostics {
            prop_assert!(!d.message.is_empty());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = run(text);
    }
}

#[test]
fn unedited_fixture_compiles() {
    let c = run(GOOD.to_owned());
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    assert!(c.set.is_some());
}
