//! YAML plumbing shared by the inventory and playbook parsers: reading a
//! document into a [`Value`], finding where a key path sits in the text
//! (line and column) for error messages, and turning YAML values into the
//! JSON values that [`Vars`] hold.
//!
//! Both parsers read the whole document into a `serde_yaml::Value` and then
//! validate it by hand, so every message can say exactly what is wrong. A
//! `Value` carries no positions; [`Source::place`] recovers them by
//! deserializing the text again with a seed that walks the key path and fails
//! on purpose at the target node: yaml_serde stamps any error raised inside a
//! visitor with the line and column of the node being visited.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use crate::vars::Vars;

/// Where something is in a YAML file, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file, as the user named it (or as the folder listing gave it).
    pub file: PathBuf,
    /// 1-based line and column, when the node could be found in the text.
    pub line_col: Option<(usize, usize)>,
    /// Key path inside the document, like `plays[0].tasks[2]`; empty for the
    /// whole document.
    pub key_path: String,
}

impl Place {
    /// A place naming only a file.
    pub fn file(file: &Path) -> Place {
        Place {
            file: file.to_path_buf(),
            line_col: None,
            key_path: String::new(),
        }
    }
}

/// `FILE:LINE:COL (key.path)`, leaving out what is unknown.
impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.line_col {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key_path.is_empty() {
            write!(f, " ({})", self.key_path)?;
        }
        Ok(())
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a key path: `label[0].tasks[2]`, or `all.children.sparks` when
/// the label is empty.
pub(crate) fn render_path(label: &str, segs: &[Seg]) -> String {
    let mut out = String::from(label);
    for seg in segs {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(index) => {
                out.push_str(&format!("[{index}]"));
            }
        }
    }
    out
}

/// A YAML syntax error, with the position yaml_serde gave.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub place: Place,
    pub message: String,
    /// What to do about it.
    pub fix: &'static str,
}

const FIX_SYNTAX: &str = "fix the syntax (indentation, quoting, a `:` inside a value needs quotes)";
const FIX_DUPLICATE: &str = "a key may appear only once in a map: merge or rename the repeated one";
const FIX_DOCUMENTS: &str = "keep one YAML document per file: remove the extra `---`";
const FIX_MERGE: &str = "`<<:` merges a map or a list of maps into the map that holds it";

/// One YAML document's text and the file it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    /// Prefix of rendered key paths (`plays` for playbooks, empty for
    /// inventories and vars files).
    pub label: &'a str,
}

impl<'a> Source<'a> {
    /// Parses the document into a value, with YAML merge keys (`<<:`)
    /// applied. An empty document is `Value::Null`.
    pub fn parse(&self) -> Result<Value, SyntaxError> {
        let deserializer = serde_yaml::Deserializer::from_str(self.text);
        let mut value: Value = match serde_path_to_error::deserialize(deserializer) {
            Ok(value) => value,
            Err(err) => {
                let mut path = err.path().to_string();
                let inner = err.into_inner();
                let line_col = inner.location().map(|l| (l.line(), l.column()));
                let mut message = inner.to_string();
                if let Some((line, column)) = line_col {
                    message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
                }
                // yaml_serde puts its own copy of the path first.
                if let Some(rest) = message.strip_prefix(&format!("{path}: ")) {
                    message = rest.to_string();
                }
                // The parser stopped inside a node it had not named yet.
                while let Some(known) = path.strip_suffix(".?").or_else(|| path.strip_suffix('?')) {
                    path = known.to_string();
                }
                if path.is_empty() {
                    path = ".".to_string();
                }
                let fix = if message.starts_with("duplicate entry") {
                    FIX_DUPLICATE
                } else if message.contains("more than one document") {
                    FIX_DOCUMENTS
                } else {
                    FIX_SYNTAX
                };
                let key_path = if path == "." {
                    String::new()
                } else if self.label.is_empty() {
                    path
                } else if path.starts_with('[') {
                    format!("{}{path}", self.label)
                } else {
                    format!("{}.{path}", self.label)
                };
                return Err(SyntaxError {
                    place: Place {
                        file: self.file.to_path_buf(),
                        line_col,
                        key_path,
                    },
                    message,
                    fix,
                });
            }
        };
        if let Err(err) = value.apply_merge() {
            return Err(SyntaxError {
                place: Place::file(self.file),
                message: err.to_string(),
                fix: FIX_MERGE,
            });
        }
        Ok(value)
    }

    /// Where the node at `segs` is (its key, when `at_key`).
    pub fn place(&self, segs: &[Seg], at_key: bool) -> Place {
        Place {
            file: self.file.to_path_buf(),
            line_col: locate(self.text, segs, at_key),
            key_path: render_path(self.label, segs),
        }
    }

    /// Like [`Source::place`], but the rendered key path stops at the parent
    /// of the last segment: an unknown key is reported "in" its map.
    pub fn place_of_key(&self, segs: &[Seg]) -> Place {
        let parent = &segs[..segs.len().saturating_sub(1)];
        Place {
            file: self.file.to_path_buf(),
            line_col: locate(self.text, segs, true),
            key_path: render_path(self.label, parent),
        }
    }
}

/// The marker error the locator raises at its target.
const FOUND: &str = "\u{1}sparklink-locate\u{1}";

/// Finds the 1-based line and column of the node at `segs` (or of its key
/// when `at_key`), by failing on purpose when the deserializer reaches it.
pub(crate) fn locate(text: &str, segs: &[Seg], at_key: bool) -> Option<(usize, usize)> {
    if segs.is_empty() && at_key {
        return None;
    }
    let seed = Locate { segs, at_key };
    match seed.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Ok(()) => None,
        Err(err) => {
            if err.to_string().contains(FOUND) {
                err.location().map(|l| (l.line(), l.column()))
            } else {
                None
            }
        }
    }
}

struct Locate<'p> {
    segs: &'p [Seg],
    at_key: bool,
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Locate<'_> {
    fn here<E: de::Error>(&self) -> Result<(), E> {
        if self.segs.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.here()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.here()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.here()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.here()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.here()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged node (`!vault |`): the tag is transparent for paths.
        if self.segs.is_empty() {
            return Err(de::Error::custom(FOUND));
        }
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (target, rest) = match self.segs.split_first() {
            None => return Err(de::Error::custom(FOUND)),
            Some((Seg::Index(i), rest)) => (*i, rest),
            Some((Seg::Key(_), _)) => return Ok(()),
        };
        for _ in 0..target {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        if rest.is_empty() && self.at_key {
            return Ok(());
        }
        seq.next_element_seed(Locate {
            segs: rest,
            at_key: self.at_key,
        })?;
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (target, rest) = match self.segs.split_first() {
            None => return Err(de::Error::custom(FOUND)),
            Some((Seg::Key(key), rest)) => (key.as_str(), rest),
            Some((Seg::Index(_), _)) => return Ok(()),
        };
        let fail_on_key = rest.is_empty() && self.at_key;
        while let Some(key) = map.next_key_seed(KeySeed {
            fail_on: fail_on_key.then_some(target),
        })? {
            if key == target {
                map.next_value_seed(Locate {
                    segs: rest,
                    at_key: self.at_key,
                })?;
                return Ok(());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Reads a map key as the string [`key_string`] would give, failing with
/// the marker when it equals `fail_on`.
struct KeySeed<'t> {
    fail_on: Option<&'t str>,
}

impl KeySeed<'_> {
    fn check<E: de::Error>(&self, key: String) -> Result<String, E> {
        if self.fail_on == Some(key.as_str()) {
            Err(E::custom(FOUND))
        } else {
            Ok(key)
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.check(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.check(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.check(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.check(float_string(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.check(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.check("null".to_string())
    }
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        self.check("null".to_string())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<String, A::Error> {
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

/// How a float key or value reads as text.
fn float_string(v: f64) -> String {
    if v.is_nan() {
        ".nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        v.to_string()
    }
}

/// A map key as a string: scalars as written, other keys as compact JSON
/// (never seen in real files, but never a panic either).
pub(crate) fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Number(n) => number_string(n),
        Value::Tagged(tagged) => key_string(&tagged.value),
        Value::Sequence(_) | Value::Mapping(_) => String::new(),
    }
}

fn number_string(n: &serde_yaml::Number) -> String {
    if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        float_string(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Converts a YAML value to JSON. Tags are dropped (`!vault |` keeps its
/// text), keys become strings, and non-finite floats become their YAML text.
pub(crate) fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                J::from(u)
            } else if let Some(i) = n.as_i64() {
                J::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .unwrap_or_else(|| J::String(float_string(f)))
            }
        }
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Mapping(map) => J::Object(to_vars(map)),
        Value::Tagged(tagged) => to_json(&tagged.value),
    }
}

/// Converts a YAML map to variables (keys as strings, later keys win).
pub(crate) fn to_vars(map: &serde_yaml::Mapping) -> Vars {
    map.iter()
        .map(|(k, v)| (key_string(k), to_json(v)))
        .collect()
}

/// Strips tags: `!unsafe 'x'` is the string `x` for every check here.
pub(crate) fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

/// "a list", "a map", "the string `maybe`"...: what a value is, for messages.
pub(crate) fn describe(value: &Value) -> String {
    match untag(value) {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) => format!("the number `{}`", number_string(n)),
        Value::String(s) => format!("the string `{}`", shorten(s, 40)),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a map".to_string(),
        Value::Tagged(_) => "a tagged value".to_string(),
    }
}

/// The first line of `text`, cut to `max` characters with `...`.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let cut = line.chars().count() > max || line.len() < text.trim_end().len();
    if cut {
        let head: String = line.chars().take(max.saturating_sub(3)).collect();
        format!("{}...", head.trim_end())
    } else {
        line.to_string()
    }
}

/// A scalar as a string (strings, numbers, booleans); `None` otherwise.
pub(crate) fn scalar_string(value: &Value) -> Option<String> {
    match untag(value) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(number_string(n)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The closest candidate to `word`, if it is close enough to be a typo.
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = match word.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent swap as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

/// Generators of hostile input for the parsers' no-panic tests.
#[cfg(test)]
pub(crate) mod arbitrary {
    use proptest::prelude::*;
    use serde_yaml::Value;

    /// A YAML map from string keys.
    pub fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Mapping(
            entries
                .into_iter()
                .map(|(k, v)| (Value::String(k.to_string()), v))
                .collect(),
        )
    }

    /// A YAML string.
    pub fn text(s: &str) -> Value {
        Value::String(s.to_string())
    }

    /// A document as text.
    pub fn render(value: &Value) -> String {
        serde_yaml::to_string(value).unwrap_or_default()
    }

    /// Any scalar: mostly sensible, sometimes not.
    pub fn scalar(words: &'static [&'static str]) -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => prop::sample::select(words).prop_map(text),
            1 => Just(Value::Null),
            1 => any::<bool>().prop_map(Value::Bool),
            1 => prop_oneof![Just(0i64), Just(22), Just(70000), any::<i64>()]
                .prop_map(|n| Value::Number(n.into())),
        ]
    }

    /// A random YAML document built from `keys` and awkward scalars, as
    /// text: right shapes in wrong places, wrong types, odd numbers.
    pub fn document(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
        let scalar = prop_oneof![
            Just(serde_yaml::Value::Null),
            any::<bool>().prop_map(serde_yaml::Value::Bool),
            prop_oneof![Just(0i64), Just(-1), Just(22), Just(70000), any::<i64>()]
                .prop_map(|n| serde_yaml::Value::Number(n.into())),
            any::<f64>().prop_map(|f| serde_yaml::Value::Number(f.into())),
            prop::sample::select(keys).prop_map(|k| serde_yaml::Value::String(k.to_string())),
            ".{0,12}".prop_map(serde_yaml::Value::String),
        ];
        let value = scalar.prop_recursive(5, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_yaml::Value::Sequence),
                prop::collection::vec((prop::sample::select(keys), inner), 0..6).prop_map(
                    |entries| {
                        serde_yaml::Value::Mapping(
                            entries
                                .into_iter()
                                .map(|(k, v)| (serde_yaml::Value::String(k.to_string()), v))
                                .collect(),
                        )
                    }
                ),
            ]
        });
        value.prop_map(|v| serde_yaml::to_string(&v).unwrap_or_default())
    }

    /// Random lines of YAML-ish text (indentation, anchors, aliases, tags,
    /// flow brackets, merge keys, complex keys), mostly not valid YAML.
    pub fn lines(words: &'static [&'static str]) -> impl Strategy<Value = String> {
        let punctuation: &'static [&'static str] = &[
            "",
            ":",
            ": ",
            "- ",
            "&a ",
            "*a",
            "<<: *a",
            "!tag ",
            "!!str ",
            "? ",
            "[",
            "]",
            "{",
            "}",
            ", ",
            "'",
            "\"",
            "|",
            ">",
            "#",
            "\t",
            "---",
            "...",
            "%YAML 1.2",
            "~",
            ": null",
        ];
        let piece = prop_oneof![
            prop::sample::select(words),
            prop::sample::select(punctuation),
        ];
        let line = (0usize..8, prop::collection::vec(piece, 0..6))
            .prop_map(|(indent, pieces)| format!("{}{}", " ".repeat(indent), pieces.concat()));
        prop::collection::vec(line, 0..14).prop_map(|lines| lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source<'_> {
        Source {
            file: Path::new("f.yml"),
            text,
            label: "plays",
        }
    }

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }

    #[test]
    fn locates_values_keys_and_items() {
        let text = "- name: a\n  hosts: all\n  tasks:\n    - command: ls\n    - comand: ls\n";
        let s = src(text);
        let task1 = [Seg::Index(0), key("tasks"), Seg::Index(1)];
        assert_eq!(s.place(&task1, false).line_col, Some((5, 7)));
        let typo = [Seg::Index(0), key("tasks"), Seg::Index(1), key("comand")];
        assert_eq!(s.place(&typo, true).line_col, Some((5, 7)));
        assert_eq!(s.place(&typo, false).line_col, Some((5, 15)));
        assert_eq!(s.place_of_key(&typo).key_path, "plays[0].tasks[1]");
        let hosts = [Seg::Index(0), key("hosts")];
        assert_eq!(s.place(&hosts, false).line_col, Some((2, 10)));
        assert_eq!(s.place(&[Seg::Index(0)], false).line_col, Some((1, 3)));
        // Not there: no position, no panic.
        assert_eq!(s.place(&[Seg::Index(7)], false).line_col, None);
        assert_eq!(s.place(&[key("x")], true).line_col, None);
    }

    #[test]
    fn locates_flow_nodes_and_scalar_keys() {
        let text = "{a: [1, {b: c}], 2: x}";
        assert_eq!(
            locate(text, &[key("a"), Seg::Index(1), key("b")], false),
            Some((1, 13))
        );
        assert_eq!(locate(text, &[key("2")], true), Some((1, 18)));
    }

    #[test]
    fn syntax_errors_carry_position_without_repeating_it() {
        let err = src("- a: b\n  c: [\n").parse().unwrap_err();
        assert!(err.place.line_col.is_some());
        assert!(
            !err.message.contains(" at line 3 column 1"),
            "{}",
            err.message
        );
    }

    #[test]
    fn merge_keys_are_applied() {
        let value = src("base: &b {x: 1}\nthis:\n  <<: *b\n  y: 2\n")
            .parse()
            .unwrap();
        assert_eq!(to_json(&value["this"]), serde_json::json!({"y": 2, "x": 1}));
    }

    #[test]
    fn suggestions_catch_small_typos_only() {
        let modules = ["command", "copy", "shell", "template"];
        assert_eq!(suggest("comand", &modules), Some("command"));
        assert_eq!(suggest("shel", &modules), Some("shell"));
        assert_eq!(suggest("tempalte", &modules), Some("template"));
        assert_eq!(suggest("banana", &modules), None);
        assert_eq!(suggest("cp", &modules), None);
    }

    #[test]
    fn shorten_cuts_long_and_multi_line_text() {
        assert_eq!(shorten("ls -l", 10), "ls -l");
        assert_eq!(shorten("echo one\necho two", 40), "echo one...");
        assert_eq!(shorten("abcdefghijklmnop", 10), "abcdefg...");
    }
}
