//! Invariants the fuzz targets check on every output, beyond "does not panic".

use aqueduct_format::html::{self, MAX_DEPTH, Node};
use aqueduct_format::links::is_allowed_link;

/// Elements the converters to Matrix may write.
const ALLOWED_TAGS: &[&str] = &[
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "a",
    "br",
    "blockquote",
    "ol",
    "ul",
    "li",
];

/// Panics unless `out` (HTML a converter wrote for Matrix) holds only the elements the
/// converters write, no attribute but `href` on `a`, and only allowed link schemes: text from a
/// platform can neither inject markup nor a `javascript:` link.
pub fn assert_safe_matrix_html(out: &str, input: &[u8]) {
    fn walk(nodes: &[Node], out: &str, input: &[u8]) {
        for node in nodes {
            if let Node::Element {
                name,
                attrs,
                children,
            } = node
            {
                assert!(
                    ALLOWED_TAGS.contains(&name.as_str()),
                    "<{name}> in {out:?} from {input:?}"
                );
                for (key, value) in attrs {
                    assert!(
                        name == "a" && key == "href" && is_allowed_link(value),
                        "{key}={value:?} on <{name}> in {out:?} from {input:?}"
                    );
                }
                walk(children, out, input);
            }
        }
    }
    walk(&html::parse(out), out, input);
}

/// Panics when a converter's output is out of proportion to its input: each byte may grow by
/// at most a prefix or marker per nesting level.
pub fn assert_bounded(out: &str, input_len: usize) {
    let limit = 8 * MAX_DEPTH * input_len + 1024;
    assert!(
        out.len() <= limit,
        "{} bytes out of {input_len} in",
        out.len()
    );
}

/// A lookup that knows some names, so mention paths run; its answers carry markup, which must
/// come out escaped.
pub fn matrix_user(id: &str) -> Option<(String, String)> {
    (id.len() % 2 == 0).then(|| ("@u\"<b>:example.org".to_owned(), "N<i>\"'&".to_owned()))
}
