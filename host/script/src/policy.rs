//! Dependency policies (spec §6.4): may a node read an upstream node's output, and which run's?
//!
//! This module compiles `dependency_policies` and evaluates them over run/node events.
//!
//! Two variable vocabularies are accepted, detected by the alias the rules use (mixing them in
//! one policy is an error):
//!
//! * `nrs.run_id` (int), `nrs.run_is_current` (bool), `nrs.run_status` (int),
//!   `nrs.node_status` (int) — Capillaries ≥ 1.2;
//! * `e.run_id`, `e.run_is_current`, `e.run_start_ts`, `e.run_final_status`,
//!   `e.run_completed_ts`, `e.run_stopped_ts`, `e.node_is_started`, `e.node_start_ts`,
//!   `e.node_status`, `e.node_status_ts` — older scripts.
//!
//! Constants: `wfmodel.RunNone/RunStart/RunComplete/RunStop` = 0..3 and
//! `wfmodel.NodeBatchNone/NodeBatchStart/NodeBatchSuccess/NodeBatchFail` = 0..3,
//! `wfmodel.NodeBatchRunStopReceived` = 104.
//!
//! Rules are evaluated over one event row in environment slot [`POLICY_ALIAS`], laid out as
//! [`EVENT_FIELDS`] (both vocabularies map into it; `e.run_final_status` is `run_status`).

use crate::index::parse_order;
use crate::keys::row_key;
use crate::model::{DepCmd, DependencyPolicy, DependencyRule, PolicyVocabulary};
use crate::raw::{RawPolicy, decode, unknown_paths};
use std::cell::RefCell;
use std::collections::BTreeSet;
use vessel_core::{DateTime, FieldType, Schema, Value, time};
use vessel_expr::{CompileOptions, Compiled, Resolved, Scope, VarSlot};

/// Environment slot of the event row in rule expressions.
pub const POLICY_ALIAS: usize = 0;

/// Name of Capillaries' default policy, used when a script has no `dependency_policies`.
pub const DEFAULT_POLICY_NAME: &str = "current_active_first_stopped_nogo";

/// Layout of the event row: `(name, type)` by slot index.
pub const EVENT_FIELDS: [(&str, FieldType); 10] = [
    ("run_id", FieldType::Int),
    ("run_is_current", FieldType::Bool),
    ("run_status", FieldType::Int),
    ("node_status", FieldType::Int),
    ("run_start_ts", FieldType::DateTime),
    ("run_completed_ts", FieldType::DateTime),
    ("run_stopped_ts", FieldType::DateTime),
    ("node_is_started", FieldType::Bool),
    ("node_start_ts", FieldType::DateTime),
    ("node_status_ts", FieldType::DateTime),
];

/// `nrs.*` names → event row slot.
const NRS_FIELDS: [(&str, usize); 4] = [
    ("run_id", 0),
    ("run_is_current", 1),
    ("run_status", 2),
    ("node_status", 3),
];

/// `e.*` names → event row slot.
const E_FIELDS: [(&str, usize); 10] = [
    ("run_id", 0),
    ("run_is_current", 1),
    ("run_start_ts", 4),
    ("run_final_status", 2),
    ("run_completed_ts", 5),
    ("run_stopped_ts", 6),
    ("node_is_started", 7),
    ("node_start_ts", 8),
    ("node_status", 3),
    ("node_status_ts", 9),
];

/// `wfmodel.*` constants.
const WFMODEL: [(&str, i64); 9] = [
    ("RunNone", 0),
    ("RunStart", 1),
    ("RunComplete", 2),
    ("RunStop", 3),
    ("NodeBatchNone", 0),
    ("NodeBatchStart", 1),
    ("NodeBatchSuccess", 2),
    ("NodeBatchFail", 3),
    ("NodeBatchRunStopReceived", 104),
];

impl PolicyVocabulary {
    /// The alias rules use (`nrs` or `e`).
    pub fn alias(self) -> &'static str {
        match self {
            PolicyVocabulary::Nrs => "nrs",
            PolicyVocabulary::E => "e",
        }
    }

    fn fields(self) -> &'static [(&'static str, usize)] {
        match self {
            PolicyVocabulary::Nrs => &NRS_FIELDS,
            PolicyVocabulary::E => &E_FIELDS,
        }
    }

    /// The ordering used when a policy has no `event_priority_order`.
    pub fn default_order(self) -> &'static str {
        match self {
            PolicyVocabulary::Nrs => "run_is_current(desc), run_id(desc)",
            PolicyVocabulary::E => "run_is_current(desc), node_start_ts(desc)",
        }
    }

    /// Schema of the names visible in this vocabulary (for `event_priority_order`).
    fn schema(self) -> Schema {
        Schema::new(
            self.fields()
                .iter()
                .map(|(n, slot)| (n.to_string(), EVENT_FIELDS[*slot].1))
                .collect(),
        )
    }
}

impl DepCmd {
    /// Script spelling (`go`, `wait`, `nogo`).
    pub fn name(self) -> &'static str {
        match self {
            DepCmd::Go => "go",
            DepCmd::Wait => "wait",
            DepCmd::NoGo => "nogo",
        }
    }

    /// Parses the script spelling.
    pub fn parse(s: &str) -> Option<DepCmd> {
        match s {
            "go" => Some(DepCmd::Go),
            "wait" => Some(DepCmd::Wait),
            "nogo" => Some(DepCmd::NoGo),
            _ => None,
        }
    }
}

impl std::fmt::Display for DepCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One run of an upstream node, as seen by a dependency check.
#[derive(Debug, Clone, PartialEq)]
pub struct DepEvent {
    /// The run.
    pub run_id: i32,
    /// True when `run_id` is the run of the batch being checked.
    pub run_is_current: bool,
    /// Run status (0 none, 1 start, 2 complete, 3 stop; stop > complete > start priority).
    pub run_status: i64,
    /// Status of the upstream node in that run (0 none, 1 start, 2 success, 3 fail, 104 stop
    /// received).
    pub node_status: i64,
    /// When the run started (zero time if unknown).
    pub run_start_ts: DateTime,
    /// When the run completed (zero time if not).
    pub run_completed_ts: DateTime,
    /// When the run was stopped (zero time if not).
    pub run_stopped_ts: DateTime,
    /// True when the upstream node has started in that run.
    pub node_is_started: bool,
    /// When the upstream node started (zero time if not).
    pub node_start_ts: DateTime,
    /// When the upstream node's status last changed (zero time if never).
    pub node_status_ts: DateTime,
}

impl DepEvent {
    /// An event with the four `nrs` fields set and every timestamp at the zero time.
    pub fn new(run_id: i32, run_is_current: bool, run_status: i64, node_status: i64) -> Self {
        DepEvent {
            run_id,
            run_is_current,
            run_status,
            node_status,
            run_start_ts: time::zero(),
            run_completed_ts: time::zero(),
            run_stopped_ts: time::zero(),
            node_is_started: node_status != 0,
            node_start_ts: time::zero(),
            node_status_ts: time::zero(),
        }
    }

    /// The event as a row laid out as [`EVENT_FIELDS`].
    pub fn to_row(&self) -> Vec<Value> {
        vec![
            Value::Int(i64::from(self.run_id)),
            Value::Bool(self.run_is_current),
            Value::Int(self.run_status),
            Value::Int(self.node_status),
            Value::DateTime(self.run_start_ts),
            Value::DateTime(self.run_completed_ts),
            Value::DateTime(self.run_stopped_ts),
            Value::Bool(self.node_is_started),
            Value::DateTime(self.node_start_ts),
            Value::DateTime(self.node_status_ts),
        ]
    }
}

/// Errors of policy compilation and evaluation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The policy definition is invalid; one `(field, message)` per problem.
    #[error("invalid dependency policy: {}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    /// A rule failed at run time.
    #[error("rule {rule} ({expr}) failed on run {run_id}: {message}")]
    Eval {
        /// 1-based rule number.
        rule: usize,
        /// The rule's expression.
        expr: String,
        /// Run of the event being tested.
        run_id: i32,
        /// What went wrong.
        message: String,
    },
}

/// Scope of rule expressions: both vocabularies and `wfmodel.*`, remembering which vocabulary
/// was used.
struct PolicyScope {
    used: RefCell<BTreeSet<&'static str>>,
    misses: RefCell<Vec<(String, String)>>,
}

impl Scope for PolicyScope {
    fn resolve(&self, alias: &str, field: &str) -> Option<Resolved> {
        if alias == "wfmodel" {
            return WFMODEL
                .iter()
                .find(|(n, _)| *n == field)
                .map(|(_, v)| Resolved::Const(Value::Int(*v)));
        }
        for voc in [PolicyVocabulary::Nrs, PolicyVocabulary::E] {
            if alias == voc.alias() {
                self.used.borrow_mut().insert(voc.alias());
                if let Some((_, slot)) = voc.fields().iter().find(|(n, _)| *n == field) {
                    return Some(Resolved::Var(
                        VarSlot {
                            alias: POLICY_ALIAS,
                            index: *slot,
                        },
                        EVENT_FIELDS[*slot].1,
                    ));
                }
            }
        }
        self.misses
            .borrow_mut()
            .push((alias.to_string(), field.to_string()));
        None
    }
}

fn vocabulary_hint(alias: &str) -> String {
    match alias {
        "wfmodel" => format!(
            "wfmodel has {}",
            WFMODEL
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "nrs" | "e" => {
            let voc = if alias == "nrs" {
                PolicyVocabulary::Nrs
            } else {
                PolicyVocabulary::E
            };
            format!(
                "{alias} has {}",
                voc.fields()
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        _ => "dependency rules can use nrs.* (or the older e.*) and wfmodel.* only".to_string(),
    }
}

/// Capillaries' default policy (`current_active_first_stopped_nogo`, conformance §0.8): prefer
/// the current run's output, else the newest earlier run that produced it; failed or stopped
/// producers block consumption. Used when a script has no `dependency_policies` section
/// (Capillaries requires one; accepting its absence is our convenience).
pub fn default_policy_json() -> serde_json::Value {
    const RUN_START_OR_NONE: &str =
        "(nrs.run_status == wfmodel.RunStart || nrs.run_status == wfmodel.RunNone)";
    let rules: Vec<serde_json::Value> = [
        (
            "go",
            "true",
            "nrs.run_status == wfmodel.RunStart",
            "NodeBatchSuccess",
        ),
        ("wait", "true", RUN_START_OR_NONE, "NodeBatchNone"),
        ("wait", "true", RUN_START_OR_NONE, "NodeBatchStart"),
        (
            "nogo",
            "true",
            "nrs.run_status == wfmodel.RunStart",
            "NodeBatchFail",
        ),
        (
            "go",
            "false",
            "nrs.run_status == wfmodel.RunStart",
            "NodeBatchSuccess",
        ),
        ("wait", "false", RUN_START_OR_NONE, "NodeBatchNone"),
        ("wait", "false", RUN_START_OR_NONE, "NodeBatchStart"),
        (
            "go",
            "false",
            "nrs.run_status == wfmodel.RunComplete",
            "NodeBatchSuccess",
        ),
        (
            "nogo",
            "false",
            "nrs.run_status == wfmodel.RunComplete",
            "NodeBatchFail",
        ),
    ]
    .iter()
    .map(|(cmd, current, run, node)| {
        serde_json::json!({
            "cmd": cmd,
            "expression": format!(
                "nrs.run_is_current == {current} && {run} && nrs.node_status == wfmodel.{node}"
            ),
        })
    })
    .chain(std::iter::once(serde_json::json!({
        "cmd": "nogo",
        "expression": "nrs.run_is_current == false && nrs.run_status == wfmodel.RunStop",
    })))
    .collect();
    serde_json::json!({
        "is_default": true,
        "event_priority_order": "run_is_current(desc), run_id(desc)",
        "rules": rules,
    })
}

impl DependencyPolicy {
    /// Compiles a policy from its script JSON.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`] listing every problem (field path relative to the policy).
    pub fn from_json(name: &str, v: &serde_json::Value) -> Result<DependencyPolicy, PolicyError> {
        let raw: RawPolicy =
            decode(v).map_err(|m| PolicyError::Invalid(vec![(String::new(), m)]))?;
        DependencyPolicy::from_raw(name, &raw).map_err(PolicyError::Invalid)
    }

    /// Compiles a decoded policy. Unknown keys are ignored here (the loader reports them).
    ///
    /// # Errors
    /// Every problem as `(field path relative to the policy, message)`.
    pub fn from_raw(
        name: &str,
        raw: &RawPolicy,
    ) -> Result<DependencyPolicy, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let scope = PolicyScope {
            used: RefCell::new(BTreeSet::new()),
            misses: RefCell::new(Vec::new()),
        };
        let mut rules = Vec::new();
        if raw.rules.is_empty() {
            errors.push((
                "rules".to_string(),
                "a policy needs at least one rule; nothing would ever match".to_string(),
            ));
        }
        for (i, r) in raw.rules.iter().enumerate() {
            let field = format!("rules[{i}]");
            let cmd = DepCmd::parse(&r.cmd);
            if cmd.is_none() {
                errors.push((
                    format!("{field}.cmd"),
                    format!("unknown command '{}'; use go, wait or nogo", r.cmd),
                ));
            }
            scope.misses.borrow_mut().clear();
            match Compiled::compile(&r.expression, &scope, CompileOptions::default()) {
                Ok(expr) => {
                    if expr.field_type() != Some(FieldType::Bool) {
                        errors.push((
                            format!("{field}.expression"),
                            format!(
                                "a rule must be a bool expression, this one is {}",
                                type_name(expr.field_type())
                            ),
                        ));
                    } else if let Some(cmd) = cmd {
                        rules.push(DependencyRule { cmd, expr });
                    }
                }
                Err(e) => {
                    let mut msg = e.to_string();
                    let alias = scope
                        .misses
                        .borrow()
                        .iter()
                        .find(|(a, f)| msg.contains(&format!("{a}.{f}")))
                        .map(|(a, _)| a.clone());
                    if let Some(a) = alias {
                        msg = format!("{msg}; {}", vocabulary_hint(&a));
                    }
                    errors.push((format!("{field}.expression"), msg));
                }
            }
        }
        let used = scope.used.into_inner();
        let vocabulary = if used.contains("nrs") && used.contains("e") {
            errors.push((
                "rules".to_string(),
                "rules mix nrs.* and e.* variables; use nrs.* (run_id, run_is_current, \
                 run_status, node_status) throughout"
                    .to_string(),
            ));
            PolicyVocabulary::Nrs
        } else if used.contains("e") {
            PolicyVocabulary::E
        } else if used.contains("nrs") {
            PolicyVocabulary::Nrs
        } else {
            // No variable in any rule: let the ordering decide, nrs by default.
            let order = raw.event_priority_order.as_deref().unwrap_or("");
            if parse_order(order, &PolicyVocabulary::Nrs.schema()).is_err()
                && parse_order(order, &PolicyVocabulary::E.schema()).is_ok()
            {
                PolicyVocabulary::E
            } else {
                PolicyVocabulary::Nrs
            }
        };
        let order_src = raw
            .event_priority_order
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(vocabulary.default_order());
        let order = match parse_order(order_src, &vocabulary.schema()) {
            Ok(mut comps) => {
                for c in &mut comps {
                    c.field_idx = vocabulary.fields()[c.field_idx].1;
                }
                comps
            }
            Err(m) => {
                errors.push((
                    "event_priority_order".to_string(),
                    format!("{m} (fields of {}.*)", vocabulary.alias()),
                ));
                Vec::new()
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DependencyPolicy {
            name: name.to_string(),
            is_default: raw.is_default,
            vocabulary,
            order,
            rules,
        })
    }

    /// Decides for one upstream node: orders `events` by `event_priority_order`, then tests
    /// the rules in order on each event; the first rule that holds decides the command and the
    /// run whose output to read. Nothing matching (or no events) means [`DepCmd::Wait`].
    ///
    /// Returns `(command, run id of the matching event, explanation naming the rule)`.
    ///
    /// # Errors
    /// [`PolicyError::Eval`] when a rule cannot be evaluated.
    pub fn decide(
        &self,
        events: &[DepEvent],
    ) -> Result<(DepCmd, Option<i32>, String), PolicyError> {
        let rows: Vec<Vec<Value>> = events.iter().map(DepEvent::to_row).collect();
        let mut order: Vec<(String, usize)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (row_key(&self.order, r), i))
            .collect();
        order.sort();
        for (_, i) in &order {
            let row: &[Value] = &rows[*i];
            let ev = &events[*i];
            for (ri, rule) in self.rules.iter().enumerate() {
                let fail = |message: String| PolicyError::Eval {
                    rule: ri + 1,
                    expr: rule.expr.source().to_string(),
                    run_id: ev.run_id,
                    message,
                };
                match rule.expr.eval(&[row]) {
                    Ok(Value::Bool(true)) => {
                        return Ok((
                            rule.cmd,
                            Some(ev.run_id),
                            format!(
                                "policy '{}' rule {} ({}) matched run {} (run status {}, node \
                                 status {})",
                                self.name,
                                ri + 1,
                                rule.cmd,
                                ev.run_id,
                                run_status_word(ev.run_status),
                                node_status_word(ev.node_status)
                            ),
                        ));
                    }
                    Ok(Value::Bool(false)) => {}
                    Ok(other) => return Err(fail(format!("yielded {other}, not a bool"))),
                    Err(e) => return Err(fail(e.to_string())),
                }
            }
        }
        Ok((
            DepCmd::Wait,
            None,
            format!(
                "policy '{}': no rule matched any of {} run(s); waiting",
                self.name,
                events.len()
            ),
        ))
    }

    /// The sort key of an event under this policy's ordering.
    pub fn event_key(&self, event: &DepEvent) -> String {
        row_key(&self.order, &event.to_row())
    }
}

/// Unknown keys of a raw policy, as paths relative to the policy.
pub(crate) fn policy_unknown_keys(raw: &RawPolicy) -> Vec<String> {
    let mut out = unknown_paths("", &raw.unknown);
    for (i, r) in raw.rules.iter().enumerate() {
        out.extend(unknown_paths(&format!("rules[{i}]"), &r.unknown));
    }
    out
}

pub(crate) fn type_name(t: Option<FieldType>) -> String {
    t.map_or_else(|| "not a value type".to_string(), |t| t.to_string())
}

/// A run status code as a word, as the policy expressions' constants name it
/// (`run_status == 2` is `complete`); an unknown code stays a number.
fn run_status_word(code: i64) -> String {
    match code {
        0 => "none".to_string(),
        1 => "start".to_string(),
        2 => "complete".to_string(),
        3 => "stop".to_string(),
        n => n.to_string(),
    }
}

/// A node status code as a word (`node_status == 3` is `fail`); an unknown code stays a
/// number.
fn node_status_word(code: i64) -> String {
    match code {
        0 => "none".to_string(),
        1 => "start".to_string(),
        2 => "success".to_string(),
        3 => "fail".to_string(),
        104 => "stopreceived".to_string(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::parse_order;
    use serde_json::json;

    #[test]
    fn default_policy_has_ten_rules_in_order() {
        let v = default_policy_json();
        let rules = v["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 10);
        assert_eq!(rules[0]["cmd"], "go");
        assert_eq!(
            rules[0]["expression"],
            "nrs.run_is_current == true && nrs.run_status == wfmodel.RunStart && nrs.node_status == wfmodel.NodeBatchSuccess"
        );
        assert_eq!(
            rules[1]["expression"],
            "nrs.run_is_current == true && (nrs.run_status == wfmodel.RunStart || nrs.run_status == wfmodel.RunNone) && nrs.node_status == wfmodel.NodeBatchNone"
        );
        assert_eq!(rules[8]["cmd"], "nogo");
        assert_eq!(
            rules[9]["expression"],
            "nrs.run_is_current == false && nrs.run_status == wfmodel.RunStop"
        );
        assert_eq!(v["is_default"], true);
    }

    #[test]
    fn event_rows_follow_the_layout() {
        let e = DepEvent::new(7, true, 1, 2);
        let row = e.to_row();
        assert_eq!(row.len(), EVENT_FIELDS.len());
        assert_eq!(row[0], Value::Int(7));
        assert_eq!(row[1], Value::Bool(true));
        assert_eq!(row[3], Value::Int(2));
        for (v, (_, t)) in row.iter().zip(EVENT_FIELDS) {
            assert_eq!(v.field_type(), t);
        }
    }

    #[test]
    fn orderings_sort_current_then_newest() {
        let voc = PolicyVocabulary::Nrs;
        let mut order = parse_order(voc.default_order(), &voc.schema()).unwrap();
        for c in &mut order {
            c.field_idx = voc.fields()[c.field_idx].1;
        }
        let events = [
            DepEvent::new(1, false, 2, 2),
            DepEvent::new(3, true, 1, 0),
            DepEvent::new(2, false, 2, 2),
        ];
        let mut keyed: Vec<(String, i32)> = events
            .iter()
            .map(|e| (row_key(&order, &e.to_row()), e.run_id))
            .collect();
        keyed.sort();
        assert_eq!(keyed.iter().map(|k| k.1).collect::<Vec<_>>(), vec![3, 2, 1]);
        // The older vocabulary orders by node_start_ts, which lives in slot 8.
        let voc = PolicyVocabulary::E;
        let order = parse_order(voc.default_order(), &voc.schema()).unwrap();
        assert_eq!(voc.fields()[order[1].field_idx].1, 8);
    }

    #[test]
    fn cmd_names_round_trip() {
        for c in [DepCmd::Go, DepCmd::Wait, DepCmd::NoGo] {
            assert_eq!(DepCmd::parse(c.name()), Some(c));
        }
        assert_eq!(DepCmd::parse("stop"), None);
        assert_eq!(DepCmd::NoGo.to_string(), "nogo");
    }

    #[test]
    fn default_policy_decides_like_capillaries() {
        let p = DependencyPolicy::from_json(DEFAULT_POLICY_NAME, &default_policy_json()).unwrap();
        assert_eq!(p.vocabulary, PolicyVocabulary::Nrs);
        assert_eq!(p.rules.len(), 10);
        // Current run, upstream succeeded → go on the current run (rule 1).
        let (cmd, run, why) = p
            .decide(&[DepEvent::new(1, false, 2, 2), DepEvent::new(2, true, 1, 2)])
            .unwrap();
        assert_eq!((cmd, run), (DepCmd::Go, Some(2)));
        assert!(why.contains("rule 1 (go) matched run 2"), "{why}");
        // Statuses are told in words, not codes.
        assert!(
            why.contains("run status start, node status success"),
            "{why}"
        );
        // Upstream not in the current run; completed earlier run 1 → go on run 1 (rule 8).
        let (cmd, run, why) = p.decide(&[DepEvent::new(1, false, 2, 2)]).unwrap();
        assert_eq!((cmd, run), (DepCmd::Go, Some(1)));
        assert!(why.contains("rule 8"), "{why}");
        // Current run, upstream still running → wait (rule 3).
        let (cmd, _, why) = p.decide(&[DepEvent::new(4, true, 1, 1)]).unwrap();
        assert_eq!(cmd, DepCmd::Wait);
        assert!(why.contains("rule 3"), "{why}");
        // Current run, upstream failed → nogo (rule 4).
        assert_eq!(
            p.decide(&[DepEvent::new(4, true, 1, 3)]).unwrap().0,
            DepCmd::NoGo
        );
        // Only a stopped (invalidated) earlier run → nogo (rule 10).
        let (cmd, _, why) = p.decide(&[DepEvent::new(1, false, 3, 2)]).unwrap();
        assert_eq!(cmd, DepCmd::NoGo);
        assert!(why.contains("rule 10"), "{why}");
        // Nothing matches → wait.
        assert_eq!(
            p.decide(&[DepEvent::new(1, true, 2, 104)]).unwrap(),
            (
                DepCmd::Wait,
                None,
                "policy 'current_active_first_stopped_nogo': no rule matched any of 1 run(s); waiting".into()
            )
        );
        assert_eq!(p.decide(&[]).unwrap().0, DepCmd::Wait);
    }

    #[test]
    fn older_vocabulary_and_mixing() {
        let p = DependencyPolicy::from_json(
            "old",
            &json!({"is_default": true, "rules": [
                {"cmd": "go", "expression": "e.run_is_current == true && e.run_final_status == wfmodel.RunStart && e.node_status == wfmodel.NodeBatchSuccess"}
            ]}),
        )
        .unwrap();
        assert_eq!(p.vocabulary, PolicyVocabulary::E);
        assert_eq!(p.order.len(), 2);
        assert_eq!(p.order[1].field, "node_start_ts");
        assert_eq!(
            p.decide(&[DepEvent::new(1, true, 1, 2)]).unwrap().0,
            DepCmd::Go
        );

        let e = DependencyPolicy::from_json(
            "mixed",
            &json!({"rules": [
                {"cmd": "go", "expression": "e.run_is_current == true"},
                {"cmd": "maybe", "expression": "nrs.run_id == 1"},
                {"cmd": "go", "expression": "nrs.run_id + 1"}
            ]}),
        )
        .unwrap_err();
        let PolicyError::Invalid(list) = e else {
            panic!()
        };
        let fields: Vec<&str> = list.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"rules[1].cmd"), "{list:?}");
        assert!(fields.contains(&"rules[2].expression"), "{list:?}");
        assert!(
            list.iter().any(|(_, m)| m.contains("mix nrs.* and e.*")),
            "{list:?}"
        );
    }
}
