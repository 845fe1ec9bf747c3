//! `set_fact`: sets host variables that later tasks (and other hosts,
//! through `hostvars`) can read.

use super::{ModuleError, Outcome};

pub fn run(module: &str, args: &serde_json::Value) -> Result<Outcome, ModuleError> {
    let serde_json::Value::Object(map) = args else {
        return Err(ModuleError::Args {
            module: module.into(),
            detail: "give a map of names to values".into(),
        });
    };
    Ok(Outcome {
        facts: map.clone(),
        ..Outcome::default()
    })
}
