//! Microsoft's CSDL for Graph v1.0 (`specs/graph/cleanMetadata-v1.0.xml`), read just enough
//! to check the fake's JSON: each entity and complex type's properties with their types, and
//! each type's base. Every object the fake answers with is checked against it, so the fake
//! cannot drift into property names or value kinds Graph does not have.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One structured type: its base and its properties (name -> CSDL type).
#[derive(Debug, Default)]
struct StructType {
    base: Option<String>,
    properties: HashMap<String, String>,
    /// `OpenType="true"`: properties beyond the declared ones are allowed (`resourceData`).
    open: bool,
}

/// The types of the CSDL, by unqualified name (`chatMessage`).
#[derive(Debug, Default)]
pub struct Csdl {
    types: HashMap<String, StructType>,
    enums: std::collections::HashSet<String>,
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// The key of a type reference: Graph's own types (`graph.x`, `microsoft.graph.x`) by their
/// bare name, other namespaces' (`microsoft.graph.search.x`) by the full name.
fn unqualified(t: &str) -> &str {
    let bare = t
        .strip_prefix("graph.")
        .or_else(|| t.strip_prefix("microsoft.graph."))
        .unwrap_or(t);
    if bare.contains('.') { t } else { bare }
}

impl Csdl {
    /// Reads the CSDL text.
    pub fn parse(xml: &str) -> Self {
        let mut csdl = Csdl::default();
        let mut current: Option<String> = None;
        let mut namespace = String::new();
        for raw in xml.split('<').skip(1) {
            let tag = raw.split('>').next().unwrap_or_default();
            let self_closing = tag.ends_with('/');
            if tag.starts_with("Schema ") {
                namespace = attr(tag, "Namespace").unwrap_or_default().to_owned();
            } else if tag.starts_with("EntityType ") || tag.starts_with("ComplexType ") {
                let Some(bare) = attr(tag, "Name") else {
                    continue;
                };
                let full = format!("{namespace}.{bare}");
                let name = unqualified(&full).to_owned();
                let name = name.as_str();
                let entry = csdl.types.entry(name.to_owned()).or_default();
                entry.base = attr(tag, "BaseType").map(|b| unqualified(b).to_owned());
                entry.open = attr(tag, "OpenType") == Some("true");
                current = (!self_closing).then(|| name.to_owned());
            } else if tag.starts_with("/EntityType") || tag.starts_with("/ComplexType") {
                current = None;
            } else if tag.starts_with("EnumType ") {
                if let Some(bare) = attr(tag, "Name") {
                    csdl.enums
                        .insert(unqualified(&format!("{namespace}.{bare}")).to_owned());
                }
            } else if (tag.starts_with("Property ") || tag.starts_with("NavigationProperty "))
                && let (Some(ty), Some(name), Some(t)) =
                    (&current, attr(tag, "Name"), attr(tag, "Type"))
            {
                csdl.types
                    .get_mut(ty)
                    .expect("current type exists")
                    .properties
                    .insert(name.to_owned(), t.to_owned());
            }
        }
        csdl
    }

    /// The CSDL kept in the repository, read once.
    pub fn graph() -> &'static Csdl {
        static CSDL: OnceLock<Csdl> = OnceLock::new();
        CSDL.get_or_init(|| {
            let path = crate::spec_dir::find_spec_dir(
                "graph",
                "cleanMetadata-v1.0.xml",
                "AQUEDUCT_GRAPH_SPEC_DIR",
            )
            .expect("the Graph CSDL is in the repository")
            .join("cleanMetadata-v1.0.xml");
            let xml = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            Csdl::parse(&xml)
        })
    }

    /// Whether `name` is a structured type of the CSDL.
    pub fn has_type(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }

    fn property(&self, ty: &str, name: &str) -> Option<&str> {
        let mut at = Some(ty);
        while let Some(t) = at {
            let s = self.types.get(t)?;
            if let Some(p) = s.properties.get(name) {
                return Some(p);
            }
            at = s.base.as_deref();
        }
        None
    }

    /// Every way `value` departs from type `ty` (unqualified), as readable lines.
    pub fn check(&self, value: &Value, ty: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.check_at(value, ty, ty, &mut out);
        out
    }

    fn check_at(&self, value: &Value, ty: &str, path: &str, out: &mut Vec<String>) {
        let Some(object) = value.as_object() else {
            out.push(format!("{path}: not an object"));
            return;
        };
        // A derived type named by the object itself is checked as that type.
        let ty = object
            .get("@odata.type")
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix("#microsoft.graph."))
            .unwrap_or(ty);
        if !self.types.contains_key(ty) {
            out.push(format!("{path}: no type {ty} in the CSDL"));
            return;
        }
        for (key, v) in object {
            // Instance annotations, of the object (`@odata.type`) or of a property
            // (`replies@odata.nextLink`).
            if key.contains('@') {
                continue;
            }
            let Some(prop) = self.property(ty, key) else {
                if self.types.get(ty).is_some_and(|t| t.open) {
                    continue;
                }
                out.push(format!("{path}.{key}: {ty} has no such property"));
                continue;
            };
            self.check_value(v, prop, &format!("{path}.{key}"), out);
        }
    }

    fn check_value(&self, v: &Value, prop: &str, path: &str, out: &mut Vec<String>) {
        if v.is_null() {
            return;
        }
        if let Some(inner) = prop
            .strip_prefix("Collection(")
            .and_then(|p| p.strip_suffix(')'))
        {
            match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(item, inner, &format!("{path}[{i}]"), out);
                    }
                }
                None => out.push(format!("{path}: {prop} needs an array")),
            }
            return;
        }
        let ok = match prop {
            "Edm.String" | "Edm.DateTimeOffset" | "Edm.Guid" | "Edm.Date" | "Edm.Duration"
            | "Edm.Binary" | "Edm.Stream" | "Edm.TimeOfDay" => v.is_string(),
            "Edm.Boolean" => v.is_boolean(),
            "Edm.Int32" | "Edm.Int64" | "Edm.Double" => v.is_number(),
            other => {
                let t = unqualified(other);
                if self.enums.contains(t) {
                    v.is_string()
                } else {
                    self.check_at(v, t, path, out);
                    true
                }
            }
        };
        if !ok {
            out.push(format!("{path}: {v} is not a {prop}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csdl_knows_chat_messages_and_catches_strays() {
        let csdl = Csdl::graph();
        for t in [
            "chatMessage",
            "chat",
            "channel",
            "subscription",
            "changeNotification",
            "aadUserConversationMember",
        ] {
            assert!(csdl.has_type(t), "{t}");
        }
        let good = serde_json::json!({
            "id": "1", "messageType": "message", "body": {"contentType": "html", "content": "<p>x</p>"},
            "from": {"user": {"id": "u", "displayName": "U"}}, "reactions": []
        });
        assert_eq!(csdl.check(&good, "chatMessage"), Vec::<String>::new());
        let bad = serde_json::json!({"id": 1, "text": "x", "body": {"html": "x"}});
        let found = csdl.check(&bad, "chatMessage");
        assert_eq!(found.len(), 3, "{found:?}");
    }
}
