//! Teams reactions and Matrix reaction keys. Graph names the six classic reactions by word
//! (`like`, `heart`, ...) and newer ones by their Unicode emoji; Matrix keys are the emoji.

const NAMED: &[(&str, &str)] = &[
    ("like", "👍"),
    ("heart", "❤️"),
    ("laugh", "😆"),
    ("surprised", "😮"),
    ("sad", "😢"),
    ("angry", "😡"),
];

/// The Matrix key of a Teams `reactionType`.
pub fn to_matrix(reaction_type: &str) -> String {
    NAMED
        .iter()
        .find(|(name, _)| *name == reaction_type)
        .map(|(_, emoji)| (*emoji).to_owned())
        .unwrap_or_else(|| reaction_type.to_owned())
}

/// The `reactionType` to send for a Matrix key (`setReaction` takes Unicode emoji).
pub fn to_teams(key: &str) -> String {
    key.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn named_reactions_are_emoji_in_matrix() {
        assert_eq!(super::to_matrix("like"), "👍");
        assert_eq!(super::to_matrix("🎉"), "🎉");
    }
}
