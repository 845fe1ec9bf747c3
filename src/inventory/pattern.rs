//! Ansible host patterns: what a play's `hosts:` and `--limit` mean.
//!
//! A pattern is a list of terms separated by `,` (or by `:` when there is no
//! comma): `all`, `*`, group names, host names, shell wildcards (`spark-*`,
//! `node-?`), each optionally prefixed with `!` (exclude) or `&`
//! (intersect) and suffixed with a subscript (`sparks[0]`, `sparks[-1]`,
//! `sparks[1:3]`, end included, as in Ansible). Plain terms are joined,
//! then `&` terms intersect, then `!` terms remove; a pattern with only `!`
//! and `&` terms starts from `all`. Regex terms (`~...`) and limit files
//! (`@file`) are not supported.

use super::{Host, Inventory, InventoryError};

/// A parsed host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    text: String,
    terms: Vec<Term>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    op: Op,
    name: String,
    subscript: Option<Subscript>,
}

/// `[i]` picks one host (negative counts from the end); `[a:b]` a range,
/// both ends included, either end optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Index(i64),
    Range(Option<usize>, Option<usize>),
}

fn invalid(pattern: &str, reason: impl Into<String>) -> InventoryError {
    InventoryError::BadPattern {
        pattern: pattern.to_string(),
        reason: reason.into(),
    }
}

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Pattern, InventoryError> {
        let mut terms = Vec::new();
        for piece in split(text)? {
            let piece = piece.trim();
            if piece.is_empty() {
                continue;
            }
            terms.push(parse_term(text, piece)?);
        }
        if terms.is_empty() {
            return Err(invalid(
                text,
                "it names no hosts; write `all`, a group name or a host name",
            ));
        }
        Ok(Pattern {
            text: text.to_string(),
            terms,
        })
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// Splits on `,` if there is one (so IPv6 addresses survive), else on `:`,
/// never inside `[...]`.
fn split(text: &str) -> Result<Vec<&str>, InventoryError> {
    let separator = if text.contains(',') { ',' } else { ':' };
    let mut pieces = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    invalid(text, "`]` without `[`; subscripts look like `sparks[0]`")
                })?;
            }
            c if c == separator && depth == 0 => {
                pieces.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(invalid(
            text,
            "`[` without `]`; subscripts look like `sparks[0]` or `sparks[0:2]`",
        ));
    }
    pieces.push(&text[start..]);
    Ok(pieces)
}

fn parse_term(pattern: &str, piece: &str) -> Result<Term, InventoryError> {
    let (op, rest) = if let Some(rest) = piece.strip_prefix('!') {
        (Op::Exclude, rest)
    } else if let Some(rest) = piece.strip_prefix('&') {
        (Op::Intersect, rest)
    } else {
        (Op::Union, piece)
    };
    let (name, subscript) = match rest.find('[') {
        Some(open) => {
            let inner = rest[open + 1..].strip_suffix(']').ok_or_else(|| {
                invalid(
                    pattern,
                    format!(
                        "`{piece}` has text after its subscript; write `name[0]` or `name[0:2]`"
                    ),
                )
            })?;
            (&rest[..open], Some(parse_subscript(pattern, piece, inner)?))
        }
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(invalid(
            pattern,
            format!("`{piece}` has no name; write e.g. `!spark-2` or `&sparks`"),
        ));
    }
    if name.starts_with('~') {
        return Err(invalid(
            pattern,
            "regex patterns (`~...`) are not supported; use wildcards like `spark-*`",
        ));
    }
    if name.starts_with('@') {
        return Err(invalid(
            pattern,
            "limit files (`@file`) are not supported; list the hosts, separated by `,`",
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '!' | '&' | '[' | ']'))
    {
        return Err(invalid(
            pattern,
            format!(
                "`{piece}` contains `{bad}`; separate names with `,` and put `!` or `&` only at the start of a name"
            ),
        ));
    }
    Ok(Term {
        op,
        name: name.to_string(),
        subscript,
    })
}

fn parse_subscript(pattern: &str, piece: &str, inner: &str) -> Result<Subscript, InventoryError> {
    let bad = || {
        invalid(
            pattern,
            format!("bad subscript in `{piece}`; write `[0]`, `[-1]`, `[1:3]`, `[2:]` or `[:2]`"),
        )
    };
    let bound = |s: &str| -> Result<Option<usize>, InventoryError> {
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse::<usize>().map(Some).map_err(|_| bad())
        }
    };
    match inner.split_once(':') {
        Some((a, b)) => Ok(Subscript::Range(bound(a)?, bound(b)?)),
        None => inner
            .parse::<i64>()
            .map(Subscript::Index)
            .map_err(|_| bad()),
    }
}

/// Shell-style match: `*` any run of characters, `?` one character.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn is_wild(name: &str) -> bool {
    name.contains(['*', '?'])
}

impl Inventory {
    /// Hosts (as indexes, in inventory order) matching a parsed pattern.
    pub(crate) fn eval(&self, pattern: &Pattern) -> Result<Vec<usize>, InventoryError> {
        let count = self.hosts.len();
        let mut chosen = vec![false; count];
        let has_union = pattern.terms.iter().any(|t| t.op == Op::Union);
        if !has_union {
            chosen = vec![true; count];
        }
        let ordered = [Op::Union, Op::Intersect, Op::Exclude];
        for op in ordered {
            for term in pattern.terms.iter().filter(|t| t.op == op) {
                let hits = self.term_hosts(term)?;
                let mut hit = vec![false; count];
                for i in hits {
                    hit[i] = true;
                }
                for (c, h) in chosen.iter_mut().zip(&hit) {
                    match op {
                        Op::Union => *c |= *h,
                        Op::Intersect => *c &= *h,
                        Op::Exclude => *c &= !*h,
                    }
                }
            }
        }
        Ok((0..count).filter(|i| chosen[*i]).collect())
    }

    fn term_hosts(&self, term: &Term) -> Result<Vec<usize>, InventoryError> {
        let name = term.name.as_str();
        let hosts = if name == "all" || name == "*" {
            (0..self.hosts.len()).collect()
        } else if let Some(&g) = self.group_index.get(name) {
            self.members[g].clone()
        } else if is_wild(name) {
            let mut hit = vec![false; self.hosts.len()];
            let mut any = false;
            for (g, group) in self.groups.iter().enumerate() {
                if glob_match(name, &group.name) {
                    any = true;
                    for &h in &self.members[g] {
                        hit[h] = true;
                    }
                }
            }
            for (h, host) in self.hosts.iter().enumerate() {
                if glob_match(name, &host.name) {
                    any = true;
                    hit[h] = true;
                }
            }
            if !any {
                return Err(self.no_match(name));
            }
            (0..self.hosts.len()).filter(|h| hit[*h]).collect()
        } else if let Some(&h) = self.host_index.get(name) {
            vec![h]
        } else {
            return Err(self.no_match(name));
        };
        Ok(match term.subscript {
            None => hosts,
            Some(Subscript::Index(i)) => {
                let len = i64::try_from(hosts.len()).unwrap_or(i64::MAX);
                let at = if i < 0 { len + i } else { i };
                usize::try_from(at)
                    .ok()
                    .and_then(|at| hosts.get(at).copied())
                    .into_iter()
                    .collect()
            }
            Some(Subscript::Range(start, end)) => {
                let start = start.unwrap_or(0);
                let end = end.unwrap_or(usize::MAX);
                hosts
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| *i >= start && *i <= end)
                    .map(|(_, h)| h)
                    .collect()
            }
        })
    }

    fn no_match(&self, name: &str) -> InventoryError {
        let groups: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        let hosts: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        let mut every = groups.clone();
        every.extend(&hosts);
        let hint = super::yaml::suggest(name, &every)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        InventoryError::NoMatch {
            name: name.to_string(),
            groups: name_list(&groups),
            hosts: name_list(&hosts),
            hint,
        }
    }
}

/// At most 20 names, then "and N more".
fn name_list(names: &[&str]) -> String {
    const SHOWN: usize = 20;
    let mut out = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

/// A parsed `--limit`: the same pattern language as `hosts:`, applied on
/// top of a play's selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pattern: Pattern,
}

impl Limit {
    /// Parses the pattern; names are checked against the inventory in
    /// [`Limit::apply`].
    pub fn parse(pattern: &str) -> Result<Limit, InventoryError> {
        Pattern::parse(pattern).map(|pattern| Limit { pattern })
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        self.pattern.text()
    }

    /// Keeps the hosts of `hosts` that the limit matches, in their order.
    /// A name in the limit that matches nothing in `inv` is an error.
    pub fn apply<'a>(
        &self,
        inv: &Inventory,
        hosts: Vec<&'a Host>,
    ) -> Result<Vec<&'a Host>, InventoryError> {
        let allowed: std::collections::HashSet<&str> = inv
            .eval(&self.pattern)?
            .into_iter()
            .map(|i| inv.hosts[i].name.as_str())
            .collect();
        Ok(hosts
            .into_iter()
            .filter(|h| allowed.contains(h.name.as_str()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob_match("spark-*", "spark-1"));
        assert!(glob_match("spark-*", "spark-"));
        assert!(glob_match("*", ""));
        assert!(glob_match("s?ark-*1", "spark-11"));
        assert!(glob_match("*-*-*", "a-b-c"));
        assert!(!glob_match("spark-?", "spark-10"));
        assert!(!glob_match("spark", "spark-1"));
        assert!(!glob_match("*x", "abc"));
    }

    #[test]
    fn splits_on_commas_or_colons_but_not_in_subscripts() {
        let p = Pattern::parse("sparks[0:1]:!spark-2:&gpu").unwrap();
        assert_eq!(p.terms.len(), 3);
        assert_eq!(
            p.terms[0].subscript,
            Some(Subscript::Range(Some(0), Some(1)))
        );
        assert_eq!(p.terms[1].op, Op::Exclude);
        assert_eq!(p.terms[2].op, Op::Intersect);
        let v6 = Pattern::parse("fe80::1,").unwrap();
        assert_eq!(v6.terms.len(), 1);
        assert_eq!(v6.terms[0].name, "fe80::1");
    }
}
