//! Checks of recorded traffic against the vendor's specs in `specs/slack/` (this crate's copy).

use super::RecordedRequest;
use anyhow::Context;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Parameters that the 2021 OpenAPI types as `string` but that carry JSON.
const JSON_PARAMS: &[&str] = &["files", "blocks", "attachments", "metadata"];

/// Arguments Slack documents but the 2021 OpenAPI file predates, as (method, argument, type):
/// the only ones the check takes beyond the file. Message metadata (2022,
/// https://docs.slack.dev/messaging/message-metadata): `chat.postMessage`'s `metadata`
/// (https://docs.slack.dev/reference/methods/chat.postMessage, JSON text like `blocks`) and
/// `include_all_metadata` of `conversations.history`
/// (https://docs.slack.dev/reference/methods/conversations.history) and
/// `conversations.replies` (https://docs.slack.dev/reference/methods/conversations.replies).
/// Each entry is one argument of one method; a new one needs its docs URL here and in
/// `specs/README.md`.
const NEWER_THAN_SPEC: &[(&str, &str, &str)] = &[
    ("chat.postMessage", "metadata", "string"),
    ("conversations.history", "include_all_metadata", "boolean"),
    ("conversations.replies", "include_all_metadata", "boolean"),
];

/// Finds the Slack specs: `$AQUEDUCT_SLACK_SPECS` if set, else this crate's `specs/slack`.
pub fn slack_spec_dir() -> anyhow::Result<PathBuf> {
    crate::spec_dir::find_spec_dir("slack", "slack_web_openapi_v2.json", "AQUEDUCT_SLACK_SPECS")
}

fn load(name: &str) -> anyhow::Result<Value> {
    let path = slack_spec_dir()?.join(name);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The Slack Web API OpenAPI 2.0 document (`slack_web_openapi_v2.json`).
pub fn load_slack_spec() -> anyhow::Result<Value> {
    static SPEC: OnceLock<Value> = OnceLock::new();
    if let Some(v) = SPEC.get() {
        return Ok(v.clone());
    }
    let v = load("slack_web_openapi_v2.json")?;
    Ok(SPEC.get_or_init(|| v).clone())
}

/// The Events API wrapper JSON Schema (`slack_common_event_wrapper_schema.json`).
pub fn load_event_wrapper_schema() -> anyhow::Result<Value> {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    if let Some(v) = SCHEMA.get() {
        return Ok(v.clone());
    }
    let v = load("slack_common_event_wrapper_schema.json")?;
    Ok(SCHEMA.get_or_init(|| v).clone())
}

/// Result of checking requests against the OpenAPI document.
#[derive(Clone, Debug, Default)]
pub struct SpecReport {
    /// Violations: undeclared parameters, wrong types, missing required parameters.
    pub problems: Vec<String>,
    /// Methods called that the (2021) spec does not describe; not failures.
    pub not_in_spec: Vec<String>,
}

/// Checks each request whose method the spec describes: every parameter (except `token`) is
/// declared for `/{method}` (formData/query, any verb), values have the declared simple type
/// (form strings may carry numbers/booleans), and required parameters are present.
/// Returns only the problems; see [`check_requests_against_spec_report`] for the rest.
pub fn check_requests_against_spec(requests: &[RecordedRequest], spec: &Value) -> Vec<String> {
    check_requests_against_spec_report(requests, spec).problems
}

/// Like [`check_requests_against_spec`], also listing methods absent from the spec.
pub fn check_requests_against_spec_report(
    requests: &[RecordedRequest],
    spec: &Value,
) -> SpecReport {
    let mut report = SpecReport::default();
    for (i, r) in requests.iter().enumerate() {
        let path = format!("/{}", r.method);
        let Some(ops) = spec["paths"].get(&path).and_then(Value::as_object) else {
            let note = format!("{}: not in spec", r.method);
            if !report.not_in_spec.contains(&note) {
                report.not_in_spec.push(note);
            }
            continue;
        };
        let newer: Vec<Value> = NEWER_THAN_SPEC
            .iter()
            .filter(|(method, _, _)| *method == r.method)
            .map(|(_, name, ty)| serde_json::json!({"name": name, "in": "formData", "type": ty}))
            .collect();
        let mut declared: Vec<&Value> = newer.iter().collect();
        for op in ops.values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let loc = p["in"].as_str().unwrap_or("");
                if (loc == "formData" || loc == "query") && p["name"] != "token" {
                    declared.push(p);
                }
            }
        }
        let Some(params) = r.params.as_object() else {
            report
                .problems
                .push(format!("#{i} {}: params are not an object", r.method));
            continue;
        };
        for (name, value) in params {
            if name == "token" {
                continue;
            }
            let Some(decl) = declared.iter().find(|p| p["name"] == name.as_str()) else {
                report.problems.push(format!(
                    "#{i} {}: parameter `{name}` is not declared by the spec",
                    r.method
                ));
                continue;
            };
            let ty = decl["type"].as_str().unwrap_or("string");
            if !value_matches(name, ty, value) {
                report.problems.push(format!(
                    "#{i} {}: parameter `{name}` = {value} is not of type {ty}",
                    r.method
                ));
            }
        }
        for p in &declared {
            let name = p["name"].as_str().unwrap_or("");
            if p["required"] == true && !params.contains_key(name) {
                report.problems.push(format!(
                    "#{i} {}: required parameter `{name}` missing",
                    r.method
                ));
            }
        }
    }
    report
}

fn value_matches(name: &str, ty: &str, v: &Value) -> bool {
    match (ty, v) {
        ("string", Value::String(_)) => true,
        ("string", Value::Array(_) | Value::Object(_)) => JSON_PARAMS.contains(&name),
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("integer", Value::String(s)) => s.parse::<i64>().is_ok(),
        ("number", Value::Number(_)) => true,
        ("number", Value::String(s)) => s.parse::<f64>().is_ok(),
        ("boolean", Value::Bool(_)) => true,
        ("boolean", Value::String(s)) => matches!(s.as_str(), "true" | "false" | "1" | "0"),
        ("boolean", Value::Number(n)) => matches!(n.as_i64(), Some(0 | 1)),
        _ => false,
    }
}

/// Validates an `event_callback` wrapper against the vendor's wrapper schema.
pub fn validate_event_wrapper(event: &Value) -> Vec<String> {
    match load_event_wrapper_schema() {
        Ok(schema) => validate_json_schema(event, &schema),
        Err(e) => vec![format!("cannot load the event wrapper schema: {e:#}")],
    }
}

/// A small JSON Schema subset validator: `type`, `required`, `properties`, `items`, `enum`,
/// `const`, `additionalProperties: false`, `minItems`, `uniqueItems`.
pub fn validate_json_schema(value: &Value, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    validate_at(value, schema, "$", &mut problems);
    problems
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn validate_at(v: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
    match &schema["type"] {
        Value::String(t) if !type_ok(t, v) => {
            out.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
            out.push(format!("{at}: expected one of {ts:?}, got {v}"));
            return;
        }
        _ => {}
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        out.push(format!("{at}: {v} not in enum {e:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        out.push(format!("{at}: {v} is not {c}"));
    }
    if let Some(o) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if let Some(r) = r.as_str()
                && !o.contains_key(r)
            {
                out.push(format!("{at}: required property `{r}` missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, child) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate_at(child, s, &format!("{at}.{k}"), out),
                None if schema["additionalProperties"] == false => {
                    out.push(format!("{at}: property `{k}` not allowed"));
                }
                None => {}
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(min) = schema["minItems"].as_u64()
            && (a.len() as u64) < min
        {
            out.push(format!("{at}: fewer than {min} items"));
        }
        if schema["uniqueItems"] == true {
            for (i, x) in a.iter().enumerate() {
                if a[..i].contains(x) {
                    out.push(format!("{at}[{i}]: duplicate item {x}"));
                }
            }
        }
        if schema["items"].is_object() {
            for (i, x) in a.iter().enumerate() {
                validate_at(x, &schema["items"], &format!("{at}[{i}]"), out);
            }
        }
    }
}
