//! Checks that depend on the flow a node ends up in: `language` nodes name a declared
//! language, and every prompt is in the catalogue with text (and, through the hook, audio) in
//! each of the flow's languages.
//!
//! It must not read audio files itself: existence is asked through the [`AudioCheck`] hook.

use std::path::Path;

use super::{AudioCheck, CatalogueInput};
use crate::flow::diagnostic::Diagnostic;
use crate::flow::raw::{Body, RawGraph, RawNode};
use crate::flow::read::Sp;
use crate::ids::{Language, PromptId};

/// Checks that depend on the flow a node ends up in: languages and prompts.
pub(super) fn check_flow(
    g: &RawGraph,
    exp: &[RawNode],
    catalogue: &CatalogueInput,
    audio: Option<AudioCheck<'_>>,
    d: &mut Vec<Diagnostic>,
) {
    let langs: Vec<&str> = g.languages.iter().map(|l| l.v.as_str()).collect();
    let mut prompt_refs: Vec<(&Path, Option<&str>, &str, &Sp<PromptId>)> = Vec::new();
    for p in g.defaults.reading.invalid_prompt.iter().flatten() {
        prompt_refs.push((&g.file, None, "defaults.invalid_prompt", p));
    }
    for p in g.defaults.reading.no_input_prompt.iter().flatten() {
        prompt_refs.push((&g.file, None, "defaults.no_input_prompt", p));
    }
    for n in exp {
        if let Body::Language { language } = &n.body
            && !langs.contains(&language.v.as_str())
        {
            d.push(
                Diagnostic::error(
                    "unknown-language",
                    &n.file,
                    language.line,
                    language.column,
                    format!(
                        "flow \"{}\" does not declare language \"{}\" (it has {})",
                        g.id.v,
                        language.v,
                        langs.join(", ")
                    ),
                )
                .node(n.id.clone())
                .field("language")
                .suggest(&language.v, langs.iter().copied()),
            );
        }
        for p in n.body.prompts() {
            prompt_refs.push((&n.file, Some(n.id.as_str()), "prompt", p));
        }
    }
    let CatalogueInput::Loaded(cat) = catalogue else {
        return;
    };
    for (file, node, field, p) in prompt_refs {
        let with_node = |diag: Diagnostic| match node {
            Some(n) => diag.node(n),
            None => diag,
        };
        match cat.get(&p.v) {
            None => d.push(with_node(
                Diagnostic::error(
                    "missing-prompt",
                    file,
                    p.line,
                    p.column,
                    format!("prompt \"{}\" is not in the catalogue", p.v),
                )
                .field(field)
                .suggest(p.v.as_str(), cat.keys().map(PromptId::as_str)),
            )),
            Some(entry) => {
                for l in &langs {
                    let lang = Language::new(*l);
                    if !entry.text.contains_key(&lang) {
                        d.push(with_node(
                            Diagnostic::error(
                                "missing-prompt",
                                file,
                                p.line,
                                p.column,
                                format!("prompt \"{}\" has no {l} text in the catalogue", p.v),
                            )
                            .field(field),
                        ));
                    } else if let Some(exists) = audio
                        && !exists(&p.v, &lang)
                    {
                        d.push(with_node(
                            Diagnostic::error(
                                "missing-audio",
                                file,
                                p.line,
                                p.column,
                                format!("prompt \"{}\" has no {l} audio file", p.v),
                            )
                            .field(field),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{HEAD, codes, run};
    use crate::ids::{Language, PromptId};

    #[test]
    fn missing_audio_is_reported_through_the_hook() {
        let flow = format!("{HEAD}  a: {{type: hangup, prompt: bye}}\n");
        let no_audio = |p: &PromptId, _: &Language| p.as_str() != "bye";
        let c = run(&[("f.yaml", &flow)], Some(&no_audio));
        assert_eq!(codes(&c), ["missing-audio"]);
        assert!(c.set.is_none());
    }
}
