//! Variables: the value type every layer shares, and the precedence rules
//! that merge inventory, play, fact, registered and extra variables.

/// A set of named variables. Values keep the shape the YAML gave them.
pub type Vars = serde_json::Map<String, serde_json::Value>;

/// Overlays `higher` on `lower`, key by key: a key in `higher` replaces the
/// same key in `lower` whole (Ansible's default `hash_behaviour=replace`).
pub fn overlay(lower: &mut Vars, higher: &Vars) {
    for (key, value) in higher {
        lower.insert(key.clone(), value.clone());
    }
}
