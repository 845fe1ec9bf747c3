//! The playbooks and templates shipped in `playbooks/` and `templates/`,
//! compiled into the binary so an installed sparklink works from any folder.
//! A `templates/` folder in the working directory still wins, so users can
//! override a template without rebuilding.

use crate::config::Source;

/// Built-in playbooks by file name.
pub const PLAYBOOKS: &[(&str, &str)] = &[
    ("connect.yml", include_str!("../playbooks/connect.yml")),
    (
        "disconnect.yml",
        include_str!("../playbooks/disconnect.yml"),
    ),
];

/// Built-in templates by file name.
pub const TEMPLATES: &[(&str, &str)] = &[(
    "40-cx7.yaml.j2",
    include_str!("../templates/40-cx7.yaml.j2"),
)];

/// The built-in playbook `name` (one of [`PLAYBOOKS`]) as a playbook source.
pub fn playbook(name: &'static str) -> Source<'static> {
    let text = PLAYBOOKS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, text)| *text);
    Source::Embedded { name, text }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::playbook::Playbook;

    #[test]
    fn every_built_in_playbook_parses() {
        for (name, text) in PLAYBOOKS {
            if let Err(e) = Playbook::parse(Path::new(name), text, crate::modules::NAMES) {
                panic!("{name}: {e}");
            }
        }
    }
}
