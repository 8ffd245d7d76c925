//! `cargo xtask deps`: dependency guards for the library crates.
//!
//! Each entry of [`GUARDS`] names a workspace crate and crates that must never appear in its
//! normal (non-dev, non-build) dependency graph, with all features on and for every target.
//! This turns the Architecture Invariants of `docs/ARCHITECTURE.md` (for example "appservice-types
//! has no async runtime, tower, hyper or http-body dependency") into a check.
//!
//! The graph comes from `cargo tree --prefix depth`, parsed into a [`DepGraph`] and walked from the
//! guarded crate, so that a violation reports the path that pulls the forbidden crate in.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    path::Path,
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, project_root};

/// A guarded workspace crate and the crates its normal dependency graph must not contain.
#[derive(Debug)]
pub(crate) struct Guard {
    /// The workspace package to check.
    pub(crate) package: &'static str,
    /// Crate names (as on crates.io) that must not be reachable from `package`.
    pub(crate) forbidden: &'static [&'static str],
}

/// The dependency guards. Extend this table when a new invariant is added.
pub(crate) const GUARDS: &[Guard] = &[
    // Architecture Invariant: the types crate is usable alone, without async runtime or HTTP
    // server machinery.
    Guard {
        package: "appservice-types",
        forbidden: &[
            "tokio",
            "tower",
            "tower-service",
            "tower-layer",
            "hyper",
            "hyper-util",
            "http-body",
            "http-body-util",
            "mio",
            "socket2",
            "async-std",
            "smol",
        ],
    },
    // Architecture Invariant: the dispatcher is sans-IO; the tower adapter lives elsewhere.
    Guard {
        package: "appservice-dispatch",
        forbidden: &[
            "tokio",
            "hyper",
            "hyper-util",
            "tower",
            "tower-service",
            "tower-layer",
            "mio",
            "socket2",
            "async-io",
            "async-std",
            "smol",
        ],
    },
    // Architecture Invariant: xtask builds quickly: it uses appservice-cli without its
    // conformance feature, and runs anything with an HTTP stack as a child process.
    Guard { package: "xtask", forbidden: &["tokio", "hyper", "appservice-conformance-runner"] },
];

/// A dependency graph. Nodes are `name version` strings as printed by `cargo tree`.
#[derive(Debug, Default)]
pub(crate) struct DepGraph {
    /// The crate the graph was computed for.
    pub(crate) root: String,
    /// Direct dependencies of each node.
    pub(crate) edges: BTreeMap<String, BTreeSet<String>>,
}

impl DepGraph {
    /// Adds an edge `from -> to`, creating both nodes if needed.
    pub(crate) fn add_edge(&mut self, from: &str, to: &str) {
        self.edges.entry(from.to_owned()).or_default().insert(to.to_owned());
        self.edges.entry(to.to_owned()).or_default();
    }

    /// Parses the output of `cargo tree --prefix depth --format {p}`.
    ///
    /// Each line is a depth immediately followed by `name vVERSION` and optional suffixes such as
    /// `(proc-macro)`, `(/path)` or `(*)` (already shown); the parent of a line is the nearest
    /// previous line with depth one less.
    pub(crate) fn from_cargo_tree(output: &str) -> Result<DepGraph> {
        let mut graph = DepGraph::default();
        let mut stack: Vec<String> = Vec::new();
        for line in output.lines().filter(|line| !line.trim().is_empty()) {
            let digits = line.find(|c: char| !c.is_ascii_digit()).unwrap_or(line.len());
            let depth: usize = line[..digits]
                .parse()
                .with_context(|| format!("unexpected `cargo tree` line (no depth): {line:?}"))?;
            let mut words = line[digits..].split_whitespace();
            let (Some(name), Some(version)) = (words.next(), words.next()) else {
                bail!("unexpected `cargo tree` line (no name and version): {line:?}");
            };
            let node = format!("{name} {version}");
            if depth == 0 {
                if !graph.root.is_empty() {
                    bail!("`cargo tree` printed more than one root: {line:?}");
                }
                graph.root.clone_from(&node);
                graph.edges.entry(node.clone()).or_default();
            } else {
                if depth > stack.len() {
                    bail!("`cargo tree` line skips a depth level: {line:?}");
                }
                stack.truncate(depth);
                if let Some(parent) = stack.last() {
                    graph.add_edge(parent, &node);
                }
            }
            stack.truncate(depth);
            stack.push(node);
        }
        if graph.root.is_empty() {
            bail!("`cargo tree` printed no crates");
        }
        Ok(graph)
    }
}

/// The crate name of a `name version` node.
fn crate_name(node: &str) -> &str {
    node.split(' ').next().unwrap_or(node)
}

/// A forbidden crate reachable from a guarded crate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The guarded crate.
    pub(crate) package: String,
    /// A shortest dependency path from the guarded crate to the forbidden one (both included).
    pub(crate) path: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let forbidden = self.path.last().map_or("?", |node| crate_name(node));
        write!(f, "{} must not depend on {forbidden}: {}", self.package, self.path.join(" -> "))
    }
}

/// Walks `graph` breadth-first from its root and reports every reachable node whose crate name
/// is in `forbidden`, with a shortest path to it.
pub(crate) fn find_forbidden(graph: &DepGraph, forbidden: &[&str]) -> Vec<Violation> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::from([graph.root.as_str()]);
    let mut queue: VecDeque<&str> = VecDeque::from([graph.root.as_str()]);
    let mut violations = Vec::new();
    while let Some(node) = queue.pop_front() {
        if node != graph.root && forbidden.contains(&crate_name(node)) {
            let mut path = vec![node.to_owned()];
            let mut current = node;
            while let Some(&previous) = parent.get(current) {
                path.push(previous.to_owned());
                current = previous;
            }
            path.reverse();
            violations.push(Violation { package: crate_name(&graph.root).to_owned(), path });
        }
        for next in graph.edges.get(node).into_iter().flatten() {
            if seen.insert(next) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    violations
}

/// Computes the normal dependency graph of a workspace `package` with `cargo tree`.
pub(crate) fn dependency_graph(root: &Path, package: &str) -> Result<DepGraph> {
    let output = Command::new(cargo())
        .args(["tree", "--package", package, "--edges", "normal", "--all-features"])
        .args(["--target", "all", "--prefix", "depth", "--format", "{p}", "--color", "never"])
        .current_dir(root)
        .output()
        .context("failed to run `cargo tree`")?;
    if !output.status.success() {
        bail!(
            "`cargo tree -p {package}` exited with {}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8(output.stdout).context("`cargo tree` printed non-UTF-8")?;
    DepGraph::from_cargo_tree(&stdout)
        .with_context(|| format!("failed to parse `cargo tree -p {package}` output"))
}

/// Runs every guard of [`GUARDS`] against the workspace at `root`.
pub(crate) fn check(root: &Path) -> Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for guard in GUARDS {
        let graph = dependency_graph(root, guard.package)?;
        violations.extend(find_forbidden(&graph, guard.forbidden));
    }
    Ok(violations)
}

/// Entry point of `cargo xtask deps` and `cargo xtask ci deps`.
pub(crate) fn run() -> Result<()> {
    let violations = check(&project_root()?)?;
    if violations.is_empty() {
        for guard in GUARDS {
            println!(
                "deps: {} ok ({} forbidden crates absent)",
                guard.package,
                guard.forbidden.len()
            );
        }
        return Ok(());
    }
    let lines: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
    bail!("dependency guard failed:\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(root: &str, edges: &[(&str, &str)]) -> DepGraph {
        let mut graph = DepGraph { root: root.to_owned(), ..DepGraph::default() };
        graph.edges.entry(root.to_owned()).or_default();
        for (from, to) in edges {
            graph.add_edge(from, to);
        }
        graph
    }

    #[test]
    fn forbidden_transitive_dependency_is_detected() {
        let graph = graph(
            "lib v0.1.0",
            &[
                ("lib v0.1.0", "serde v1.0.0"),
                ("lib v0.1.0", "client v0.2.0"),
                ("client v0.2.0", "hyper-util v0.1.0"),
                ("hyper-util v0.1.0", "tokio v1.40.0"),
                ("serde v1.0.0", "serde_derive v1.0.0"),
            ],
        );
        let violations = find_forbidden(&graph, &["tokio", "hyper"]);
        assert_eq!(
            violations,
            [Violation {
                package: "lib".to_owned(),
                path: vec![
                    "lib v0.1.0".to_owned(),
                    "client v0.2.0".to_owned(),
                    "hyper-util v0.1.0".to_owned(),
                    "tokio v1.40.0".to_owned(),
                ],
            }]
        );
        assert_eq!(
            violations[0].to_string(),
            "lib must not depend on tokio: lib v0.1.0 -> client v0.2.0 -> hyper-util v0.1.0 -> tokio v1.40.0"
        );
    }

    #[test]
    fn unreachable_or_similarly_named_crates_are_not_violations() {
        // `tokio-util` is not `tokio`, and `orphan -> tokio` is not reachable from the root.
        let graph = graph(
            "lib v0.1.0",
            &[("lib v0.1.0", "tokio-util v0.7.0"), ("orphan v1.0.0", "tokio v1.0.0")],
        );
        assert_eq!(find_forbidden(&graph, &["tokio"]), []);
    }

    #[test]
    fn cargo_tree_output_is_parsed_into_edges() {
        let output = "\
0lib v0.1.0 (/work/lib)
1regex v1.0.0
2memchr v2.0.0
1serde v1.0.0
2serde_derive v1.0.0 (proc-macro)
3proc-macro2 v1.0.0
1net v0.3.0
2regex v1.0.0 (*)
2mio v1.0.0
";
        let graph = DepGraph::from_cargo_tree(output).unwrap();
        assert_eq!(graph.root, "lib v0.1.0");
        let deps =
            |node: &str| -> Vec<&str> { graph.edges[node].iter().map(String::as_str).collect() };
        assert_eq!(deps("lib v0.1.0"), ["net v0.3.0", "regex v1.0.0", "serde v1.0.0"]);
        assert_eq!(deps("net v0.3.0"), ["mio v1.0.0", "regex v1.0.0"]);
        assert_eq!(deps("regex v1.0.0"), ["memchr v2.0.0"]);
        assert_eq!(deps("serde_derive v1.0.0"), ["proc-macro2 v1.0.0"]);
        let violations = find_forbidden(&graph, &["mio"]);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].path, ["lib v0.1.0", "net v0.3.0", "mio v1.0.0"]);
    }

    #[test]
    fn malformed_cargo_tree_output_is_an_error() {
        assert!(DepGraph::from_cargo_tree("").is_err());
        assert!(DepGraph::from_cargo_tree("lib v0.1.0\n").is_err());
        assert!(DepGraph::from_cargo_tree("0lib v0.1.0\n2deep v1.0.0\n").is_err());
    }

    /// Runs the real guards against this workspace (shells out to `cargo tree`).
    #[test]
    fn workspace_satisfies_dependency_guards() {
        let root = project_root().unwrap();
        let violations = check(&root).unwrap();
        let report: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(violations.is_empty(), "dependency guard violations:\n{}", report.join("\n"));
        // Make sure the walk saw a real graph, not just the root.
        let graph = dependency_graph(&root, "appservice-types").unwrap();
        assert!(graph.edges.keys().any(|node| crate_name(node) == "serde"), "{graph:?}");
    }
}
