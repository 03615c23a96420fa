//! The archive's layout: `manifest.json`, one `tables/NAME.jsonl` per table (a line of
//! column names, then one line per row of typed values). Values are JSON: `null`, an integer, a string, `{"real": x}` or
//! `{"base64": "…"}` for a blob, so they survive SQLite ↔ PostgreSQL unchanged.

use std::io::{Cursor, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;

use super::BackupError;
use crate::i18n::Refusal;
use crate::store::{Cell, RestoredTable};

/// The format name every manifest carries.
pub const FORMAT: &str = "xfleet-backup";
/// The newest layout this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
/// An archive's largest entry once unpacked: bounds what a damaged or hostile file can make
/// the controller hold in memory.
const MAX_ENTRY: u64 = 4 << 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub xfleet_version: String,
    /// The highest migration of the schema the rows come from.
    pub schema_migration: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// `sqlite` or `postgres`.
    pub source_backend: String,
    pub tables: Vec<TableEntry>,
    /// Every entry of the archive but the manifest, with its SHA-256.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

pub fn table_entry(table: &str) -> String {
    format!("tables/{table}.jsonl")
}

/// Builds an archive entry by entry; the manifest goes last, once every checksum is known.
pub struct Writer {
    zip: zip::ZipWriter<Cursor<Vec<u8>>>,
    entries: Vec<Entry>,
}

impl Default for Writer {
    fn default() -> Self {
        Self {
            zip: zip::ZipWriter::new(Cursor::new(Vec::new())),
            entries: Vec::new(),
        }
    }
}

impl Writer {
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<(), BackupError> {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o600)
            .large_file(bytes.len() as u64 >= u32::MAX as u64);
        self.zip.start_file(name, options).map_err(write_error)?;
        self.zip
            .write_all(bytes)
            .map_err(|e| BackupError::Io(e.to_string()))?;
        self.entries.push(Entry {
            name: name.to_owned(),
            sha256: xfleet_common::enrollment::sha256_hex(bytes),
            size: bytes.len() as u64,
        });
        Ok(())
    }

    /// Adds a table: its column names, then its rows.
    pub fn add_table(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Cell>],
    ) -> Result<(), BackupError> {
        let mut text = serde_json::to_string(columns).expect("names serialize");
        text.push('\n');
        for row in rows {
            let values: Vec<Value> = row.iter().map(encode).collect();
            text.push_str(&Value::Array(values).to_string());
            text.push('\n');
        }
        self.add(&table_entry(name), text.as_bytes())
    }

    pub fn finish(mut self, mut manifest: Manifest) -> Result<Vec<u8>, BackupError> {
        manifest.entries = std::mem::take(&mut self.entries);
        let text = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o600);
        self.zip
            .start_file(MANIFEST, options)
            .map_err(write_error)?;
        self.zip
            .write_all(&text)
            .map_err(|e| BackupError::Io(e.to_string()))?;
        Ok(self.zip.finish().map_err(write_error)?.into_inner())
    }
}

fn write_error(e: zip::result::ZipError) -> BackupError {
    BackupError::Io(e.to_string())
}

fn encode(cell: &Cell) -> Value {
    use base64::Engine;
    match cell {
        Cell::Null => Value::Null,
        Cell::Int(v) => json!(v),
        Cell::Real(v) => json!({"real": v}),
        Cell::Text(v) => json!(v),
        Cell::Blob(v) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(v)}),
    }
}

fn decode(value: Value) -> Option<Cell> {
    use base64::Engine;
    Some(match value {
        Value::Null => Cell::Null,
        Value::Number(n) => Cell::Int(n.as_i64()?),
        Value::String(s) => Cell::Text(s),
        Value::Object(o) => match (o.get("real"), o.get("base64")) {
            (Some(r), None) if o.len() == 1 => Cell::Real(r.as_f64()?),
            (None, Some(Value::String(b))) if o.len() == 1 => {
                Cell::Blob(base64::engine::general_purpose::STANDARD.decode(b).ok()?)
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// An archive read whole and checked: every entry present and matching its checksum, every
/// row decoded, the schema one this build can restore.
#[derive(Debug)]
pub struct Archive {
    pub manifest: Manifest,
    pub tables: Vec<RestoredTable>,
}

fn refused(key: &'static str, args: &[(&'static str, String)]) -> BackupError {
    BackupError::Refused(Refusal::new(key, args))
}

impl Archive {
    /// Reads and checks `bytes`; `schema` is the newest migration this build has. Nothing is
    /// written: a refusal names what is wrong.
    pub fn read(bytes: &[u8], schema: i64) -> Result<Self, BackupError> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| refused("err.backup_not_zip", &[("error", e.to_string())]))?;
        let manifest_bytes = match read_entry(&mut zip, MANIFEST) {
            Ok(Some(b)) => b,
            Ok(None) => return Err(refused("err.backup_foreign", &[])),
            Err(e) => return Err(unreadable(MANIFEST, e)),
        };
        let format = serde_json::from_slice::<Value>(&manifest_bytes)
            .ok()
            .and_then(|v| v.get("format").and_then(Value::as_str).map(str::to_owned));
        match format.as_deref() {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(refused(
                    "err.backup_format",
                    &[("format", crate::util::clip(other, 80))],
                ))
            }
            None => return Err(refused("err.backup_foreign", &[])),
        }
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| unreadable(MANIFEST, e.to_string()))?;
        if manifest.format_version > FORMAT_VERSION {
            return Err(refused(
                "err.backup_format_version",
                &[
                    ("version", manifest.format_version.to_string()),
                    ("max", FORMAT_VERSION.to_string()),
                ],
            ));
        }
        if manifest.schema_migration > schema {
            return Err(refused(
                "err.backup_newer_schema",
                &[
                    ("archive", manifest.schema_migration.to_string()),
                    ("current", schema.to_string()),
                    ("version", manifest.xfleet_version.clone()),
                ],
            ));
        }
        let mut contents = std::collections::BTreeMap::new();
        for entry in &manifest.entries {
            let bytes = match read_entry(&mut zip, &entry.name) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Err(refused(
                        "err.backup_missing",
                        &[("entry", entry.name.clone())],
                    ))
                }
                Err(e) => return Err(unreadable(&entry.name, e)),
            };
            if xfleet_common::enrollment::sha256_hex(&bytes) != entry.sha256 {
                return Err(refused(
                    "err.backup_checksum",
                    &[("entry", entry.name.clone())],
                ));
            }
            contents.insert(entry.name.clone(), bytes);
        }
        let mut tables = Vec::with_capacity(manifest.tables.len());
        for t in &manifest.tables {
            let name = table_entry(&t.name);
            let Some(bytes) = contents.remove(&name) else {
                return Err(refused("err.backup_missing", &[("entry", name)]));
            };
            let table = parse_table(&t.name, &bytes).map_err(|e| unreadable(&name, e))?;
            if table.rows.len() as u64 != t.rows {
                return Err(unreadable(
                    &name,
                    format!(
                        "{} rows where the manifest says {}",
                        table.rows.len(),
                        t.rows
                    ),
                ));
            }
            tables.push(table);
        }
        Ok(Self { manifest, tables })
    }
}

fn unreadable(entry: &str, error: impl ToString) -> BackupError {
    refused(
        "err.backup_unreadable",
        &[("entry", entry.to_owned()), ("error", error.to_string())],
    )
}

/// An entry's bytes; `None` when the archive has no such entry. Reading checks the entry's
/// CRC, so damage inside the compressed data is caught here.
fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    let file = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if file.size() > MAX_ENTRY {
        return Err(format!(
            "{} bytes is more than a backup entry may hold",
            file.size()
        ));
    }
    let mut out = Vec::with_capacity(file.size() as usize);
    file.take(MAX_ENTRY)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(Some(out))
}

fn parse_table(name: &str, bytes: &[u8]) -> Result<RestoredTable, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut lines = text.lines();
    let columns: Vec<String> = serde_json::from_str(lines.next().unwrap_or(""))
        .map_err(|e| format!("line 1 (column names): {e}"))?;
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let values: Vec<Value> =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 2))?;
        if values.len() != columns.len() {
            return Err(format!(
                "line {}: {} values for {} columns",
                n + 2,
                values.len(),
                columns.len()
            ));
        }
        let row = values
            .into_iter()
            .map(decode)
            .collect::<Option<Vec<Cell>>>()
            .ok_or_else(|| format!("line {}: a value of no known type", n + 2))?;
        rows.push(row);
    }
    Ok(RestoredTable {
        name: name.to_owned(),
        columns,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_value_comes_back_as_it_went() {
        let cells = vec![
            Cell::Null,
            Cell::Int(i64::MIN),
            Cell::Int(9_007_199_254_740_993),
            Cell::Real(1.5),
            Cell::Text("{\"a\": \"ä\"}\n".into()),
            Cell::Blob(vec![0, 255, 10]),
        ];
        for cell in cells {
            assert_eq!(decode(encode(&cell)), Some(cell));
        }
        assert_eq!(decode(json!({"real": 1, "x": 2})), None);
        assert_eq!(decode(json!(true)), None);
    }
}
