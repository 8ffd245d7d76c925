//! The checklist (`fixtures/checklist.json`, made from `docs/spec/CHECKLIST.md`), which
//! fixtures cite which items, the reasons for the testable items without a case
//! (`fixtures/conformance/uncovered.json`), and the coverage table of `docs/conformance.md`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde_json::{Value, json};

/// One checklist item.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) id: String,
    pub(crate) level: String,
    pub(crate) testable: String,
}

impl Item {
    /// Testable over HTTP: T (request/response), O (observable), P (partially).
    pub(crate) fn kind(&self) -> Option<char> {
        self.testable.chars().next().filter(|c| matches!(c, 'T' | 'O' | 'P'))
    }
}

pub(crate) fn root() -> PathBuf {
    let root = appservice_conformance::cases::fixtures_dir().join("..");
    root.canonicalize().unwrap_or(root)
}

/// Parses the checklist's tables (`| # | ID | Level | Actor | Requirement | Section | Status | Testable |`).
pub(crate) fn parse_markdown(text: &str) -> Vec<Item> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 8 || cells[0].parse::<u32>().is_err() {
            continue;
        }
        let id = cells[1];
        if !id.contains('-')
            || !id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        {
            continue;
        }
        // The AS/CS tables end with the Testable column; the MSC table has other columns.
        let testable = if id.starts_with("MSC-") {
            "N (MSC; see fixtures)".to_owned()
        } else {
            cells[cells.len() - 1].to_owned()
        };
        out.push(Item { id: id.to_owned(), level: cells[2].to_owned(), testable });
    }
    out
}

/// The checklist of the repository's `fixtures/checklist.json`.
pub(crate) fn load() -> anyhow::Result<Vec<Item>> {
    let path = root().join("fixtures/checklist.json");
    parse_checklist(&std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?)
}

/// The items of a `checklist.json`.
pub(crate) fn parse_checklist(text: &str) -> anyhow::Result<Vec<Item>> {
    let v: Value = serde_json::from_str(text)?;
    Ok(v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| Item {
            id: i["id"].as_str().unwrap_or_default().to_owned(),
            level: i["level"].as_str().unwrap_or_default().to_owned(),
            testable: i["testable"].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Writes `fixtures/checklist.json` from the checklist markdown.
pub(crate) fn update_checklist(markdown: &Path) -> anyhow::Result<usize> {
    let items = parse_markdown(
        &std::fs::read_to_string(markdown).with_context(|| format!("{}", markdown.display()))?,
    );
    anyhow::ensure!(
        items.len() > 100,
        "only {} items parsed from {}",
        items.len(),
        markdown.display()
    );
    let doc = json!({
        "source": "docs/spec/CHECKLIST.md (Matrix spec v1.19); regenerate with `cargo xtask conformance coverage --update`",
        "items": items.iter().map(|i| json!({"id": i.id, "level": i.level, "testable": i.testable})).collect::<Vec<_>>(),
    });
    std::fs::write(
        root().join("fixtures/checklist.json"),
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    Ok(items.len())
}

/// The areas of `fixtures/` whose files cite checklist items.
pub(crate) const AREAS: [&str; 5] =
    ["registration", "transactions", "dispatch", "client", "conformance"];

/// Every checklist ID cited by a fixture of the repository, with the fixtures citing it.
pub(crate) fn citations() -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut files = Vec::new();
    for area in AREAS {
        let dir = root().join("fixtures").join(area);
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            files.push((format!("{area}/{name}"), std::fs::read_to_string(&path)?));
        }
    }
    Ok(citations_in(files.iter().map(|(name, text)| (name.as_str(), text.as_str()))))
}

/// Every checklist ID cited by `files` (`(area/name, contents)`; files outside [`AREAS`] and
/// files that are not JSON are ignored), with the files citing it.
pub(crate) fn citations_in<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, text) in files {
        if !name.split_once('/').is_some_and(|(area, _)| AREAS.contains(&area)) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        for id in v["checklist"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            out.entry(id.to_owned()).or_default().push(name.to_owned());
        }
    }
    out
}

/// Reasons for testable items without a case.
pub(crate) fn uncovered_reasons() -> anyhow::Result<BTreeMap<String, String>> {
    let path = root().join("fixtures/conformance/uncovered.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?,
    )?;
    Ok(v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect())
}

/// Problems: a T/O item without a case and without a reason, a reason for a covered item, an
/// unknown ID cited by a fixture.
pub(crate) fn problems(
    items: &[Item],
    cited: &BTreeMap<String, Vec<String>>,
    reasons: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for item in items {
        let has_case = cited.contains_key(&item.id);
        match (item.kind(), has_case, reasons.contains_key(&item.id)) {
            (Some('T' | 'O'), false, false) => out.push(format!(
                "{} ({}) has no case and no reason in uncovered.json",
                item.id, item.testable
            )),
            (_, true, true) => {
                out.push(format!("{} has a case; remove its reason from uncovered.json", item.id))
            }
            _ => {}
        }
    }
    let known: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    for (id, files) in cited {
        let note = id.starts_with("IN-");
        if !note && !known.contains(&id.as_str()) {
            out.push(format!("{id} (cited by {}) is not a checklist item", files.join(", ")));
        }
    }
    out
}

/// The coverage table for `docs/conformance.md`.
pub(crate) fn table(
    items: &[Item],
    cited: &BTreeMap<String, Vec<String>>,
    reasons: &BTreeMap<String, String>,
) -> String {
    let mut s = String::from(
        "| item | level | testable | cases | reason if none |\n|---|---|---|---|---|\n",
    );
    for item in items {
        let cases = cited.get(&item.id).map_or(0, Vec::len);
        let reason = reasons.get(&item.id).map_or("", String::as_str);
        let cases = if cases == 0 { "—".to_owned() } else { cases.to_string() };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            item.id,
            item.level,
            item.testable,
            cases,
            reason.replace('|', "\\|")
        ));
    }
    s
}

const START: &str =
    "<!-- coverage:start (generated: cargo xtask conformance coverage --update) -->";
const END: &str = "<!-- coverage:end -->";

/// Rewrites (or, with `check`, compares) the table in `docs/conformance.md`.
pub(crate) fn sync_doc(table: &str, check: bool) -> anyhow::Result<()> {
    let path = root().join("docs/conformance.md");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        anyhow::bail!("docs/conformance.md lacks the coverage markers");
    };
    let new = format!("{}{START}\n{table}{}", &text[..a], &text[b..]);
    if new == text {
        return Ok(());
    }
    anyhow::ensure!(
        !check,
        "docs/conformance.md's coverage table is out of date: run `cargo xtask conformance coverage --update`"
    );
    std::fs::write(&path, new)?;
    Ok(())
}
