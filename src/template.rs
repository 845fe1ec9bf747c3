//! The one minijinja environment: renders `templates/` files and the `{{ }}`
//! expressions in playbook arguments, evaluates `when:`-style conditions, and
//! turns minijinja's errors into messages that name the variable and the place.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::vars::Vars;

/// A template or expression failed; `origin` says where it came from
/// (a template file, or a task's argument).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("undefined variable `{name}` in {origin}{line} (define it in the inventory or the play's vars, or pass -e {name}=VALUE)")]
    Undefined {
        name: String,
        origin: String,
        line: String,
    },
    #[error("`{expr}` is undefined in {origin}{line} (check the name, and that the task that sets it ran on that host)")]
    UndefinedAttribute {
        expr: String,
        origin: String,
        line: String,
    },
    #[error(
        "template `{name}` not found in {searched} (put it in templates/ beside the playbook)"
    )]
    NotFound { name: String, searched: String },
    #[error("{origin}{line}: {detail}")]
    Invalid {
        origin: String,
        line: String,
        detail: String,
    },
}

/// Renders templates and expressions with strict undefined variables.
pub struct Templates {
    env: Environment<'static>,
    /// Folders searched in order for `template:` sources before the embedded set.
    dirs: Vec<PathBuf>,
}

impl Templates {
    /// `dirs` are searched first (a `templates/` folder beside the playbook),
    /// then `embedded` (the templates compiled into the binary).
    pub fn new(dirs: Vec<PathBuf>, embedded: &'static [(&'static str, &'static str)]) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // As Ansible's template module: a block tag's own line leaves no blank line.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let search = dirs.clone();
        let embedded: BTreeMap<&str, &str> = embedded.iter().copied().collect();
        env.set_loader(move |name| {
            for dir in &search {
                let path = dir.join(name);
                match std::fs::read_to_string(&path) {
                    Ok(text) => return Ok(Some(text)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("cannot read {}: {e}", path.display()),
                        ))
                    }
                }
            }
            Ok(embedded.get(name).map(|text| (*text).to_owned()))
        });
        register_filters(&mut env);
        Self { env, dirs }
    }

    /// Renders the template file `name` with `vars`.
    pub fn render_file(&self, name: &str, vars: &Vars) -> Result<String, TemplateError> {
        let origin = format!("template `{name}`");
        let template = self.env.get_template(name).map_err(|e| {
            if e.kind() == minijinja::ErrorKind::TemplateNotFound {
                TemplateError::NotFound {
                    name: name.to_owned(),
                    searched: self.searched(),
                }
            } else {
                convert(&origin, e, None, vars)
            }
        })?;
        template.render(Value::from_serialize(vars)).map_err(|e| {
            convert(
                &origin,
                e,
                Some(&template.undeclared_variables(false)),
                vars,
            )
        })
    }

    /// Renders one string (a task argument) that may contain `{{ }}`.
    pub fn render_str(
        &self,
        origin: &str,
        source: &str,
        vars: &Vars,
    ) -> Result<String, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(source.to_owned());
        }
        let template = self
            .env
            .template_from_str(source)
            .map_err(|e| convert(origin, e, None, vars))?;
        template
            .render(Value::from_serialize(vars))
            .map_err(|e| convert(origin, e, Some(&template.undeclared_variables(false)), vars))
    }

    /// Evaluates a bare expression (`when:`, `that:`, `changed_when:`) to a value.
    pub fn eval(
        &self,
        origin: &str,
        expr: &str,
        vars: &Vars,
    ) -> Result<serde_json::Value, TemplateError> {
        to_json(origin, &self.evaluate(origin, expr, vars)?)
    }

    /// Evaluates a condition; the result's truthiness as Jinja sees it.
    pub fn is_true(&self, origin: &str, expr: &str, vars: &Vars) -> Result<bool, TemplateError> {
        Ok(self.evaluate(origin, expr, vars)?.is_true())
    }

    fn evaluate(&self, origin: &str, expr: &str, vars: &Vars) -> Result<Value, TemplateError> {
        // minijinja's expression lexer panics on a stray `}}` ("map}}{{",
        // found by the fuzz test below); no bare expression needs one.
        if let Some(delimiter) = ["{{", "}}", "{%", "%}", "{#", "#}"]
            .into_iter()
            .find(|d| expr.contains(d))
        {
            return Err(TemplateError::Invalid {
                origin: origin.to_owned(),
                line: String::new(),
                detail: format!(
                    "`{expr}` is a bare expression and may not contain `{delimiter}` (write `x > 1`, not `{{{{ x }}}} > 1`)"
                ),
            });
        }
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| convert(origin, e, None, vars))?;
        let used = compiled.undeclared_variables(false);
        let value = compiled
            .eval(Value::from_serialize(vars))
            .map_err(|e| convert(origin, e, Some(&used), vars))?;
        if value.is_undefined() {
            return Err(undefined(origin, String::new(), &used, vars, expr));
        }
        Ok(value)
    }

    /// Renders every string inside `value`. A string that is exactly one
    /// `{{ expression }}` keeps the expression's native type (a list stays a
    /// list), as Ansible does.
    pub fn render_value(
        &self,
        origin: &str,
        value: &serde_json::Value,
        vars: &Vars,
    ) -> Result<serde_json::Value, TemplateError> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) => match single_expression(s) {
                Some(expr) => self.eval(origin, expr, vars)?,
                None => J::String(self.render_str(origin, s, vars)?),
            },
            J::Array(items) => J::Array(
                items
                    .iter()
                    .map(|item| self.render_value(origin, item, vars))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, item) in map {
                    out.insert(key.clone(), self.render_value(origin, item, vars)?);
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    fn searched(&self) -> String {
        let mut places: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        places.push("the templates built into sparklink".to_owned());
        places.join(", ")
    }
}

/// `"{{ expr }}"` with nothing around it returns `expr`.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    Some(inner.trim())
}

fn to_json(origin: &str, value: &Value) -> Result<serde_json::Value, TemplateError> {
    serde_json::to_value(value).map_err(|e| TemplateError::Invalid {
        origin: origin.to_owned(),
        line: String::new(),
        detail: format!("the value cannot be used as data: {e}"),
    })
}

/// Maps a minijinja error to ours, naming the undefined variable when the
/// template uses a top-level name the variables do not define.
fn convert(
    origin: &str,
    error: minijinja::Error,
    used: Option<&HashSet<String>>,
    vars: &Vars,
) -> TemplateError {
    let line = error
        .line()
        .map(|l| format!(" line {l}"))
        .unwrap_or_default();
    let origin = origin.to_owned();
    if error.kind() == minijinja::ErrorKind::UndefinedError {
        let expr = error
            .range()
            .and_then(|r| error.template_source().map(|s| failing_expression(s, r)))
            .unwrap_or_default();
        return undefined(&origin, line, used.unwrap_or(&HashSet::new()), vars, &expr);
    }
    let detail = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    TemplateError::Invalid {
        origin,
        line,
        detail,
    }
}

/// Names what is undefined: a top-level variable the context lacks, or else
/// the failing expression (an attribute or key of a defined variable).
fn undefined(
    origin: &str,
    line: String,
    used: &HashSet<String>,
    vars: &Vars,
    expr: &str,
) -> TemplateError {
    let mut missing: Vec<&String> = used
        .iter()
        .filter(|name| !vars.contains_key(*name))
        .collect();
    missing.sort();
    match missing.first() {
        Some(name) => TemplateError::Undefined {
            name: (*name).clone(),
            origin: origin.to_owned(),
            line,
        },
        None => TemplateError::UndefinedAttribute {
            expr: expr.trim().to_owned(),
            origin: origin.to_owned(),
            line,
        },
    }
}

/// minijinja points at the failing attribute (`['k'].x`); widen the span back
/// to the start of the variable it belongs to (`hostvars['k'].x`).
fn failing_expression(source: &str, range: std::ops::Range<usize>) -> String {
    let bytes = source.as_bytes();
    let mut start = range.start.min(bytes.len());
    while start > 0 {
        let c = bytes[start - 1];
        if c.is_ascii_alphanumeric() || b"_.[]'\"-".contains(&c) {
            start -= 1;
        } else {
            break;
        }
    }
    source.get(start..range.end).unwrap_or_default().to_owned()
}

/// The Ansible filters our playbooks use that minijinja does not ship.
fn register_filters(env: &mut Environment<'static>) {
    env.add_filter("bool", |v: Value| -> bool {
        match v.as_str() {
            Some(s) => matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "yes" | "true" | "on" | "1"
            ),
            None => v.is_true(),
        }
    });
    env.add_filter("to_json", |v: Value| -> Result<String, minijinja::Error> {
        serde_json::to_string(&v).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })
    });
    env.add_filter("quote", |v: String| -> String { shell_quote(&v) });
}

/// Quotes `s` for a POSIX shell: the result is always one literal word.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: serde_json::Value) -> Vars {
        match v {
            serde_json::Value::Object(map) => map,
            _ => Vars::new(),
        }
    }

    const EMBEDDED: &[(&str, &str)] =
        &[("hello.j2", "hello {{ who }}\n"), ("bad.j2", "{{ nope }}")];

    #[test]
    fn renders_embedded_template_keeping_trailing_newline() {
        let t = Templates::new(vec![], EMBEDDED);
        let out = t
            .render_file("hello.j2", &vars(json!({"who": "spark"})))
            .unwrap();
        assert_eq!(out, "hello spark\n");
    }

    #[test]
    fn files_on_disk_win_over_embedded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello.j2"), "disk {{ who }}").unwrap();
        let t = Templates::new(vec![dir.path().to_path_buf()], EMBEDDED);
        assert_eq!(
            t.render_file("hello.j2", &vars(json!({"who": "x"})))
                .unwrap(),
            "disk x"
        );
    }

    #[test]
    fn undefined_variable_names_the_variable_and_template() {
        let t = Templates::new(vec![], EMBEDDED);
        let err = t.render_file("bad.j2", &Vars::new()).unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"undefined variable `nope` in template `bad.j2` line 1 (define it in the inventory or the play's vars, or pass -e nope=VALUE)");
    }

    #[test]
    fn undefined_attribute_names_the_expression() {
        let t = Templates::new(vec![], EMBEDDED);
        let v = vars(json!({"hostvars": {"spark-1": {}}}));
        let err = t
            .render_str("task 'x'", "{{ hostvars['spark-1'].pubkey }}", &v)
            .unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"`hostvars['spark-1'].pubkey` is undefined in task 'x' line 1 (check the name, and that the task that sets it ran on that host)");
    }

    #[test]
    fn missing_template_says_where_it_looked() {
        let t = Templates::new(vec![PathBuf::from("/nowhere/templates")], EMBEDDED);
        let err = t.render_file("gone.j2", &Vars::new()).unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"template `gone.j2` not found in /nowhere/templates, the templates built into sparklink (put it in templates/ beside the playbook)");
    }

    #[test]
    fn single_expression_keeps_native_type() {
        let t = Templates::new(vec![], EMBEDDED);
        let v = vars(json!({"ports": [1, 2], "name": "a"}));
        let out = t
            .render_value(
                "args",
                &json!({"list": "{{ ports }}", "text": "n={{ name }}", "n": 3}),
                &v,
            )
            .unwrap();
        assert_eq!(out, json!({"list": [1, 2], "text": "n=a", "n": 3}));
    }

    #[test]
    fn conditions_follow_jinja_truthiness_and_bool_filter() {
        let t = Templates::new(vec![], EMBEDDED);
        let v = vars(json!({"rc": 0, "flag": "yes", "items": []}));
        assert!(t.is_true("when", "rc == 0", &v).unwrap());
        assert!(t.is_true("when", "flag | bool", &v).unwrap());
        assert!(!t.is_true("when", "items", &v).unwrap());
        assert!(t.is_true("when", "missing", &v).is_err());
    }

    #[test]
    fn syntax_error_is_reported_with_origin() {
        let t = Templates::new(vec![], EMBEDDED);
        let err = t
            .render_str("task 'y'", "{{ a + }}", &Vars::new())
            .unwrap_err();
        assert!(
            err.to_string().starts_with("task 'y' line 1: syntax error"),
            "{err}"
        );
    }

    #[test]
    fn shell_quote_makes_one_inert_word() {
        assert_eq!(shell_quote("abc-1.2"), "abc-1.2");
        assert_eq!(shell_quote("x; touch /tmp/pwned"), "'x; touch /tmp/pwned'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn template_delimiters_in_a_bare_expression_are_refused() {
        let t = Templates::new(Vec::new(), &[]);
        let err = t
            .is_true("task 'x' when", "{{ x }} > 1", &vars(json!({"x": 2})))
            .unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"task 'x' when: `{{ x }} > 1` is a bare expression and may not contain `{{` (write `x > 1`, not `{{ x }} > 1`)");
        assert!(t.eval("o", "map}}{{", &Vars::new()).is_err());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn templates() -> Templates {
            Templates::new(Vec::new(), &[])
        }

        proptest! {
            // 3 x 2000 cases: arbitrary text, and text built from template
            // syntax, never panic; they render or give an error.
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn arbitrary_text_never_panics(source in ".*") {
                let vars = vars(json!({"x": 1, "list": [1, 2], "map": {"a": "b"}}));
                let _ = templates().render_str("fuzz", &source, &vars);
            }

            #[test]
            fn template_syntax_soup_never_panics(
                parts in proptest::collection::vec(
                    prop_oneof![
                        Just("{{"), Just("}}"), Just("{%"), Just("%}"), Just("{#"), Just("#}"),
                        Just(" x "), Just("|"), Just("list"), Just("[0]"), Just("."), Just("map"),
                        Just("for i in"), Just("endfor"), Just("if"), Just("endif"), Just("("),
                        Just(")"), Just("'"), Just("\""), Just("undefined_name"), Just("quote"),
                        Just("bool"), Just("to_json"), Just("1/0"), Just("~"), Just("\n"),
                    ],
                    0..24,
                )
            ) {
                let source = parts.concat();
                let vars = vars(json!({"x": 1, "list": [1, 2], "map": {"a": "b"}}));
                let _ = templates().render_str("fuzz", &source, &vars);
                let _ = templates().eval("fuzz", &source, &vars);
            }

            #[test]
            fn arbitrary_expressions_never_panic(source in "[ -~]{0,40}") {
                let vars = vars(json!({"x": 1}));
                let _ = templates().is_true("fuzz", &source, &vars);
            }
        }
    }
}
