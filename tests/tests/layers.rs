//! The layers of `common`, `agent` and `controller` (ARCHITECTURE.md, DESIGN §11), read from
//! the code's own paths by `xfleet_tests::layers`.
//!
//! Two promises: no two top-level modules of a crate reach each other, directly or round a
//! loop; and every module uses only modules of the layers ARCHITECTURE.md lists below its own,
//! never a module of its own layer, so a module's place says what it may use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use xfleet_tests::layers::{declared_layers, loops, paths_in, read_crate};

const CRATES: &[&str] = &["common", "agent", "controller"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds the tests crate")
        .to_path_buf()
}

#[test]
fn no_two_modules_reach_each_other() {
    let mut problems = Vec::new();
    for name in CRATES {
        let g = read_crate(&root(), name);
        assert!(g.modules.len() > 3, "{name}: modules not found");
        for group in loops(&g) {
            let mut lines = vec![format!("{name}: {} reach each other:", group.join(", "))];
            for a in &group {
                for b in &group {
                    if g.edges.get(a).is_some_and(|e| e.contains_key(b)) {
                        lines.push(format!("  {a} -> {b}: {}", g.evidence(a, b)));
                    }
                }
            }
            problems.push(lines.join("\n"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_module_uses_only_the_layers_below_its_own() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the repository root");
    let mut problems = Vec::new();
    for name in CRATES {
        let g = read_crate(&root(), name);
        let layers = declared_layers(&doc, name);
        let mut layer_of: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, (_, modules)) in layers.iter().enumerate() {
            for m in modules {
                if layer_of.insert(m, i).is_some() {
                    problems.push(format!("{name}: `{m}` is listed twice"));
                }
            }
        }
        for m in &g.modules {
            if !layer_of.contains_key(m.as_str()) {
                problems.push(format!(
                    "{name}: module `{m}` is in no layer of ARCHITECTURE.md"
                ));
            }
        }
        for m in layer_of.keys() {
            if !g.modules.contains(*m) {
                problems.push(format!(
                    "{name}: ARCHITECTURE.md lists `{m}`, which is no module"
                ));
            }
        }
        for (from, targets) in &g.edges {
            for to in targets.keys() {
                let (Some(&a), Some(&b)) = (layer_of.get(from.as_str()), layer_of.get(to.as_str()))
                else {
                    continue;
                };
                if b <= a {
                    let how = if a == b {
                        format!("both are in the layer \"{}\"", layers[a].0)
                    } else {
                        format!("\"{}\" is above \"{}\"", layers[b].0, layers[a].0)
                    };
                    problems.push(format!(
                        "{name}: {from} uses {to}, but {how}: {}",
                        g.evidence(from, to)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The reader itself: comments, literals and test items are not code; inline modules and
/// `super::` resolve to the module they name.
#[test]
fn the_reader_sees_only_code() {
    let src = r##"
        // use crate::a;
        /* crate::b /* nested */ crate::c */
        const S: &str = "crate::d";
        const R: &str = r#"crate::e "# ;
        fn f<'a>(x: &'a str) -> char { let _ = crate::f::g(x); '"' }
        #[cfg(test)]
        mod tests { use crate::h; }
        #[cfg(test)]
        mod fixtures;
        mod inner { use super::super::i; }
        use crate::{j::{self, K}, l as m};
    "##;
    let (found, skipped) = paths_in(src, &["top".to_owned()]);
    assert_eq!(skipped, vec!["fixtures".to_owned()]);
    let want: BTreeSet<String> = ["f::g", "i", "j::self", "j::K", "l"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(found, want);
}
