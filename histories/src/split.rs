//! A task's split: which of its family's task sets it belongs to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which of its family's task sets a task belongs to, one word in task files, the manifest
/// and evaluation reports. (A suite's task *selection*, `datagen::suite::SplitName`, also
/// has `all`; a task selected by a list, or a shifted task in a dataset, is `custom`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// One of the family's train tasks.
    Train,
    /// One of the family's held-out tasks.
    Heldout,
    /// A self-correction task beyond the training ranges (`icrl eval --tasks shifted`).
    Shifted,
    /// Any other task (given by its parameters).
    Custom,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Train, Split::Heldout, Split::Shifted, Split::Custom];

    /// The word files and reports write.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Heldout => "heldout",
            Split::Shifted => "shifted",
            Split::Custom => "custom",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A word that names no split.
#[derive(Debug, thiserror::Error)]
#[error("split `{0}`: expected train, heldout, shifted or custom")]
pub struct SplitError(pub String);

impl FromStr for Split {
    type Err = SplitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Split::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| SplitError(text.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_have_one_text_form() {
        for s in Split::ALL {
            assert_eq!(s.as_str().parse::<Split>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(format!("{:<8}|", Split::Train), "train   |");
        assert!("all".parse::<Split>().is_err() && "Train".parse::<Split>().is_err());
    }
}
