//! The built-in plugins and the embedder example reach the core through `edgeproxy::kit`
//! only (the embedder also through `edgeproxy::cli`, its entry point): a plugin that
//! imports anything else fails this test, and so `make test`.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(line, path)` of every use of the `edgeproxy` crate in `text` that does not go through
/// one of the `allowed` modules (`edgeproxy::kit…`), including `use edgeproxy;` and renames.
fn reaches_past(text: &str, allowed: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("edgeproxy") {
            let before = rest[..i].chars().next_back();
            let after = &rest[i + "edgeproxy".len()..];
            rest = after;
            // Part of a longer name (`edgeproxy_plugins`, `my_edgeproxy`): not the crate.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"')
                || after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '"')
            {
                continue;
            }
            let path = after.trim_start();
            let Some(path) = path.strip_prefix("::") else {
                // The crate itself (`use edgeproxy;`, `use edgeproxy as core;`); a bare word
                // in text (a string, a message) is not a path.
                let head = code[..code.len() - rest.len() - "edgeproxy".len()].trim_end();
                if head.ends_with("use") || head.ends_with("crate") {
                    found.push((n + 1, format!("edgeproxy{}", after.trim_end())));
                }
                continue;
            };
            let module: String = path
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !allowed.contains(&module.as_str()) {
                found.push((n + 1, format!("edgeproxy::{module}")));
            }
        }
    }
    found
}

fn check(root: &Path, allowed: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    sources(root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut bad = Vec::new();
    for f in files {
        if f.ends_with("tests/kit_only.rs") {
            continue; // this file's examples of what the check refuses
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        for (line, path) in reaches_past(&text, allowed) {
            bad.push(format!("{}:{line}: {path}", f.display()));
        }
    }
    bad
}

#[test]
fn plugins_and_the_embedder_import_only_the_kit() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut bad = check(plugins, &["kit"]);
    bad.extend(check(
        &plugins.join("../examples/embedder/src"),
        &["kit", "cli"],
    ));
    assert!(
        bad.is_empty(),
        "plugins must import the core through `edgeproxy::kit` only:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_what_reaches_past_the_kit() {
    let text = "use edgeproxy::kit::Plugin;\nuse edgeproxy::cache::TieredCache;\n\
                let x = edgeproxy :: metrics::counter;\nuse edgeproxy as core;\n\
                use edgeproxy_plugins::x; // edgeproxy::upstream in a comment\n\
                let s = \"edgeproxy nodes\";\n";
    let found = reaches_past(text, &["kit"]);
    let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![2, 3, 4], "{found:?}");
}
