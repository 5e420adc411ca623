//! What a change does to its key, decided the same way by every store inside its transaction: the merge resolved
//! against the stored override, the key's next version (above both the current document's and every audited
//! version, so a number is never issued twice, not even after a delete), the new document and its audit record.
//! The stores only read the inputs and write the outputs.

use serde_json::{Map, Value};

use crate::config::store::{
    action_of, key_name, Applied, AuditRecord, Change, ConfigDoc, Mutation, StoreError,
};

/// Plans `change` given the key's stored override, the highest version in its audit trail, the time and the id
/// the audit record gets.
pub fn plan_change(
    change: &Change,
    existing: Option<&ConfigDoc>,
    last_audited_version: u64,
    now_ms: i64,
    audit_id: String,
) -> Result<Applied, StoreError> {
    let mutation = change.mutation.clone().resolve(existing)?;
    if matches!(mutation, Mutation::Delete) && existing.is_none() {
        return Err(StoreError::NothingToDelete(key_name(
            &change.strategy_id,
            change.symbol.as_deref(),
        )));
    }
    let version = last_audited_version.max(existing.map_or(0, |d| d.version)) + 1;
    let doc = match &mutation {
        Mutation::Set(parameters) => {
            let mut metadata = Map::new();
            metadata.insert("changed_by".into(), change.changed_by.clone().into());
            metadata.insert(
                "reason".into(),
                change.reason.clone().map_or(Value::Null, Into::into),
            );
            Some(ConfigDoc {
                strategy_id: change.strategy_id.clone(),
                symbol: change.symbol.clone(),
                parameters: parameters.clone(),
                version,
                created_at_ms: existing.map_or(now_ms, |d| d.created_at_ms),
                updated_at_ms: now_ms,
                created_by: change.changed_by.clone(),
                metadata,
            })
        }
        Mutation::Delete | Mutation::Merge { .. } => None,
    };
    let audit = AuditRecord {
        id: audit_id,
        strategy_id: change.strategy_id.clone(),
        symbol: change.symbol.clone(),
        action: action_of(&mutation, existing.is_some()).to_owned(),
        operation: change.operation.to_owned(),
        old_parameters: existing.map(|d| d.parameters.clone()),
        old_version: existing.map(|d| d.version),
        new_parameters: doc.as_ref().map(|d| d.parameters.clone()),
        version,
        changed_by: change.changed_by.clone(),
        changed_at_ms: now_ms,
        reason: change.reason.clone(),
        issuer: change.issuer.clone(),
    };
    Ok(Applied { doc, audit })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(mutation: Mutation) -> Change {
        Change {
            strategy_id: "orderbook_skew".into(),
            symbol: Some("BTCUSDT".into()),
            mutation,
            changed_by: "quant".into(),
            reason: Some("tune".into()),
            operation: "set",
            issuer: None,
            rate_limit: None,
        }
    }

    fn params(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn versions_continue_above_the_audit_trail_even_after_a_delete() {
        let created = plan_change(
            &change(Mutation::Set(params(json!({"top_levels": 6})))),
            None,
            7,
            1_000,
            "a".into(),
        )
        .unwrap();
        assert_eq!(created.audit.version, 8);
        assert_eq!(created.audit.action, "CREATE");
        assert_eq!(created.audit.old_version, None);
        let doc = created.doc.unwrap();
        assert_eq!((doc.created_at_ms, doc.updated_at_ms), (1_000, 1_000));

        let updated = plan_change(
            &change(Mutation::Set(params(json!({"top_levels": 7})))),
            Some(&doc),
            8,
            2_000,
            "b".into(),
        )
        .unwrap();
        assert_eq!(updated.audit.action, "UPDATE");
        assert_eq!(updated.audit.version, 9);
        assert_eq!(updated.audit.old_parameters, Some(doc.parameters.clone()));
        assert_eq!(updated.doc.as_ref().unwrap().created_at_ms, 1_000);

        let deleted =
            plan_change(&change(Mutation::Delete), Some(&doc), 9, 3_000, "c".into()).unwrap();
        assert_eq!(deleted.audit.action, "DELETE");
        assert_eq!(deleted.audit.version, 10);
        assert!(deleted.doc.is_none() && deleted.audit.new_parameters.is_none());
    }

    #[test]
    fn deleting_nothing_is_refused() {
        let r = plan_change(&change(Mutation::Delete), None, 3, 0, "x".into());
        assert!(matches!(r, Err(StoreError::NothingToDelete(_))));
    }

    #[test]
    fn a_merge_that_removes_every_field_deletes_the_key() {
        let existing = plan_change(
            &change(Mutation::Set(params(json!({"top_levels": 6})))),
            None,
            0,
            0,
            "a".into(),
        )
        .unwrap()
        .doc
        .unwrap();
        let merge = Mutation::Merge {
            patch: params(json!({"top_levels": null})),
            check: std::sync::Arc::new(|_| Ok(())),
        };
        let planned = plan_change(&change(merge), Some(&existing), 1, 5, "b".into()).unwrap();
        assert_eq!(planned.audit.action, "DELETE");
        assert_eq!(planned.audit.version, 2);
    }
}
