//! `assert`: fails the host with a message unless every condition holds.

use serde::Deserialize;

use super::{Context, ModuleError, Outcome};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    that: OneOrMany,
    fail_msg: Option<String>,
    msg: Option<String>,
    success_msg: Option<String>,
}

/// `that: expr` or `that: [expr, ...]`.
#[derive(Deserialize)]
#[serde(from = "serde_json::Value")]
struct OneOrMany(Vec<serde_json::Value>);

impl From<serde_json::Value> for OneOrMany {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Array(items) => OneOrMany(items),
            other => OneOrMany(vec![other]),
        }
    }
}

pub fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    for condition in &args.that.0 {
        let holds = match condition {
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::String(expr) => ctx.templates.is_true("assert", expr, ctx.vars)?,
            other => {
                return Err(ModuleError::Args {
                    module: "assert".into(),
                    detail: format!("`that` holds {other}, not a condition"),
                })
            }
        };
        if !holds {
            let text = match condition {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let msg = args
                .fail_msg
                .or(args.msg)
                .unwrap_or_else(|| format!("assertion failed: {text}"));
            return Ok(Outcome {
                failed: true,
                msg,
                ..Outcome::default()
            });
        }
    }
    Ok(Outcome {
        msg: args.success_msg.unwrap_or_default(),
        ..Outcome::default()
    })
}
