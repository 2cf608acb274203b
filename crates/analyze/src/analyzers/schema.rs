//! Mirrors Istio's schema validation analyzers (`schema.ValidationAnalyzer.<Kind>`, the case
//! `schemaValidation.CollectionValidationAnalyzer` of Istio's tests): every problem `strait
//! validate` finds on an Istio object becomes a message — errors IST0106, warnings IST0133,
//! and the unreachable-rule warnings IST0130/IST0131 with Istio's parameters.
//!
//! Istio's schema analyzers cover Istio kinds only; Strait validates the Kubernetes kinds too,
//! and [`run_kubernetes`] (`strait.KubernetesValidation`) reports those problems with the same
//! codes (a Service whose ports have no names, for one, is an IST0106 there).

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use crate::message::{Message, Origin};
use strait_config::Finding;
use strait_model::Severity;

/// `virtualService rule R match M is not used (duplicate/overlapping match in rule D)`.
fn ineffective_match(text: &str) -> Option<[String; 3]> {
    let rest = text.strip_prefix("virtualService rule ")?;
    let (rest, dup) = rest.strip_suffix(')')?.rsplit_once(" is not used (duplicate/overlapping match in rule ")?;
    let (rule, matchno) = rest.split_once(" match ")?;
    Some([rule.to_string(), matchno.to_string(), dup.to_string()])
}

/// `virtualService rule R not used (REASON)`.
fn unreachable_rule(text: &str) -> Option<[String; 2]> {
    let rest = text.strip_prefix("virtualService rule ")?.strip_suffix(')')?;
    let (rule, reason) = rest.split_once(" not used (")?;
    Some([rule.to_string(), reason.to_string()])
}

fn message(f: &Finding, obj: Option<&Obj>) -> Option<Message> {
    let object = f.object.as_ref()?;
    let origin = match obj {
        Some(o) => o.origin(),
        None => Origin {
            kind: object.kind.clone(),
            namespace: object.namespace.clone().unwrap_or_default(),
            name: object.name.clone(),
            file: Some(f.file.clone()),
            line: None,
        },
    };
    let detail = match &f.field {
        Some(field) => format!("{field}: {}", f.message),
        None => f.message.clone(),
    };
    let (kind, args) = match f.severity {
        Severity::Error => (&istio::SCHEMA_VALIDATION_ERROR, vec![detail.into()]),
        _ => {
            if let Some([r, m, d]) = ineffective_match(&f.message) {
                (&istio::VIRTUAL_SERVICE_INEFFECTIVE_MATCH, vec![r.into(), m.into(), d.into()])
            } else if let Some([r, why]) = unreachable_rule(&f.message) {
                (&istio::VIRTUAL_SERVICE_UNREACHABLE_RULE, vec![r.into(), why.into()])
            } else {
                (&istio::SCHEMA_WARNING, vec![detail.into()])
            }
        }
    };
    Some(Message { kind, args, origin: Some(origin), line: f.pos.map(|p| p.line), analyzer: "" })
}

/// The Kubernetes kinds Strait reads (everything else reaching here is an Istio kind, or an
/// unknown kind in an Istio group).
fn is_kubernetes_kind(kind: &str) -> bool {
    let k8s = [
        "Namespace",
        "ServiceAccount",
        "Service",
        "Endpoints",
        "EndpointSlice",
        "Pod",
        "Deployment",
        "Secret",
        "ConfigMap",
    ];
    k8s.contains(&kind)
}

/// Runs the analyzer: problems of Istio objects.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    report(ctx, out, true);
}

/// Runs `strait.KubernetesValidation`: problems of Kubernetes objects.
pub fn run_kubernetes(ctx: &Context<'_>, out: &mut Reporter) {
    report(ctx, out, false);
}

fn report(ctx: &Context<'_>, out: &mut Reporter, istio_kinds: bool) {
    for f in &ctx.input.schema {
        let Some(object) = &f.object else { continue };
        if is_kubernetes_kind(&object.kind) == istio_kinds {
            continue;
        }
        let ns = object.namespace.clone().unwrap_or_default();
        let obj =
            ctx.input.objects.iter().find(|o| o.kind == object.kind && o.namespace == ns && o.name == object.name);
        if let Some(m) = message(f, obj) {
            out.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_unreachable_rule_warnings() {
        let t = r#"virtualService rule "a" match #0 is not used (duplicate/overlapping match in rule #1)"#;
        assert_eq!(ineffective_match(t), Some([r#""a""#.into(), "#0".into(), "#1".into()]));
        let t = "virtualService rule #1 not used (only the last rule can have no matches)";
        assert_eq!(unreachable_rule(t), Some(["#1".into(), "only the last rule can have no matches".into()]));
    }
}
