//! The prompt catalogue, `audio-prompts/prompts.yaml`: prompt id → language → words.
//!
//! The flow checks use it to refuse a prompt that is missing in any language a flow declares;
//! the media side turns each entry into audio. This module reads the one file it is given and
//! nothing else (no WAV files: the loader's audio hook does that).
//!
//! ```yaml
//! welcome_95017:
//!   zh-CN: 您好，欢迎致电95017。
//!   en-US: Hello, welcome to 95017.
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::flow::diagnostic::Diagnostic;
use crate::flow::model::PromptEntry;
use crate::flow::yaml::{self, Yaml, YamlValue};
use crate::ids::{Language, PromptId};

/// Reads and checks the catalogue file. Every problem in it is returned at once.
pub fn load_catalogue(path: &Path) -> Result<BTreeMap<PromptId, PromptEntry>, Vec<Diagnostic>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Err(vec![Diagnostic::error(
                "catalogue-unreadable",
                path,
                0,
                0,
                format!("cannot read the prompt catalogue: {e}"),
            )]);
        }
    };
    let (entries, diags) = parse_catalogue(path, &text);
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok(entries)
    }
}

/// Checks catalogue text already read; returns what could be read plus every problem.
pub fn parse_catalogue(
    path: &Path,
    text: &str,
) -> (BTreeMap<PromptId, PromptEntry>, Vec<Diagnostic>) {
    let (tree, mut diags) = yaml::parse_tree(path, text);
    let mut out = BTreeMap::new();
    let Some(tree) = tree else {
        return (out, diags);
    };
    if tree.value == YamlValue::Null {
        return (out, diags);
    }
    let Some(entries) = tree.as_map() else {
        diags.push(shape_error(
            path,
            &tree,
            "the catalogue must map prompt ids to languages",
        ));
        return (out, diags);
    };
    for (key, value) in entries {
        let Some(id) = key.scalar_text() else {
            diags.push(shape_error(path, key, "a prompt id must be text"));
            continue;
        };
        if id == "kind" && value.scalar_text().is_some() {
            continue;
        }
        if !is_prompt_id(&id) {
            diags.push(
                Diagnostic::error(
                    "bad-prompt-id",
                    path,
                    key.line,
                    key.column,
                    format!("prompt id \"{id}\" may only hold letters, digits, '_', '-' and '.'"),
                )
                .field(id.clone()),
            );
        }
        let Some(langs) = value.as_map() else {
            diags.push(
                shape_error(
                    path,
                    value,
                    &format!(
                        "expected language → text under \"{id}\", found {}",
                        value.shape()
                    ),
                )
                .field(id.clone()),
            );
            continue;
        };
        let mut text = BTreeMap::new();
        for (lang, words) in langs {
            let Some(lang) = lang.scalar_text() else {
                diags
                    .push(shape_error(path, lang, "a language tag must be text").field(id.clone()));
                continue;
            };
            match &words.value {
                YamlValue::Str(s) if !s.trim().is_empty() => {
                    text.insert(Language::new(lang), s.clone());
                }
                _ => diags.push(
                    Diagnostic::error(
                        "bad-prompt-text",
                        path,
                        words.line,
                        words.column,
                        format!(
                            "prompt \"{id}\" in {lang} needs its words as text, found {}",
                            words.shape()
                        ),
                    )
                    .field(format!("{id}.{lang}")),
                ),
            }
        }
        out.insert(PromptId::new(id), PromptEntry { text });
    }
    (out, diags)
}

fn shape_error(path: &Path, at: &Yaml, message: &str) -> Diagnostic {
    Diagnostic::error("bad-catalogue", path, at.line, at.column, message)
}

/// Prompt ids become file names (`audio-prompts/<locale>/<id>.wav`), so they stay plain.
pub fn is_prompt_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_maps_ids_to_text_per_language() {
        let text = "welcome:\n  zh-CN: 您好\n  en-US: Hello\nbye: {en-US: Goodbye}\n";
        let (entries, diags) = parse_catalogue(Path::new("prompts.yaml"), text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(entries.len(), 2);
        let welcome = &entries[&PromptId::new("welcome")];
        assert_eq!(welcome.text[&Language::new("zh-CN")], "您好");
        assert_eq!(welcome.text[&Language::new("en-US")], "Hello");
    }

    #[test]
    fn every_bad_entry_is_reported_at_once() {
        let text = "a: Hello\nb:\n  en-US: ''\n\"c d\": {en-US: x}\nb: {en-US: again}\n";
        let (_, diags) = parse_catalogue(Path::new("p.yaml"), text);
        let codes: Vec<_> = diags.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(
            codes,
            vec![
                ("duplicate-key", 5),
                ("bad-catalogue", 1),
                ("bad-prompt-text", 3),
                ("bad-prompt-id", 4)
            ]
        );
    }

    #[test]
    fn missing_file_is_one_error_naming_the_path() {
        let err = load_catalogue(Path::new("/nonexistent/prompts.yaml")).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].code, "catalogue-unreadable");
    }

    #[test]
    fn file_on_disk_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prompts.yaml");
        std::fs::write(&path, "hold_music: {zh-CN: 音乐, en-US: music}\n").expect("write");
        let entries = load_catalogue(&path).expect("loads");
        assert!(entries.contains_key(&PromptId::new("hold_music")));
    }
}
