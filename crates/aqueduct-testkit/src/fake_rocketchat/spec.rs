//! Checks of recorded traffic against Rocket.Chat's OpenAPI descriptions in
//! `specs/rocketchat/` (this crate's copy): each request's query parameters, auth headers and
//! JSON body against the operation's declared parameters and request schema, and each answer
//! the fake gave against the declared response schema for its status.

use super::{RcRequest, RcResponse};
use anyhow::Context;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

const FILES: &[&str] = &[
    "authentication.yaml",
    "messaging.yaml",
    "rooms.yaml",
    "user-management.yaml",
];

/// Body properties the operation's description allows (in backticks) but its request schema
/// leaves out: (endpoint, property path, name as written in the description). Each is only
/// accepted while the description still names it.
const DESCRIBED_ONLY: &[(&str, &str, &str)] = &[
    // "`chat.sendMessage` allows for passing a value for `_id`"
    ("chat.sendMessage", "message._id", "`_id`"),
];

/// Finds the Rocket.Chat specs: `$AQUEDUCT_ROCKETCHAT_SPECS` if set, else this crate's
/// `specs/rocketchat`.
pub fn rocketchat_spec_dir() -> anyhow::Result<PathBuf> {
    crate::spec_dir::find_spec_dir("rocketchat", "messaging.yaml", "AQUEDUCT_ROCKETCHAT_SPECS")
}

/// The four OpenAPI 3 documents, parsed once.
pub fn load_rocketchat_specs() -> anyhow::Result<Vec<Value>> {
    static SPECS: OnceLock<Vec<Value>> = OnceLock::new();
    if let Some(v) = SPECS.get() {
        return Ok(v.clone());
    }
    let dir = rocketchat_spec_dir()?;
    let mut docs = Vec::new();
    for f in FILES {
        let path = dir.join(f);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let doc: Value =
            serde_norway::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        docs.push(doc);
    }
    Ok(SPECS.get_or_init(|| docs).clone())
}

/// The operation for `endpoint` and verb, with the document it is in (for `$ref`s).
/// Paths with parameters (`/api/v1/rooms.media/{rid}`) match any one segment for each.
fn operation<'a>(specs: &'a [Value], endpoint: &str, verb: &str) -> Option<(&'a Value, &'a Value)> {
    let path = format!("/api/v1/{endpoint}");
    let verb = verb.to_lowercase();
    let exact = specs.iter().find_map(|doc| {
        doc["paths"]
            .get(&path)
            .and_then(|p| p.get(&verb))
            .map(|op| (doc, op))
    });
    exact.or_else(|| {
        specs.iter().find_map(|doc| {
            doc["paths"]
                .as_object()?
                .iter()
                .find(|(template, _)| template.contains('{') && path_matches(template, &path))
                .and_then(|(_, p)| p.get(&verb))
                .map(|op| (doc, op))
        })
    })
}

/// Whether `path` fits `template`, where `{name}` stands for one non-empty segment.
fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// Follows a local `$ref` (`#/components/...`), repeatedly.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..10 {
        let Some(r) = v["$ref"].as_str() else { break };
        let Some(pointer) = r.strip_prefix('#') else {
            break;
        };
        match doc.pointer(pointer) {
            Some(target) => v = target,
            None => break,
        }
    }
    v
}

/// Checks each request: the endpoint and verb are described; every query parameter is
/// declared (with its simple type); required parameters and auth headers are present; the
/// JSON body's properties are declared by the request schema, with their types, and its
/// required properties present.
pub fn check_rocketchat_requests(requests: &[RcRequest], specs: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let at = format!("#{i} {} {}", r.http_method, r.endpoint);
        let Some((doc, op)) = operation(specs, &r.endpoint, &r.http_method) else {
            problems.push(format!("{at}: not described by the spec"));
            continue;
        };
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(doc, p))
            .collect();
        for (name, value) in r.query.as_object().into_iter().flatten() {
            match params
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == name.as_str())
            {
                None => problems.push(format!("{at}: query parameter `{name}` is not declared")),
                Some(p) => {
                    let ty = p["schema"]["type"].as_str().unwrap_or("string");
                    if !string_matches(ty, value.as_str().unwrap_or_default()) {
                        problems.push(format!("{at}: `{name}` = {value} is not a {ty}"));
                    }
                }
            }
        }
        for p in &params {
            let name = p["name"].as_str().unwrap_or_default();
            if p["required"] != true {
                continue;
            }
            let present = match p["in"].as_str() {
                Some("query") => r.query.get(name).is_some(),
                Some("header") => r.auth_headers,
                _ => true,
            };
            if !present {
                problems.push(format!("{at}: required {} `{name}` missing", p["in"]));
            }
        }
        let form_schema = resolve(
            doc,
            &op["requestBody"]["content"]["multipart/form-data"]["schema"],
        );
        if !r.form.is_empty() {
            if !form_schema.is_object() {
                problems.push(format!("{at}: a form was sent but none is described"));
            }
            let declared = form_schema["properties"].as_object();
            for name in &r.form {
                if declared.is_some_and(|d| !d.contains_key(name)) {
                    problems.push(format!("{at}: form part `{name}` is not declared"));
                }
            }
            for name in form_schema["required"].as_array().into_iter().flatten() {
                if name
                    .as_str()
                    .is_some_and(|n| !r.form.iter().any(|f| f == n))
                {
                    problems.push(format!("{at}: required form part {name} missing"));
                }
            }
        } else if form_schema.is_object() {
            problems.push(format!("{at}: the described form was not sent"));
        }
        let schema = resolve(
            doc,
            &op["requestBody"]["content"]["application/json"]["schema"],
        );
        match (&r.body, schema.is_object()) {
            (Value::Null, _) => {}
            (_, false) => problems.push(format!("{at}: a body was sent but none is described")),
            (body, true) => {
                let allowed: Vec<&str> = DESCRIBED_ONLY
                    .iter()
                    .filter(|(e, _, name)| {
                        *e == r.endpoint
                            && op["description"].as_str().is_some_and(|d| d.contains(name))
                    })
                    .map(|(_, path, _)| *path)
                    .collect();
                let mut found = Vec::new();
                check_body(doc, body, schema, "", &mut found);
                problems.extend(
                    found
                        .into_iter()
                        .filter(|(path, _)| !allowed.contains(&path.trim_start_matches('.')))
                        .map(|(path, p)| format!("{at}{path}: {p}")),
                );
            }
        }
    }
    problems
}

fn string_matches(ty: &str, s: &str) -> bool {
    match ty {
        "integer" => s.parse::<i64>().is_ok(),
        "number" => s.parse::<f64>().is_ok(),
        "boolean" => s == "true" || s == "false",
        _ => true,
    }
}

/// A request body: every property declared (where the schema lists properties), of its type.
/// Problems come with the property path (`.message._id`).
fn check_body(doc: &Value, v: &Value, schema: &Value, at: &str, out: &mut Vec<(String, String)>) {
    let schema = resolve(doc, schema);
    if let Some(ty) = schema["type"].as_str()
        && !type_ok(ty, v)
    {
        out.push((at.to_owned(), format!("expected {ty}, got {v}")));
        return;
    }
    // `anyOf`/`oneOf`: the body must fit one alternative; otherwise the closest one's
    // problems are reported.
    if let Some(alternatives) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        let mut closest: Option<Vec<(String, String)>> = None;
        for alt in alternatives {
            let mut found = Vec::new();
            check_body(doc, v, alt, at, &mut found);
            if closest.as_ref().is_none_or(|c| found.len() < c.len()) {
                closest = Some(found);
            }
        }
        out.extend(closest.unwrap_or_default());
        return;
    }
    let Some(obj) = v.as_object() else { return };
    for r in schema["required"].as_array().into_iter().flatten() {
        if let Some(r) = r.as_str()
            && !obj.contains_key(r)
        {
            out.push((format!("{at}.{r}"), "required property missing".into()));
        }
    }
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (k, child) in obj {
        let path = format!("{at}.{k}");
        match props.get(k) {
            Some(s) => check_body(doc, child, s, &path, out),
            None => out.push((path, "property is not declared".into())),
        }
    }
}

/// Checks each answer the fake gave against the response schema declared for its status
/// (types, required properties, items; `$ref`s followed). Statuses the spec does not
/// describe for the operation are problems too, except 429, which Rocket.Chat's rate limiter
/// gives on any endpoint and the spec never lists, and 401 where an operation does not list
/// it, which is checked against the spec's shared `authorizationError` answer.
pub fn check_rocketchat_responses(responses: &[RcResponse], specs: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, r) in responses.iter().enumerate() {
        let at = format!("#{i} {} {} -> {}", r.http_method, r.endpoint, r.status);
        if r.status == 429 {
            continue;
        }
        let Some((doc, op)) = operation(specs, &r.endpoint, &r.http_method) else {
            problems.push(format!("{at}: not described by the spec"));
            continue;
        };
        // An operation that lists no 401 (`login` only lists 200) is checked against the
        // shared `authorizationError` answer the other operations refer to.
        let shared_401 = "#/components/responses/authorizationError";
        let fallback = serde_json::json!({ "$ref": shared_401 });
        let (doc, described) = match op["responses"].get(r.status.to_string()) {
            Some(d) => (doc, d),
            None if r.status == 401 => {
                match specs.iter().find(|d| d.pointer(&shared_401[1..]).is_some()) {
                    Some(d) => (d, &fallback),
                    None => {
                        problems.push(format!("{at}: no shared 401 answer in the spec"));
                        continue;
                    }
                }
            }
            None => {
                problems.push(format!("{at}: status not described"));
                continue;
            }
        };
        let described = resolve(doc, described);
        let schema = &described["content"]["application/json"]["schema"];
        validate(doc, &r.body, schema, "$", &mut problems);
        for p in problems.iter_mut().filter(|p| p.starts_with('$')) {
            *p = format!("{at}: {p}");
        }
    }
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
        _ => true,
    }
}

fn validate(doc: &Value, v: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(ty) = schema["type"].as_str()
        && !type_ok(ty, v)
    {
        out.push(format!("{at}: expected {ty}, got {v}"));
        return;
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
            if let Some(s) = props.and_then(|p| p.get(k)) {
                validate(doc, child, s, &format!("{at}.{k}"), out);
            } else if schema["additionalProperties"] == false {
                out.push(format!("{at}: property `{k}` not allowed"));
            }
        }
    }
    if let Some(a) = v.as_array()
        && schema["items"].is_object()
    {
        for (i, x) in a.iter().enumerate() {
            validate(doc, x, &schema["items"], &format!("{at}[{i}]"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(endpoint: &str, verb: &str, query: Value, body: Value) -> RcRequest {
        RcRequest {
            endpoint: endpoint.into(),
            http_method: verb.into(),
            query,
            body,
            auth_headers: true,
            form: Vec::new(),
        }
    }

    #[test]
    fn requests_off_the_spec_are_caught() {
        let specs = load_rocketchat_specs().unwrap();
        let good = [
            request(
                "channels.history",
                "GET",
                json!({"roomId": "R", "count": "100", "inclusive": "true"}),
                Value::Null,
            ),
            request(
                "chat.sendMessage",
                "POST",
                json!({}),
                json!({"message": {"_id": "x", "rid": "R", "msg": "hi", "tmid": "T"}}),
            ),
            request(
                "chat.react",
                "POST",
                json!({}),
                json!({"messageId": "M", "emoji": ":tada:", "shouldReact": true}),
            ),
            RcRequest {
                form: vec!["file".into()],
                ..request("rooms.media/GENERAL", "POST", json!({}), Value::Null)
            },
            request(
                "rooms.mediaConfirm/GENERAL/F1",
                "POST",
                json!({}),
                json!({"msg": "caption", "alias": "carol"}),
            ),
        ];
        assert_eq!(
            check_rocketchat_requests(&good, &specs),
            Vec::<String>::new()
        );
        let bad = [
            request(
                "channels.history",
                "GET",
                json!({"roomId": "R", "count": "many", "since": "x"}),
                Value::Null,
            ),
            request(
                "chat.update",
                "POST",
                json!({}),
                json!({"roomId": "R", "msgId": "M"}),
            ),
            request(
                "chat.react",
                "POST",
                json!({}),
                json!({"messageId": "M", "emoji": ":tada:", "shouldReact": "yes"}),
            ),
            request("chat.postEphemeral", "POST", json!({}), json!({})),
            request(
                "subscriptions.read",
                "POST",
                json!({}),
                json!({"room": "R"}),
            ),
            RcRequest {
                form: vec!["upload".into()],
                ..request("rooms.media/GENERAL", "POST", json!({}), Value::Null)
            },
            RcRequest {
                auth_headers: false,
                ..request("users.info", "GET", json!({"userId": "U"}), Value::Null)
            },
        ];
        let problems = check_rocketchat_requests(&bad, &specs);
        for expected in [
            "`count`",
            "`since`",
            ".text",
            ".shouldReact",
            "chat.postEphemeral",
            "X-User-Id",
            "`upload`",
            "\"file\"",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected} not caught: {problems:#?}"
            );
        }
    }

    #[test]
    fn answers_off_the_spec_are_caught() {
        let specs = load_rocketchat_specs().unwrap();
        let answer = |endpoint: &str, status, body| RcResponse {
            endpoint: endpoint.into(),
            http_method: "GET".into(),
            status,
            body,
        };
        let good = [answer(
            "users.info",
            200,
            json!({"user": {"_id": "U", "username": "bob", "active": true}, "success": true}),
        )];
        assert_eq!(
            check_rocketchat_responses(&good, &specs),
            Vec::<String>::new()
        );
        let bad = [
            answer(
                "users.info",
                200,
                json!({"user": {"_id": 5, "active": "yes"}, "success": true}),
            ),
            answer("subscriptions.get", 302, json!({})),
        ];
        let problems = check_rocketchat_responses(&bad, &specs);
        assert_eq!(problems.len(), 3, "{problems:#?}");
    }
}
