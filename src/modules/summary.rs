//! `summary`: one row of a table the reporter prints after the recap (for
//! example the link each node ended with). Takes a `title` and a map of
//! column to value; changes nothing.

use serde::Deserialize;

use super::{ModuleError, Outcome};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    title: String,
    columns: serde_json::Map<String, serde_json::Value>,
}

pub fn run(args: Args) -> Result<Outcome, ModuleError> {
    let mut outcome = Outcome::default();
    let mut row = serde_json::Map::new();
    row.insert("title".into(), args.title.into());
    row.insert("columns".into(), serde_json::Value::Object(args.columns));
    outcome
        .data
        .insert("summary".into(), serde_json::Value::Object(row));
    Ok(outcome)
}
