//! Embeds every `*.json` of `fixtures/` and its areas (the conformance cases, the checklist, and
//! the fixtures whose citations the coverage report counts) into the binary, so `appservice conformance` works
//! from any directory. Cargo reruns this when anything under `fixtures/` changes, so a new case
//! needs no Rust.

use std::{
    error::Error,
    fmt::Write as _,
    path::{Path, PathBuf},
};

/// Files as `(path under fixtures/, path on disk)`.
type Files = Vec<(String, PathBuf)>;

/// Every `*.json` in `dir` as `(prefix + file name, path)`, sorted, and the subdirectories.
fn json_files(dir: &Path, prefix: &str) -> Result<(Files, Vec<PathBuf>), Box<dyn Error>> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            dirs.push(path);
        } else if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().and_then(|n| n.to_str()).ok_or("a non-UTF-8 name")?;
            files.push((format!("{prefix}{name}"), path.clone()));
        }
    }
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

fn main() -> Result<(), Box<dyn Error>> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = Path::new(&manifest).join("../../fixtures").canonicalize()?;
    println!("cargo::rerun-if-changed={}", root.display());
    // `checklist.json`, then the areas (`conformance/`, `dispatch/`, …), one level deep.
    let (mut files, areas) = json_files(&root, "")?;
    for area in areas {
        let name = area.file_name().and_then(|n| n.to_str()).ok_or("a non-UTF-8 name")?;
        files.extend(json_files(&area, &format!("{name}/"))?.0);
    }
    let mut out = String::from("&[\n");
    for (name, path) in files {
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string())?;
    }
    out.push_str("]\n");
    std::fs::write(Path::new(&std::env::var("OUT_DIR")?).join("fixtures.rs"), out)?;
    Ok(())
}
