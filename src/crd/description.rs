//! Turns doc-comment descriptions into the flowing paragraphs `kubectl explain` expects.
//!
//! Doc comments are wrapped at the source line width; kept as they are, `kubectl explain` would
//! wrap them a second time and show ragged lines. Single line breaks become spaces; blank lines
//! stay as paragraph breaks.

use schemars::Schema;
use schemars::transform::{RecursiveTransform, Transform};

const DESCRIPTION: &str = "description";

/// A schemars transform for the top-level spec and status types: rewraps every description in
/// the schema and all its subschemas.
pub fn rewrap_descriptions(schema: &mut Schema) {
    RecursiveTransform(rewrap_own_description).transform(schema);
}

fn rewrap_own_description(schema: &mut Schema) {
    if let Some(serde_json::Value::String(description)) = schema.get_mut(DESCRIPTION) {
        *description = rewrap(description);
    }
}

/// Joins the lines of each paragraph with single spaces; paragraphs stay apart.
fn rewrap(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|paragraph| !paragraph.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_flow_into_one_paragraph() {
        assert_eq!(
            rewrap("Time between polls, as a duration such as 60s;\nat least 10s."),
            "Time between polls, as a duration such as 60s; at least 10s."
        );
    }

    #[test]
    fn blank_lines_keep_paragraphs_apart() {
        assert_eq!(rewrap("First\nline.\n\nSecond."), "First line.\n\nSecond.");
    }

    #[test]
    fn nested_descriptions_are_rewrapped() {
        let mut schema = schemars::json_schema!({
            "description": "outer\ntext",
            "type": "object",
            "properties": {
                "inner": { "description": "inner\ntext", "type": "string" },
                "list": { "type": "array", "items": { "description": "item\ntext" } }
            }
        });
        rewrap_descriptions(&mut schema);
        let value = schema.as_value();
        assert_eq!(value["description"], "outer text");
        assert_eq!(value["properties"]["inner"]["description"], "inner text");
        assert_eq!(
            value["properties"]["list"]["items"]["description"],
            "item text"
        );
    }
}
