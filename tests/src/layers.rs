//! A reader of the workspace's own module structure for the layer check
//! (`tests/tests/layers.rs`, ARCHITECTURE.md): which top-level modules of a crate name which
//! others, from `use` trees and `crate::`/`super::`/`self::` paths, with comments, string
//! and character literals and `#[cfg(test)]` items left out. It reads text, not the
//! compiler's view: paths are resolved by hand, and a name the crate root re-exports counts as
//! the module it comes from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where one top-level module names another: the file and the path it wrote.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    pub file: String,
    pub path: String,
}

/// A crate's top-level modules and, for each, the others it names.
pub struct Graph {
    pub modules: BTreeSet<String>,
    pub edges: BTreeMap<String, BTreeMap<String, BTreeSet<Use>>>,
}

impl Graph {
    pub fn uses(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges.get(from).into_iter().flat_map(|m| m.keys())
    }

    /// A few of the places where `from` names `to`, for a failure message.
    pub fn evidence(&self, from: &str, to: &str) -> String {
        let uses = &self.edges[from][to];
        let shown: Vec<String> = uses
            .iter()
            .take(3)
            .map(|u| format!("{} uses {}", u.file, u.path))
            .collect();
        let more = uses.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        format!("{}{more}", shown.join("; "))
    }
}

/// Source text with comments, string and character literals blanked out (newlines kept, so
/// what is left still lines up with the file).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend(bytes.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, 0usize);
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string_len(rest) {
            blank(&mut out, &rest[..len]);
            i += len;
        } else if rest[0] == b'"' || rest.starts_with(b"b\"") {
            let mut j = if rest[0] == b'"' { 1 } else { 2 };
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // A character literal ('x', '\n', '\u{..}'); a lifetime has no closing quote.
            let len = match rest.get(1) {
                Some(b'\\') => rest[2..].iter().position(|&c| c == b'\'').map(|p| p + 3),
                Some(&c) => {
                    let n = match c {
                        0xF0.. => 4,
                        0xE0.. => 3,
                        0xC0.. => 2,
                        _ => 1,
                    };
                    (rest.get(1 + n) == Some(&b'\'')).then_some(n + 2)
                }
                None => None,
            };
            match len {
                Some(len) => {
                    blank(&mut out, &rest[..len]);
                    i += len;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            // Code is ASCII here; anything else outside a literal is no path either.
            out.push(if rest[0].is_ascii() { rest[0] } else { b' ' });
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII is left")
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br"…"`) at the start, if one is.
fn raw_string_len(s: &[u8]) -> Option<usize> {
    let start = if s.starts_with(b"br") {
        2
    } else if s.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = s[start..].iter().take_while(|&&c| c == b'#').count();
    if s.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = start + hashes + 1;
    let end = s[body..].windows(close.len()).position(|w| w == close)?;
    Some(body + end + close.len())
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Blanks every item marked `#[cfg(test)]`; returns the names of test-only `mod x;` files.
fn drop_test_items(text: &mut String) -> Vec<String> {
    const MARK: &str = "#[cfg(test)]";
    let mut skipped = Vec::new();
    while let Some(at) = text.find(MARK) {
        let b = text.as_bytes();
        let mut i = at + MARK.len();
        // Further attributes on the same item.
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if b[i..].starts_with(b"#[") {
                let mut depth = 0;
                while i < b.len() {
                    match b[i] {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            } else {
                break;
            }
        }
        let item = &text[i..];
        let words: Vec<&str> = item
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .take(4)
            .collect();
        let mod_at = words.iter().position(|w| *w == "mod");
        // The item ends at a `;` or `,` outside brackets, or with its first block.
        let mut depth = 0i32;
        let mut end = i;
        let mut file_mod = false;
        while end < b.len() {
            match b[end] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' => {
                    depth -= 1;
                    if depth < 0 {
                        break;
                    }
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end += 1;
                    }
                    if depth <= 0 {
                        break;
                    }
                }
                b';' | b',' if depth == 0 => {
                    file_mod = b[end] == b';';
                    end += 1;
                    break;
                }
                _ => {}
            }
            end += 1;
        }
        if let (Some(m), true) = (mod_at, file_mod) {
            if let Some(name) = words.get(m + 1) {
                skipped.push((*name).to_owned());
            }
        }
        let blanked: String = text[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        text.replace_range(at..end, &blanked);
    }
    skipped
}

/// Every path a `use` tree names, as segments (`use a::{b, c::d as e}` gives `a::b`, `a::c::d`).
fn use_paths(tree: &str) -> Vec<Vec<String>> {
    fn walk(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let close = tree.rfind('}').unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            let mut path = prefix.to_vec();
            path.extend(head);
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        walk(&path, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            walk(&path, &inner[start..], out);
        } else {
            let tree = tree.split(" as ").next().unwrap_or(tree);
            let mut path = prefix.to_vec();
            path.extend(
                tree.split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            out.push(path);
        }
    }
    let mut out = Vec::new();
    walk(&[], tree, &mut out);
    out
}

/// Paths written in code: `crate::a::b`, `super::a`, `self::a` (with the segments after them).
fn code_paths(text: &str) -> Vec<Vec<String>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for start_word in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(start_word) {
            let at = from + pos;
            from = at + start_word.len();
            if at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b':' || b[at - 1] == b'$') {
                continue;
            }
            let mut end = at;
            while end < b.len() && (is_ident(b[end]) || b[end] == b':') {
                end += 1;
            }
            out.push(
                text[at..end]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    out
}

/// The `use` trees of a text (`use …;` anywhere, `pub use` included).
fn use_trees(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("use ") {
        let at = from + pos;
        from = at + 4;
        if at > 0 && is_ident(b[at - 1]) {
            continue;
        }
        if let Some(end) = text[from..].find(';') {
            out.push(text[from..from + end].to_owned());
        }
    }
    out
}

/// Resolves a path written in module `module` to crate-absolute segments.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "self" => {
            let mut p = module.to_vec();
            p.extend_from_slice(&path[1..]);
            Some(p)
        }
        "super" => {
            let mut p = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                p.pop()?;
                rest = &rest[1..];
            }
            p.extend_from_slice(rest);
            Some(p)
        }
        _ => None,
    }
}

/// One file's text, split into inline `mod x { … }` blocks and the rest, each with its path.
fn spans(text: &str, module: &[String], out: &mut Vec<(Vec<String>, String)>) {
    let b = text.as_bytes();
    let mut rest = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !is_ident(b[i - 1]);
        if word_start && text[i..].starts_with("mod ") {
            let after = &text[i + 4..];
            let name_len = after.bytes().take_while(|&c| is_ident(c)).count();
            let name = &after[..name_len];
            let tail = after[name_len..].trim_start();
            if !name.is_empty() && tail.starts_with('{') {
                let open = i + 4 + name_len + (after[name_len..].len() - tail.len());
                let mut depth = 0;
                let mut j = open;
                while j < b.len() {
                    match b[j] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let mut inner = module.to_vec();
                inner.push(name.to_owned());
                spans(&text[open + 1..j.min(b.len())], &inner, out);
                i = j + 1;
                continue;
            }
        }
        rest.push(b[i] as char);
        i += 1;
    }
    out.push((module.to_vec(), rest));
}

/// Reads a crate from its `src/lib.rs`, following `mod x;` declarations.
pub fn read_crate(root: &Path, name: &str) -> Graph {
    let src = root.join(name).join("src");
    let mut modules = BTreeSet::new();
    // (file, module path, text without comments, literals and test items)
    let mut files: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut queue = vec![(src.join("lib.rs"), Vec::<String>::new())];
    while let Some((file, module)) = queue.pop() {
        let raw = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let mut text = strip(&raw);
        drop_test_items(&mut text);
        let owns_dir = matches!(
            file.file_name().and_then(|f| f.to_str()),
            Some("lib.rs" | "mod.rs")
        );
        let dir = if owns_dir {
            file.parent().expect("a parent").to_path_buf()
        } else {
            file.with_extension("")
        };
        for line in text.lines() {
            let line = line.trim();
            let Some(decl) = line.strip_suffix(';') else {
                continue;
            };
            let words: Vec<&str> = decl.split_whitespace().collect();
            let Some(m) = words.iter().position(|w| *w == "mod") else {
                continue;
            };
            let visibility_only = words[..m]
                .iter()
                .all(|w| *w == "pub" || w.starts_with("pub("));
            if !visibility_only || words.len() != m + 2 {
                continue;
            }
            let child = words[m + 1];
            let path = [
                dir.join(format!("{child}.rs")),
                dir.join(child).join("mod.rs"),
            ]
            .into_iter()
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("module {child} of {}: no file", file.display()));
            let mut child_path = module.clone();
            child_path.push(child.to_owned());
            if module.is_empty() {
                modules.insert(child.to_owned());
            }
            queue.push((path, child_path));
        }
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        files.push((shown, module, text));
    }

    // What the crate root re-exports (`pub use run::{run, AgentError}`): a path to the root
    // item is a path to the module it comes from.
    let mut root_items: BTreeMap<String, String> = BTreeMap::new();
    for (_, module, text) in &files {
        if !module.is_empty() {
            continue;
        }
        for tree in use_trees(text) {
            for path in use_paths(&tree) {
                let resolved = absolute(&[], &path).unwrap_or(path.clone());
                if let (Some(first), Some(last)) = (resolved.first(), path.last()) {
                    if modules.contains(first) {
                        root_items.insert(last.clone(), first.clone());
                    }
                }
            }
        }
    }

    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<Use>>> = BTreeMap::new();
    for (file, module, text) in &files {
        let Some(top) = module.first() else {
            continue;
        };
        let mut parts = Vec::new();
        spans(text, module, &mut parts);
        for (module, text) in parts {
            let mut paths: Vec<Vec<String>> =
                use_trees(&text).iter().flat_map(|t| use_paths(t)).collect();
            paths.extend(code_paths(&text));
            for path in paths {
                let Some(abs) = absolute(&module, &path) else {
                    continue;
                };
                let Some(first) = abs.first() else {
                    continue;
                };
                let target = if modules.contains(first) {
                    first.clone()
                } else if let Some(m) = root_items.get(first) {
                    m.clone()
                } else {
                    continue;
                };
                if &target != top {
                    edges
                        .entry(top.clone())
                        .or_default()
                        .entry(target)
                        .or_default()
                        .insert(Use {
                            file: file.clone(),
                            path: path.join("::").trim_end_matches("::self").to_owned(),
                        });
                }
            }
        }
    }
    Graph { modules, edges }
}

/// The strongly connected groups of more than one module (Tarjan).
pub fn loops(g: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a Graph,
        next: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        for w in s.g.uses(v) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                group.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut s = State {
        g,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for m in &g.modules {
        if !s.index.contains_key(m.as_str()) {
            visit(&mut s, m);
        }
    }
    s.found
}

/// The crate-absolute paths a piece of source names from module `module`, and the test-only
/// `mod x;` files it declares: what the reader sees of it.
pub fn paths_in(src: &str, module: &[String]) -> (BTreeSet<String>, Vec<String>) {
    let mut text = strip(src);
    let skipped = drop_test_items(&mut text);
    let mut parts = Vec::new();
    spans(&text, module, &mut parts);
    let mut found = BTreeSet::new();
    for (module, text) in parts {
        let mut paths: Vec<Vec<String>> =
            use_trees(&text).iter().flat_map(|t| use_paths(t)).collect();
        paths.extend(code_paths(&text));
        for p in paths {
            if let Some(abs) = absolute(&module, &p).filter(|a| !a.is_empty()) {
                found.insert(abs.join("::"));
            }
        }
    }
    (found, skipped)
}

/// The layers ARCHITECTURE.md lists for a crate, top first: under `### name`, a numbered line
/// starts a layer and each `` - `module` `` line below it puts a module in it.
pub fn declared_layers(doc: &str, name: &str) -> Vec<(String, Vec<String>)> {
    let heading = format!("### `{name}`");
    let mut layers: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        if line.starts_with("#") {
            inside = line.trim() == heading;
            continue;
        }
        if !inside {
            continue;
        }
        let trimmed = line.trim_start();
        let numbered = trimmed
            .split_once(". ")
            .filter(|(n, _)| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
        if let (Some((_, title)), false) = (numbered, line.starts_with(' ')) {
            layers.push((title.trim().to_owned(), Vec::new()));
        } else if let Some(item) = trimmed.strip_prefix("- `") {
            if let (Some(module), Some(layer)) = (item.split('`').next(), layers.last_mut()) {
                layer.1.push(module.to_owned());
            }
        }
    }
    layers
}
