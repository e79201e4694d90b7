//! Engage audience membership, as Segment Engage sends it to destinations: an identify or
//! track call whose `context.personas` names the audience (`computation_key`, `computation_id`,
//! `computation_class`, `space_id`), with the audience key set to `true` (entered) or `false`
//! (exited) in `traits` (identify) or `properties` (track); or an `Audience Entered` /
//! `Audience Exited` track. Shared by the audience destinations and anything that watches
//! audiences, so "entered" means the same everywhere.

use crate::js::is_truthy;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Entered,
    Exited,
}

impl Change {
    /// Segment's rule: the audience key's value in the properties (or traits), JS-truthy
    /// means entered; a missing key means exited.
    pub fn of(values: Option<&Map<String, Value>>, audience_key: &str) -> Change {
        match values.and_then(|v| v.get(audience_key)).is_some_and(is_truthy) {
            true => Change::Entered,
            false => Change::Exited,
        }
    }
}

/// One membership change read from an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The audience key (`computation_key`), e.g. `high_ltv_customers`.
    pub key: String,
    pub computation_id: Option<String>,
    pub computation_class: Option<String>,
    pub space_id: Option<String>,
    pub change: Change,
}

pub const ENTERED_EVENT: &str = "Audience Entered";
pub const EXITED_EVENT: &str = "Audience Exited";

/// The membership change an Engage event carries, or `None` when it is not one (no
/// `context.personas.computation_key`).
pub fn membership(event: &Value) -> Option<Membership> {
    let personas = event.pointer("/context/personas")?.as_object()?;
    let text = |k: &str| personas.get(k).and_then(Value::as_str).map(str::to_string);
    let key = text("computation_key").filter(|k| !k.is_empty())?;
    let change = match event.get("event").and_then(Value::as_str) {
        Some(ENTERED_EVENT) => Change::Entered,
        Some(EXITED_EVENT) => Change::Exited,
        _ => {
            let values = match event.get("type").and_then(Value::as_str) {
                Some("identify") => event.get("traits"),
                _ => event.get("properties"),
            };
            Change::of(values.and_then(Value::as_object), &key)
        }
    };
    Some(Membership {
        key,
        computation_id: text("computation_id"),
        computation_class: text("computation_class"),
        space_id: text("space_id"),
        change,
    })
}

/// Last change wins per member key, in input order: replaying an event changes nothing, and
/// entered then exited ends exited. Returns, per distinct key in first-seen order, the final
/// change and every input position that concerned it.
pub fn coalesce<K: Eq + std::hash::Hash + Clone>(changes: impl IntoIterator<Item = (K, Change, usize)>) -> Vec<(K, Change, Vec<usize>)> {
    let mut out: Vec<(K, Change, Vec<usize>)> = Vec::new();
    let mut at: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    for (k, change, pos) in changes {
        match at.get(&k) {
            Some(&i) => {
                out[i].1 = change;
                out[i].2.push(pos);
            }
            None => {
                at.insert(k.clone(), out.len());
                out.push((k, change, vec![pos]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(v: Value) -> Option<Membership> {
        membership(&v)
    }

    #[test]
    fn identify_reads_traits_and_track_reads_properties() {
        let personas = json!({"computation_key": "high_ltv", "computation_id": "aud_1", "computation_class": "audience", "space_id": "spa_1"});
        let m = ev(json!({"type": "identify", "traits": {"high_ltv": true}, "context": {"personas": personas}})).unwrap();
        assert_eq!(m, Membership {
            key: "high_ltv".into(),
            computation_id: Some("aud_1".into()),
            computation_class: Some("audience".into()),
            space_id: Some("spa_1".into()),
            change: Change::Entered,
        });
        let m = ev(json!({"type": "identify", "traits": {"high_ltv": false}, "properties": {"high_ltv": true}, "context": {"personas": personas}})).unwrap();
        assert_eq!(m.change, Change::Exited, "identify reads traits, not properties");
        let m = ev(json!({"type": "track", "event": "x", "properties": {"high_ltv": true}, "context": {"personas": personas}})).unwrap();
        assert_eq!(m.change, Change::Entered);
        let m = ev(json!({"type": "track", "event": "x", "properties": {}, "context": {"personas": personas}})).unwrap();
        assert_eq!(m.change, Change::Exited, "a missing key is an exit");
    }

    #[test]
    fn entered_and_exited_tracks() {
        let personas = json!({"computation_key": "churned"});
        let m = ev(json!({"type": "track", "event": "Audience Entered", "properties": {}, "context": {"personas": personas}})).unwrap();
        assert_eq!(m.change, Change::Entered);
        let m = ev(json!({"type": "track", "event": "Audience Exited", "properties": {"churned": true}, "context": {"personas": personas}})).unwrap();
        assert_eq!(m.change, Change::Exited);
        assert_eq!(m.computation_id, None);
    }

    #[test]
    fn not_a_membership_event() {
        assert_eq!(ev(json!({"type": "track", "event": "Order Completed"})), None);
        assert_eq!(ev(json!({"type": "track", "context": {"personas": {"computation_key": ""}}})), None);
        assert_eq!(ev(json!({"type": "track", "context": {"personas": "x"}})), None);
    }

    #[test]
    fn js_truthiness_decides() {
        for (v, c) in [(json!(1), Change::Entered), (json!("yes"), Change::Entered), (json!(0), Change::Exited), (json!(""), Change::Exited), (json!(null), Change::Exited), (json!({}), Change::Entered)] {
            let props = json!({"k": v});
            assert_eq!(Change::of(props.as_object(), "k"), c, "{props}");
        }
    }

    #[test]
    fn last_change_wins() {
        let out = coalesce([("a", Change::Entered, 0), ("b", Change::Entered, 1), ("a", Change::Exited, 2), ("a", Change::Exited, 3)]);
        assert_eq!(out, vec![("a", Change::Exited, vec![0, 2, 3]), ("b", Change::Entered, vec![1])]);
    }
}
