//! Golden files: what each combination renders to, checked in under `xray/golden/` and read by
//! people. `XFLEET_UPDATE_GOLDEN=1 cargo test -p xfleet-common xray` rewrites them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::cases::{self, Certs};
use super::whole_state;
use crate::xray::{render, render_inbound, Flavour, RenderOptions};

const FLAVOURS: [Flavour; 2] = [Flavour::Xray, Flavour::V2ray];

#[test]
fn every_combination_matches_its_golden_file() {
    let mut failures = Vec::new();
    for flavour in FLAVOURS {
        let mut groups: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for case in cases::all(&Certs::placeholder()) {
            let rendered = match render_inbound(&case.spec, flavour) {
                Ok(inbound) => inbound,
                Err(e) => serde_json::json!({"error": e.to_string()}),
            };
            let group = groups.entry(case.group).or_default();
            assert!(
                group.insert(case.key.clone(), rendered).is_none(),
                "{} twice",
                case.key
            );
        }
        for (group, entries) in groups {
            failures.extend(check(
                &format!("{group}.{flavour}"),
                &Value::Object(entries),
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n{HINT}", failures.join("\n"));
}

#[test]
fn whole_config_matches_its_golden_file() {
    let mut failures = Vec::new();
    for flavour in FLAVOURS {
        let config = render(&whole_state(), &RenderOptions::new(flavour)).expect("renders");
        failures.extend(check(&format!("config.{flavour}"), &config));
    }
    assert!(failures.is_empty(), "{}\n{HINT}", failures.join("\n"));
}

const HINT: &str =
    "if the change is intended, run `XFLEET_UPDATE_GOLDEN=1 cargo test -p xfleet-common \
                    xray` and review the `git diff` of src/xray/golden/";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/xray/golden")
}

/// Compares `actual` with `golden/<name>.json` (or rewrites the file when asked to); returns
/// what differs.
fn check(name: &str, actual: &Value) -> Option<String> {
    let path = golden_dir().join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(actual).expect("serializes") + "\n";
    if std::env::var("XFLEET_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        std::fs::write(&path, pretty).expect("write golden");
        return None;
    }
    let expected = match std::fs::read_to_string(&path).map(|t| serde_json::from_str::<Value>(&t)) {
        Ok(Ok(expected)) => expected,
        Ok(Err(e)) => return Some(format!("{}: not JSON: {e}", path.display())),
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    if &expected == actual {
        return None;
    }
    let mut lines = Vec::new();
    differences("", &expected, actual, &mut lines);
    const SHOWN: usize = 40;
    let more = lines.len().saturating_sub(SHOWN);
    lines.truncate(SHOWN);
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    Some(format!(
        "{} differs from what renders now (- golden, + now):\n{}",
        path.display(),
        lines.join("\n")
    ))
}

/// One line per differing leaf, named by its path (`vless+ws+tls.streamSettings.network`).
fn differences(path: &str, golden: &Value, now: &Value, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (golden, now) {
        (Value::Object(g), Value::Object(n)) => {
            let keys: BTreeSet<&String> = g.keys().chain(n.keys()).collect();
            for key in keys {
                match (g.get(key), n.get(key)) {
                    (Some(g), Some(n)) => differences(&join(key), g, n, out),
                    (Some(g), None) => out.push(format!("- {}: {g}", join(key))),
                    (None, Some(n)) => out.push(format!("+ {}: {n}", join(key))),
                    (None, None) => unreachable!(),
                }
            }
        }
        (Value::Array(g), Value::Array(n)) if g.len() == n.len() => {
            for (i, (g, n)) in g.iter().zip(n).enumerate() {
                differences(&join(&i.to_string()), g, n, out);
            }
        }
        (g, n) if g != n => {
            out.push(format!("- {path}: {g}"));
            out.push(format!("+ {path}: {n}"));
        }
        _ => {}
    }
}
