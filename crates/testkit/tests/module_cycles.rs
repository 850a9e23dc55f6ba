//! No crate of the workspace has an import cycle between its top-level modules
//! (ARCHITECTURE.md: "no import cycles inside a crate"). A module depends on another when its
//! code names `crate::<other>` (comments and what follows a file's first `#[cfg(test)]` do not
//! count: test modules come last in this repository); a child module's uses count
//! as its top-level module's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`None`: the crate root, or tests).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_owned();
    let is_test = rel.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c == "tests" || c == "tests.rs" || c.ends_with("_tests.rs")
    });
    (!is_test && !matches!(first.as_str(), "lib" | "main")).then_some(first)
}

/// The modules `code` names as `crate::<module>`.
fn named_modules(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if modules.contains(&name) {
                out.insert(name);
            }
            // `use crate::{a::X, b::Y}`: every module in the braces.
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    let head = item.trim().split("::").next().unwrap_or_default();
                    if modules.contains(head) {
                        out.insert(head.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// The cycles of `graph`: each strongly connected component of more than one module.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (m, from_m) in &reached {
        let component: BTreeSet<String> = from_m
            .iter()
            .filter(|other| *other != *m && reached.get(other).is_some_and(|r| r.contains(*m)))
            .cloned()
            .chain([(*m).clone()])
            .collect();
        if component.len() > 1 && !out.contains(&component) {
            out.push(component);
        }
    }
    out
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).expect("crates/").flatten() {
        let src = entry.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        sources(&src, &mut files);
        let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let Some(module) = top_module(&src, file) else { continue };
            let code = std::fs::read_to_string(file).expect("readable source");
            let mut uses = named_modules(&code, &modules);
            uses.remove(&module);
            graph.entry(module).or_default().extend(uses);
        }
        checked += 1;
        for cycle in cycles(&graph) {
            found.push(format!("{}: {cycle:?}", entry.file_name().to_string_lossy()));
        }
    }
    assert!(checked >= 5, "found only {checked} crates under {}", crates.display());
    assert!(found.is_empty(), "import cycles between modules: {found:#?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let modules: BTreeSet<String> = ["a", "b", "c"].map(str::to_owned).into();
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), named_modules("use crate::b::X;\n// crate::c", &modules)),
        ("b".to_owned(), named_modules("use crate::{a::Y, c::Z};", &modules)),
        ("c".to_owned(), named_modules("fn f() {}\n#[cfg(test)]\nuse crate::a;", &modules)),
    ]
    .into();
    assert_eq!(graph["a"], ["b".to_owned()].into(), "comments do not count");
    assert!(graph["c"].is_empty(), "tests do not count");
    assert_eq!(cycles(&graph), vec![BTreeSet::from(["a".to_owned(), "b".to_owned()])]);
}
