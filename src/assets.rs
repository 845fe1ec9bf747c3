//! The playbooks and templates shipped in `playbooks/` and `templates/`,
//! compiled into the binary so an installed sparklink works from any folder.
//! A `templates/` folder in the working directory still wins, so users can
//! override a template without rebuilding.

use crate::config::Source;

/// `sparklink up`: connect.yml, then env.yml's play.
pub const CONNECT: Builtin = Builtin(
    "connect.yml",
    concat!(
        include_str!("../playbooks/connect.yml"),
        include_str!("../playbooks/env.yml")
    ),
);
/// `sparklink env`.
pub const ENV: Builtin = Builtin("env.yml", include_str!("../playbooks/env.yml"));
/// `sparklink down`.
pub const DISCONNECT: Builtin = Builtin(
    "disconnect.yml",
    include_str!("../playbooks/disconnect.yml"),
);
/// `sparklink verify`.
pub const VERIFY: Builtin = Builtin("verify.yml", include_str!("../playbooks/verify.yml"));

/// Every built-in playbook.
pub const PLAYBOOKS: &[Builtin] = &[CONNECT, DISCONNECT, VERIFY, ENV];

/// Built-in templates by file name.
pub const TEMPLATES: &[(&str, &str)] = &[(
    "40-cx7.yaml.j2",
    include_str!("../templates/40-cx7.yaml.j2"),
)];

/// A playbook compiled in: file name and text.
#[derive(Clone, Copy, Debug)]
pub struct Builtin(pub &'static str, pub &'static str);

impl Builtin {
    /// As a playbook source.
    pub fn source(self) -> Source<'static> {
        Source::Embedded {
            name: self.0,
            text: self.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::playbook::Playbook;

    #[test]
    fn every_built_in_playbook_parses() {
        for Builtin(name, text) in PLAYBOOKS {
            if let Err(e) = Playbook::parse(Path::new(name), text, crate::modules::NAMES) {
                panic!("{name}: {e}");
            }
        }
    }
}
