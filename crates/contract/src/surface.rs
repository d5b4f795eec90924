//! The wire protocols StackPerf speaks: what a client sends, what the edge classifies, what the
//! simulator serves and what a request row records. One enum for all of them.

use serde::{Deserialize, Serialize};

/// The wire protocol a client speaks or an upstream serves.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::VariantArray,
)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum Surface {
    OpenaiChat,
    OpenaiResponses,
    AnthropicMessages,
    GoogleGenerateContent,
}

impl Surface {
    /// The name records, configs and the API use (the serde name).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The surface by its name (`as_str`).
    pub fn parse(name: &str) -> Option<Surface> {
        name.parse().ok()
    }
}

impl std::fmt::Display for Surface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn the_name_is_the_serde_name_and_parses_back() {
        for &s in Surface::VARIANTS {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(Surface::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::from_str::<Surface>(&json).unwrap(), s);
        }
        assert_eq!(Surface::parse("openai"), None);
    }
}
