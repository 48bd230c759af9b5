//! JSON Schema (draft-07) for every flow file kind, generated from the same field tables the
//! compiler checks against, so editors running yaml-language-server flag unknown fields and
//! wrong shapes as ops type. `ivr schema > flows/schema.json` refreshes the shipped copy.
//! Pure data; no I/O.

use serde_json::{Map, Value, json};

use crate::flow::spec::{self, Field, Need, Shape};

const SCALAR: [&str; 4] = ["string", "number", "boolean", "null"];

fn shape(s: Shape) -> Value {
    match s {
        Shape::Text => json!({"type": "string"}),
        Shape::Count => json!({"type": "integer", "minimum": 0}),
        Shape::Number => json!({"type": "number"}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Duration => json!({"$ref": "#/definitions/duration"}),
        Shape::Prompts => json!({"$ref": "#/definitions/prompts"}),
        Shape::Key => json!({"$ref": "#/definitions/key"}),
        Shape::Expression => json!({"$ref": "#/definitions/expression"}),
        Shape::TextList => json!({"type": "array", "items": {"type": "string"}}),
        Shape::ExpressionMap => {
            json!({"type": "object", "additionalProperties": {"$ref": "#/definitions/expression"}})
        }
        Shape::TextMap | Shape::ValueMap => {
            json!({"type": "object", "additionalProperties": {"type": SCALAR}})
        }
        Shape::Outcomes => json!({"type": "object", "additionalProperties": {"type": "string"}}),
        Shape::Object(fields) => object(fields, &[]),
        Shape::ObjectList(fields) => json!({"type": "array", "items": object(fields, &[])}),
        Shape::Ranges => json!({"type": "array", "items": {"$ref": "#/definitions/range"}}),
        Shape::Dates => json!({"type": "array", "items": {"$ref": "#/definitions/date"}}),
        Shape::Weekly => {
            let days: Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .map(|d| {
                    (
                        (*d).to_owned(),
                        json!({"type": "array", "items": {"$ref": "#/definitions/range"}}),
                    )
                })
                .collect();
            json!({"type": "object", "properties": days, "additionalProperties": false})
        }
        Shape::Cases => json!({
            "type": "array",
            "items": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": {"$ref": "#/definitions/expression"}
            }
        }),
        Shape::Range => {
            json!({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2})
        }
        Shape::Nodes => {
            json!({"type": "object", "additionalProperties": {"$ref": "#/definitions/node"}})
        }
        Shape::Rows => {
            json!({"type": "array", "items": {"type": "object", "additionalProperties": {"type": SCALAR}}})
        }
        Shape::Steps => json!({"type": "array", "items": {"$ref": "#/definitions/step"}}),
        Shape::Any => json!({}),
    }
}

fn object(fields: &[Field], extra: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    for f in fields {
        let mut s = shape(f.shape);
        if let Value::Object(o) = &mut s
            && !f.doc.is_empty()
        {
            o.insert("description".into(), Value::String(f.doc.into()));
        }
        props.insert(f.name.into(), s);
    }
    for (k, v) in extra {
        props.insert((*k).into(), v.clone());
    }
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn node(n: &spec::NodeSpec) -> Value {
    let mut outcomes = Map::new();
    for (name, _) in n.outcomes {
        outcomes.insert((*name).into(), json!({"type": "string"}));
    }
    let required: Vec<&str> = n
        .outcomes
        .iter()
        .filter(|(_, need)| *need == Need::Required)
        .map(|(o, _)| *o)
        .collect();
    let on = match n.name {
        "menu" => json!({
            "type": "object",
            "properties": outcomes,
            "patternProperties": {"^[0-9*#A-Da-d]+$": {"type": "string"}},
            "required": required,
            "additionalProperties": false,
            "description": "option keys (quoted: \"1\", \"#\") and outcomes → node id"
        }),
        // Case names and subflow outcomes are the author's own words.
        "branch" | "subflow" => {
            json!({"type": "object", "required": required, "additionalProperties": {"type": "string"}})
        }
        _ => {
            json!({"type": "object", "properties": outcomes, "required": required, "additionalProperties": false})
        }
    };
    let mut extra = vec![("type", json!({"const": n.name, "description": n.doc}))];
    if !n.outcomes.is_empty() || matches!(n.name, "menu" | "branch" | "subflow") {
        extra.push(("on", on));
    }
    let mut o = object(n.fields, &extra);
    if let Some(Value::Array(req)) = o.get_mut("required") {
        req.insert(0, json!("type"));
        if !required.is_empty() {
            req.push(json!("on"));
        }
    }
    o
}

fn kind(name: &str, fields: &[Field]) -> Value {
    let mut o = object(fields, &[]);
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        props.insert("kind".into(), json!({"const": name}));
    }
    o
}

/// The schema for every file under `flows/`: `oneOf` by `kind`, nodes `oneOf` by `type`,
/// no unknown fields anywhere. Files of kinds the flow loader does not compile (such as
/// `agents`) are let through.
pub fn json_schema() -> Value {
    let mut kinds: Vec<Value> = spec::KINDS.iter().map(|(k, f)| kind(k, f)).collect();
    let known: Vec<&str> = spec::KINDS.iter().map(|(k, _)| *k).collect();
    kinds.push(json!({
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"type": "string", "not": {"enum": known}}},
        "description": "a kind compiled elsewhere (e.g. agents)"
    }));
    let nodes: Vec<Value> = spec::NODES.iter().map(node).collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://ivr.local/schema/flows.json",
        "title": "ivr flow files",
        "description": "flow, subflow, queue, calendar, table and test files; see flows/README.md",
        "oneOf": kinds,
        "definitions": {
            "duration": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$", "description": "\"500ms\", \"5s\", \"2m\", \"1h\""},
            "prompts": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}], "description": "a prompt id or a list"},
            "key": {"type": "string", "pattern": "^([0-9*#A-Da-d]|none)$", "description": "one DTMF key, quoted: \"#\""},
            "expression": {"type": ["string", "number", "boolean"], "description": "flow expression, e.g. vars.tier == 'chain'"},
            "range": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$"},
            "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            "node": {"oneOf": nodes},
            "step": {"oneOf": [
                {"const": "hangup"},
                {"type": "object", "properties": {"press": {"type": "string", "pattern": "^[0-9*#A-Da-d]+$"}}, "required": ["press"], "additionalProperties": false},
                {"type": "object", "properties": {"silence": {"$ref": "#/definitions/duration"}}, "required": ["silence"], "additionalProperties": false},
                {"type": "object", "properties": {"advance": {"$ref": "#/definitions/duration"}}, "required": ["advance"], "additionalProperties": false},
                {"type": "object", "properties": {"queue": {"enum": ["answered", "timeout", "no_agents", "full"]}}, "required": ["queue"], "additionalProperties": false},
                {"type": "object", "properties": {"transfer": {"enum": ["connected", "failed"]}}, "required": ["transfer"], "additionalProperties": false}
            ]}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_draft_07_json_naming_every_kind_and_node_type() {
        let schema = json_schema();
        let text = serde_json::to_string_pretty(&schema).expect("serialises");
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back["$schema"], "http://json-schema.org/draft-07/schema#");
        let node_types: Vec<&str> = back["definitions"]["node"]["oneOf"]
            .as_array()
            .expect("node oneOf")
            .iter()
            .filter_map(|n| n["properties"]["type"]["const"].as_str())
            .collect();
        for t in [
            "play", "menu", "collect", "set", "branch", "schedule", "language", "lookup",
            "enqueue", "transfer", "subflow", "return", "hangup",
        ] {
            assert!(node_types.contains(&t), "node type {t} missing");
        }
        let kinds: Vec<&str> = back["oneOf"]
            .as_array()
            .expect("kind oneOf")
            .iter()
            .filter_map(|k| k["properties"]["kind"]["const"].as_str())
            .collect();
        assert_eq!(
            kinds,
            ["flow", "subflow", "queue", "calendar", "table", "test"]
        );
    }

    #[test]
    fn schema_forbids_unknown_fields_on_nodes_and_files() {
        let schema = json_schema();
        for n in schema["definitions"]["node"]["oneOf"]
            .as_array()
            .expect("nodes")
        {
            assert_eq!(
                n["additionalProperties"], false,
                "{}",
                n["properties"]["type"]
            );
        }
        let flow = &schema["oneOf"][0];
        assert_eq!(flow["additionalProperties"], false);
        assert!(
            flow["required"]
                .as_array()
                .expect("required")
                .contains(&json!("entry"))
        );
        let menu = schema["definitions"]["node"]["oneOf"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["properties"]["type"]["const"] == "menu")
            .expect("menu");
        assert!(menu["properties"]["on"]["patternProperties"].is_object());
        assert!(menu["properties"]["inter_digit_timeout"].is_object());
    }
}
