//! YAML (and JSON) text → `serde_json::Value` documents plus a map of where every field sits.
//!
//! We build the tree ourselves from saphyr-parser's events because serde YAML crates drop
//! positions, and every error Strait reports must name a line and column. The builder is
//! iterative (no recursion on nesting) and bounded: nesting depth, alias expansion and document
//! size all have limits, so hostile input ("billion laughs", 100k `[`) fails with a clear error.
//!
//! Streams are split into documents on `---` lines first, so a syntax error in one document
//! does not hide the documents after it.

use crate::positions::{Pos, Positions};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use strait_model::{FieldPath, Segment};

/// Deepest nesting accepted (Kubernetes objects rarely pass 15).
const MAX_DEPTH: usize = 100;
/// Most nodes one document may expand to, counting alias expansions.
const MAX_NODES: usize = 1_000_000;

/// One parsed document.
#[derive(Debug)]
pub struct Doc {
    /// The document as JSON.
    pub value: Value,
    /// Where each field is.
    pub positions: Positions,
    /// Where the document starts.
    pub start: Pos,
}

/// A syntax error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

/// Parses every document of a YAML stream. Empty documents are skipped.
pub fn parse_stream(text: &str) -> Vec<Result<Doc, SyntaxError>> {
    split_documents(text)
        .into_iter()
        .filter_map(|(offset, chunk)| match parse_chunk(chunk, offset) {
            Ok(Some(doc)) => Some(Ok(doc)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// Splits at lines that start a document (`---`, optionally followed by content after a
/// space), returning (line offset, text) pairs.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut chunks = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 0;
    let mut byte = 0;
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_marker && line_no > 0 {
            chunks.push((start_line, &text[start_byte..byte]));
            start_byte = byte;
            start_line = line_no;
        }
        byte += line.len();
    }
    chunks.push((start_line, &text[start_byte..]));
    chunks
}

fn pos(span: &Span, line_offset: usize) -> Pos {
    Pos { line: span.start.line() + line_offset, col: span.start.col() + 1 }
}

/// Go's YAML library (which kubectl and Istio use) reads `[001:db8::]` as the string
/// `001:db8::`, where the YAML spec sees an implicit pair `{"001:db8:": null}`. For an implicit
/// flow pair whose `:` is glued to the key and followed by nothing, we follow Go, so configs
/// that work with Istio work here.
#[derive(Clone, Copy, Default)]
struct GoCompat {
    /// The mapping started without `{` inside a flow sequence.
    implicit_pair: bool,
    /// Byte offset just after the key, when it was a plain scalar.
    key_end: Option<usize>,
    /// The value was an empty plain scalar starting right at `key_end + 1`.
    glued_empty_value: bool,
}

enum Frame {
    Map { map: Map<String, Value>, key: Option<(String, Pos)>, anchor: usize, path: FieldPath, go_compat: GoCompat },
    Seq { items: Vec<Value>, anchor: usize, path: FieldPath, flow: bool },
}

struct Builder<'t> {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    positions: Positions,
    nodes: usize,
    root: Option<Value>,
    line_offset: usize,
    text: &'t str,
    /// The chunk as chars when it is not ASCII (saphyr's marker indexes count chars).
    chars: Option<Vec<char>>,
}

impl Builder<'_> {
    /// The path the next value will have, and records its position.
    fn next_path(&mut self, at: Pos) -> FieldPath {
        let path = match self.stack.last() {
            None => FieldPath::root(),
            Some(Frame::Seq { items, path, .. }) => path.child(Segment::Index(items.len())),
            Some(Frame::Map { key: Some((k, _)), path, .. }) => path.child(Segment::Field(k.clone())),
            Some(Frame::Map { path, .. }) => path.clone(),
        };
        if let Some(Frame::Seq { .. }) = self.stack.last() {
            self.positions.insert(path.clone(), at);
        }
        path
    }

    fn is_key_slot(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn count(&mut self, n: usize, at: Pos) -> Result<(), SyntaxError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                pos: at,
                message: format!("document expands to more than {MAX_NODES} nodes (alias bomb?)"),
            });
        }
        Ok(())
    }

    fn push_value(&mut self, value: Value, anchor: usize, at: Pos) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some((k, key_pos)) => {
                    if map.contains_key(&k) {
                        return Err(SyntaxError { pos: key_pos, message: format!("duplicate key {k:?} in mapping") });
                    }
                    map.insert(k, value);
                }
                None => return Err(SyntaxError { pos: at, message: "mapping keys must be scalars".into() }),
            },
        }
        Ok(())
    }

    fn push_key(&mut self, key: String, at: Pos) {
        if let Some(Frame::Map { key: slot, path, .. }) = self.stack.last_mut() {
            self.positions.insert(path.child(Segment::Field(key.clone())), at);
            *slot = Some((key, at));
        }
    }

    fn open(&mut self, frame_for: impl FnOnce(FieldPath) -> Frame, at: Pos) -> Result<(), SyntaxError> {
        if self.is_key_slot() {
            return Err(SyntaxError { pos: at, message: "mapping keys must be scalars".into() });
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(SyntaxError { pos: at, message: format!("nesting deeper than {MAX_DEPTH} levels") });
        }
        let path = self.next_path(at);
        self.stack.push(frame_for(path));
        Ok(())
    }

    fn char_at(&self, index: usize) -> Option<char> {
        match &self.chars {
            Some(chars) => chars.get(index).copied(),
            None => self.text.as_bytes().get(index).map(|b| char::from(*b)),
        }
    }

    fn note_go_compat(&mut self, text: &str, style: ScalarStyle, span: Span) {
        let key_slot = self.is_key_slot();
        if let Some(Frame::Map { go_compat, map, .. }) = self.stack.last_mut() {
            if !go_compat.implicit_pair || style != ScalarStyle::Plain {
                return;
            }
            if key_slot && map.is_empty() {
                go_compat.key_end = Some(span.end.index());
            } else if !key_slot {
                let end = go_compat.key_end;
                let glued =
                    end.is_some_and(|e| self.char_at(e) == Some(':') && matches!(self.char_at(e + 1), Some(',' | ']')));
                if let Some(Frame::Map { go_compat, .. }) = self.stack.last_mut() {
                    go_compat.glued_empty_value = text.is_empty() && glued;
                }
            }
        }
    }

    fn event(&mut self, ev: Event<'_>, span: Span, at: Pos) -> Result<(), SyntaxError> {
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, at)?;
                self.note_go_compat(&text, style, span);
                if self.is_key_slot() {
                    self.push_key(text.into_owned(), at);
                } else {
                    self.next_path(at);
                    let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                    let value = if style == ScalarStyle::Plain && !is_str_tag {
                        resolve_plain(&text)
                    } else {
                        Value::String(text.into_owned())
                    };
                    self.push_value(value, anchor, at)?;
                }
            }
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| SyntaxError { pos: at, message: "unknown alias".into() })?;
                self.count(node_count(&value), at)?;
                if self.is_key_slot() {
                    match value {
                        Value::String(s) => self.push_key(s, at),
                        _ => return Err(SyntaxError { pos: at, message: "mapping keys must be scalars".into() }),
                    }
                } else {
                    self.next_path(at);
                    self.push_value(value, 0, at)?;
                }
            }
            Event::MappingStart(anchor, _) => {
                self.count(1, at)?;
                let in_flow_seq = matches!(self.stack.last(), Some(Frame::Seq { flow: true, .. }));
                let implicit_pair = in_flow_seq && self.char_at(span.start.index()) != Some('{');
                let go_compat = GoCompat { implicit_pair, ..GoCompat::default() };
                self.open(|path| Frame::Map { map: Map::new(), key: None, anchor, path, go_compat }, at)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.count(1, at)?;
                let flow = self.char_at(span.start.index()) == Some('[');
                self.open(|path| Frame::Seq { items: Vec::new(), anchor, path, flow }, at)?;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Map { map, anchor, go_compat, .. })
                        if go_compat.implicit_pair && go_compat.glued_empty_value && map.len() == 1 =>
                    {
                        let key = map.keys().next().cloned().unwrap_or_default();
                        (Value::String(format!("{key}:")), anchor)
                    }
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    None => return Ok(()),
                };
                self.push_value(value, anchor, at)?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn node_count(v: &Value) -> usize {
    let mut n = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    n
}

/// Parses one chunk holding at most one document (more are reported as an error).
fn parse_chunk(chunk: &str, line_offset: usize) -> Result<Option<Doc>, SyntaxError> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        positions: Positions::default(),
        nodes: 0,
        root: None,
        line_offset,
        text: chunk,
        chars: (!chunk.is_ascii()).then(|| chunk.chars().collect()),
    };
    let mut start = None;
    let mut docs = 0;
    for item in Parser::new_from_str(chunk) {
        let (ev, span) = item.map_err(|e| SyntaxError {
            pos: Pos { line: e.marker().line() + line_offset, col: e.marker().col() + 1 },
            message: format!("invalid YAML: {}", e.info()),
        })?;
        let at = pos(&span, b.line_offset);
        if let Event::DocumentStart(_) = ev {
            docs += 1;
            if docs > 1 {
                return Err(SyntaxError { pos: at, message: "unexpected second document in one chunk".into() });
            }
        }
        if start.is_none() && matches!(ev, Event::MappingStart(..) | Event::SequenceStart(..) | Event::Scalar(..)) {
            start = Some(at);
        }
        b.event(ev, span, at)?;
    }
    Ok(match b.root {
        None | Some(Value::Null) => None,
        Some(value) => {
            let start = start.unwrap_or(Pos { line: line_offset + 1, col: 1 });
            b.positions.insert(FieldPath::root(), start);
            Some(Doc { value, positions: b.positions, start })
        }
    })
}

/// Resolves a plain scalar with YAML 1.2's core schema (what Kubernetes tooling accepts).
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = s.trim_start_matches('+').parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    if let Some(hex) = s.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Number(i.into());
    }
    if let Some(oct) = s.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Number(i.into());
    }
    if looks_like_float(s)
        && let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(s.to_string())
}

fn looks_like_float(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = {
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        (!int.is_empty() || !frac.is_empty())
            && int.bytes().all(|c| c.is_ascii_digit())
            && frac.bytes().all(|c| c.is_ascii_digit())
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Doc {
        let mut docs = parse_stream(text);
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.remove(0).expect("parses")
    }

    #[test]
    fn values_and_positions() {
        let doc = one("a:\n  b: [1, two, 3.5, true, null]\n  c: \"80\"\n  80: x\n");
        assert_eq!(doc.value, serde_json::json!({"a": {"b": [1, "two", 3.5, true, null], "c": "80", "80": "x"}}));
        assert_eq!(doc.positions.get(&FieldPath::parse("a.c")), Some(Pos { line: 3, col: 3 }));
        assert_eq!(doc.positions.get(&FieldPath::parse("a.b[1]")), Some(Pos { line: 2, col: 10 }));
    }

    #[test]
    fn multi_document_with_a_broken_middle() {
        let docs = parse_stream("a: 1\n---\nb: [\n---\n# only a comment\n---\nc: 3\n");
        assert_eq!(docs.len(), 3);
        assert!(docs[1].is_err());
        let last = docs[2].as_ref().expect("third parses");
        assert_eq!(last.start.line, 7);
    }

    #[test]
    fn limits_hold() {
        let deep = "[".repeat(10_000);
        assert!(parse_stream(&deep).iter().any(Result::is_err));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let err = parse_stream(&bomb).remove(0).expect_err("bomb rejected");
        assert!(err.message.contains("alias bomb"), "{err:?}");
        assert!(parse_stream("a: 1\na: 2\n")[0].is_err(), "duplicate keys");
    }

    #[test]
    fn go_yaml_reads_glued_colons_in_flow_sequences_as_strings() {
        let doc = one("a: [1.2.3.4, 001:db8::, b: c, {d: }]\n");
        assert_eq!(doc.value, serde_json::json!({"a": ["1.2.3.4", "001:db8::", {"b": "c"}, {"d": null}]}));
    }

    #[test]
    fn json_is_yaml() {
        let doc = one("{\"kind\": \"Service\", \"spec\": {\"ports\": [{\"port\": 80}]}}");
        assert_eq!(doc.value["spec"]["ports"][0]["port"], 80);
    }
}
