//! The lab's modules import one another in one direction only, so that each
//! can be read (and changed) knowing only the ones below it (issue 15: the
//! cluster's control, faults, supervisor and truth once imported each other
//! in a circle). This test reads their sources and fails on a circle,
//! naming it.
//!
//! A module uses another when its code (comments and its `tests` module left
//! out) names it through `super::` or `crate::lab::`, or, for a `mod.rs`,
//! names one of its own children; an item of a parent named from a child
//! counts as a use of the parent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// A module by its path under `lab` (empty: `lab` itself).
type Module = Vec<String>;

/// Most modules looked at (a bound on the walk).
const MODULES_MAX: usize = 200;

fn modules(dir: &Path, prefix: &[String], found: &mut BTreeMap<Module, PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut module = prefix.to_vec();
        if path.is_dir() {
            module.push(name);
            modules(&path, &module, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            if name != "mod" {
                module.push(name);
            }
            found.insert(module, path);
        }
        assert!(found.len() <= MODULES_MAX);
    }
}

/// The code of a source file: no comments, no `tests` module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest module that `path` (from the crate's `lab`) starts with.
fn owner(path: &[String], all: &BTreeMap<Module, PathBuf>) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| all.contains_key(m))
        .unwrap_or_default()
}

/// The modules `me` uses.
fn uses(me: &Module, text: &str, all: &BTreeMap<Module, PathBuf>) -> BTreeSet<Module> {
    let path =
        Regex::new(r"\b((?:super::)+|crate::lab::)((?:\w+::)*\w+)?(?:::)?(\{[^}]*\})?").unwrap();
    let child = Regex::new(r"(?:^|[^:\w])(\w+)::").unwrap();
    let code = code(text);
    let mut found = BTreeSet::new();
    for c in path.captures_iter(&code) {
        let supers = c[1].matches("super::").count();
        let base = if c[1].starts_with("crate") {
            Vec::new()
        } else {
            me[..me.len() - supers].to_vec()
        };
        let head: Vec<String> = c.get(2).map_or(Vec::new(), |m| {
            m.as_str().split("::").map(String::from).collect()
        });
        let tails: Vec<Vec<String>> = match c.get(3) {
            None => vec![Vec::new()],
            Some(group) => group.as_str()[1..group.len() - 1]
                .split(',')
                .map(|item| item.trim().split("::").map(String::from).collect())
                .collect(),
        };
        for tail in tails {
            let full: Vec<String> = base.iter().chain(&head).chain(&tail).cloned().collect();
            found.insert(owner(&full, all));
        }
    }
    if all.get(me).is_some_and(|p| p.ends_with("mod.rs")) {
        for c in child.captures_iter(&code) {
            let mut module = me.clone();
            module.push(c[1].to_string());
            if all.contains_key(&module) {
                found.insert(module);
            }
        }
    }
    found.remove(me);
    found
}

/// A circle of the graph, if there is one (depth first, in name order).
fn circle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(start) = path.iter().position(|m| m == node) {
            return Some(path[start..].to_vec());
        }
        if !done.insert(node.clone()) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "lab".into()
    } else {
        format!("lab::{}", module.join("::"))
    }
}

#[test]
fn no_module_of_the_lab_is_in_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lab");
    let mut all = BTreeMap::new();
    let module = |path: &str| -> Module { path.split("::").map(String::from).collect() };
    modules(&root, &[], &mut all);
    // This file spells module paths in its patterns; it is no part of the graph.
    all.remove(&module("layering"));
    assert!(all.contains_key(&module("cluster::supervisor::apply")));
    let graph: BTreeMap<Module, BTreeSet<Module>> = all
        .iter()
        .map(|(m, p)| {
            (
                m.clone(),
                uses(m, &std::fs::read_to_string(p).unwrap(), &all),
            )
        })
        .collect();
    // The walk sees the imports at all: the supervisor's hosts use the
    // isolation backend, and the backend does not use them back.
    let rig = module("cluster::supervisor::rig");
    assert!(graph[&rig].contains(&module("cluster::isolation")));
    if let Some(found) = circle(&graph) {
        let names: Vec<String> = found.iter().map(name).collect();
        panic!(
            "modules in a circle: {} -> {}",
            names.join(" -> "),
            names[0]
        );
    }
}
