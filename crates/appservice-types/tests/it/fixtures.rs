//! Shared helpers: listing fixture files, canonical JSON, bless mode.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `fixtures/<area>` at the workspace root.
pub(crate) fn dir(area: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(area)
}

/// The files of `fixtures/<area>` whose names end with `suffix`, sorted.
pub(crate) fn list(area: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir(area))
        .unwrap_or_else(|e| panic!("cannot read fixtures/{area}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
        .collect();
    out.sort();
    assert!(
        !out.is_empty(),
        "no fixtures/{area}/*{suffix}: the data-driven test would test nothing"
    );
    out
}

/// Pretty JSON, sorted keys, two-space indent, trailing newline: the one format of fixtures.
pub(crate) fn canonical(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap();
    s.push('\n');
    s
}

pub(crate) fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    assert_eq!(
        text,
        canonical(&value),
        "{} is not in canonical form (sorted keys, 2-space indent, final newline)",
        path.display()
    );
    value
}

pub(crate) fn bless() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some()
}

/// Every fixture must say which checklist items it covers and where it comes from.
pub(crate) fn check_metadata(path: &Path, value: &Value) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let id = value["id"].as_str().unwrap_or_else(|| panic!("{name}: missing `id`"));
    assert!(name.starts_with(id), "{name}: `id` {id:?} must be the file name's stem");
    assert!(
        id.starts_with("ok-") || id.starts_with("err-") || id.starts_with("warn-"),
        "{name}: ids start with ok-, warn- or err-"
    );
    let checklist =
        value["checklist"].as_array().unwrap_or_else(|| panic!("{name}: missing `checklist`"));
    for item in checklist {
        let item = item.as_str().unwrap_or_else(|| panic!("{name}: checklist items are strings"));
        assert!(
            item.contains('-')
                && item.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "{name}: {item:?} does not look like a checklist ID (e.g. AS-REG-2)"
        );
    }
    assert!(
        value["spec"].as_str().is_some_and(|s| s.starts_with("https://spec.matrix.org/")),
        "{name}: `spec` link"
    );
    assert!(value["description"].as_str().is_some_and(|s| !s.is_empty()), "{name}: `description`");
}
