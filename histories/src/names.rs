//! File-name-safe names: task slugs (task file names) and user text (suite, preset and run
//! names) as one safe path component.

use serde_json::Value;

/// Longest slug [`safe_name`] makes of user text (run names join a few of them).
pub const MAX_NAME_LEN: usize = 64;

/// Longest task slug: a task file name `{env}__{slug}.h5` stays under the usual 255 bytes.
const MAX_TASK_SLUG_LEN: usize = 200;

/// Task parameters as a short file-name-safe slug: `{"goal":[2,7]}` -> `goal-2-7`.
pub fn task_slug(task: &serde_json::Map<String, Value>) -> String {
    let text = serde_json::to_string(task).unwrap_or_default();
    slug(&text, |c| c.is_ascii_alphanumeric() || c == '.' || c == '-', MAX_TASK_SLUG_LEN)
}

/// User text (a suite name, a preset) as one safe path component: ASCII letters, digits,
/// `-`, `_` and `.` are kept, every run of other characters becomes one `-`, no leading `.`
/// or `-` (so never `..` or a hidden name), at most [`MAX_NAME_LEN`] bytes; `default` if
/// nothing is left. `../escaped` -> `escaped`, `/abs` -> `abs`.
pub fn safe_name(text: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    slug(text, keep, MAX_NAME_LEN)
}

/// Whether `text` is already a [`safe_name`] (a flag that names a folder is checked, not
/// silently changed).
pub fn is_safe_name(text: &str) -> bool {
    !text.is_empty() && safe_name(text) == text
}

/// The characters of `text` that `keep` accepts, other runs as one `-`, trimmed of `-` and of
/// leading `.`, at most `max` bytes (ASCII only, so bytes are characters).
fn slug(text: &str, keep: impl Fn(char) -> bool, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if keep(c) {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_start_matches(['.', '-']);
    let out = out[..out.len().min(max)].trim_end_matches('-');
    if out.is_empty() { "default".into() } else { out.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_safe() {
        let task: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"goal":[2,7]}"#).unwrap();
        assert_eq!(task_slug(&task), "goal-2-7");
        let task: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"gravity":9.5,"length":1.0}"#).unwrap();
        assert_eq!(task_slug(&task), "gravity-9.5-length-1.0");
    }

    /// A suite named `../escaped` or `/abs` put training runs outside `--runs-dir`.
    #[test]
    fn safe_names_stay_one_path_component() {
        let cases = [
            ("dark-room", "dark-room"),
            ("my_suite.v2", "my_suite.v2"),
            ("../escaped", "escaped"),
            ("/abs", "abs"),
            ("a/../../b", "a-..-..-b"),
            ("..", "default"),
            (".hidden", "hidden"),
            ("", "default"),
            ("été 2025", "t-2025"),
        ];
        for (text, want) in cases {
            assert_eq!(safe_name(text), want, "{text:?}");
            let path = std::path::Path::new(want);
            assert_eq!(path.components().count(), 1, "{want}");
            assert!(path.is_relative() && !want.starts_with('.'), "{want}");
        }
        assert_eq!(safe_name(&"x".repeat(1000)).len(), MAX_NAME_LEN);
        assert!(is_safe_name("run-1") && !is_safe_name("../run") && !is_safe_name(""));
    }
}
