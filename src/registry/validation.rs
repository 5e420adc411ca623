//! JSON Schema errors turned into per-field [`FieldError`]s.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use strategy_sdk::FieldError;

/// Validates `doc` and returns one error per failure, each naming its field by JSON pointer.
///
/// Root-level failures (an unknown field, a missing required field) carry an empty instance path; the field name is
/// then taken from the error kind.
pub fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<FieldError> {
    validator
        .iter_errors(doc)
        .flat_map(|error| {
            let path = error.instance_path().to_string();
            let message = error.to_string();
            let kind = error.kind();
            let rule = rule_name(kind);
            let fields: Vec<String> = match kind {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    unexpected.iter().map(|f| format!("{path}/{f}")).collect()
                }
                ValidationErrorKind::Required { property } => {
                    vec![format!("{path}/{}", property.as_str().unwrap_or_default())]
                }
                _ => vec![path],
            };
            fields.into_iter().map(move |field| FieldError {
                field,
                rule: rule.to_owned(),
                message: message.clone(),
            })
        })
        .collect()
}

fn rule_name(kind: &ValidationErrorKind) -> &'static str {
    match kind {
        ValidationErrorKind::AdditionalProperties { .. } => "additionalProperties",
        ValidationErrorKind::Required { .. } => "required",
        ValidationErrorKind::Type { .. } => "type",
        ValidationErrorKind::Minimum { .. } => "minimum",
        ValidationErrorKind::Maximum { .. } => "maximum",
        ValidationErrorKind::ExclusiveMinimum { .. } => "exclusiveMinimum",
        ValidationErrorKind::ExclusiveMaximum { .. } => "exclusiveMaximum",
        ValidationErrorKind::Enum { .. } => "enum",
        ValidationErrorKind::Constant { .. } => "const",
        ValidationErrorKind::MinLength { .. } => "minLength",
        ValidationErrorKind::MaxLength { .. } => "maxLength",
        ValidationErrorKind::MinItems { .. } => "minItems",
        ValidationErrorKind::MaxItems { .. } => "maxItems",
        ValidationErrorKind::Pattern { .. } => "pattern",
        ValidationErrorKind::Format { .. } => "format",
        ValidationErrorKind::MultipleOf { .. } => "multipleOf",
        _ => "schema",
    }
}
