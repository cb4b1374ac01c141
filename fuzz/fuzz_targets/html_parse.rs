//! The tolerant HTML reader: never panics, never nests deeper than its cap, keeps the text.
#![no_main]

use aqueduct_format::html::{self, MAX_DEPTH, Node};
use libfuzzer_sys::fuzz_target;

fn depth(nodes: &[Node]) -> usize {
    // Iterative, so the check cannot overflow where the parser must not.
    let mut deepest = 0;
    let mut stack: Vec<(&Node, usize)> = nodes.iter().map(|n| (n, 1)).collect();
    while let Some((node, d)) = stack.pop() {
        if let Node::Element { children, .. } = node {
            deepest = deepest.max(d);
            stack.extend(children.iter().map(|c| (c, d + 1)));
        }
    }
    deepest
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let nodes = html::parse(text);
    assert!(depth(&nodes) <= MAX_DEPTH);
    for node in &nodes {
        node.text();
    }
    html::decode_entities(text);
});
