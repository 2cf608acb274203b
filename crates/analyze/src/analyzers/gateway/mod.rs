//! The Gateway analyzers (Istio's `analyzers/gateway` package).

pub mod certificates;
pub mod conflicts;
pub mod ports;
pub mod secrets;

use crate::context::Reporter;
use crate::input::Obj;
use crate::util::selector_string;
use std::collections::BTreeMap;

/// Reports IST0101 `selector` for a gateway whose selector matches no workload, at the line of
/// the selector's first label (as Istio does).
pub fn report_no_workload(out: &mut Reporter, o: &Obj, selector: &BTreeMap<String, String>) {
    let sel = selector_string(selector);
    let line = selector_line(o, selector);
    out.report(&crate::codes::istio::REFERENCED_RESOURCE_NOT_FOUND, o, line, vec!["selector".into(), sel.into()]);
}

/// The line of the selector's first label.
pub fn selector_line(o: &Obj, selector: &BTreeMap<String, String>) -> Option<usize> {
    let key = selector.keys().next()?;
    o.line_of_path(&strait_model::FieldPath(vec![
        strait_model::Segment::Field("spec".into()),
        strait_model::Segment::Field("selector".into()),
        strait_model::Segment::Field(key.clone()),
    ]))
}
