//! The fixtures the suite reads while it runs, embedded at compile time (see `build.rs`), so the
//! suite needs no checkout of this repository. `coverage` still reads and writes the files in
//! the repository.

/// `(path under fixtures/, contents)` of `checklist.json` and every `*.json` of the fixture
/// areas, sorted by path.
static FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// The embedded files as `(path under fixtures/, contents)`.
pub(crate) fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES.iter().copied()
}

/// The embedded file at `path` (under `fixtures/`).
pub(crate) fn file(path: &str) -> anyhow::Result<&'static str> {
    files()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| text)
        .ok_or_else(|| anyhow::anyhow!("fixtures/{path} is not embedded"))
}

/// The embedded files of one area (`conformance`, …) as `(file name, contents)`.
pub(crate) fn area(area: &str) -> impl Iterator<Item = (&'static str, &'static str)> {
    files().filter_map(move |(path, text)| {
        let (dir, name) = path.split_once('/')?;
        (dir == area).then_some((name, text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded copy is the repository's: same files, same bytes.
    #[test]
    fn the_embedded_fixtures_are_the_repository_files() {
        let root = appservice_conformance::cases::fixtures_dir();
        let mut count = 0;
        for (path, text) in files() {
            let on_disk = std::fs::read_to_string(root.join(path)).unwrap();
            assert_eq!(text, on_disk, "{path}");
            count += 1;
        }
        let conformance = std::fs::read_dir(root.join("conformance")).unwrap().count();
        assert_eq!(area("conformance").count(), conformance);
        assert!(count > 100, "{count} files");
        assert!(file("checklist.json").is_ok());
        assert!(file("nope.json").is_err());
    }
}
