//! Field paths such as `spec.http[0].route[1].weight`.
//!
//! The same rendering is used by the validator (which builds paths while walking a typed
//! resource) and by the loader (which records where each path sits in the source file), so an
//! error found on a typed value can be traced back to a line and column.

use std::fmt;

/// One step of a path: a struct field, a sequence index or a map key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A named field: rendered `.name` (without the dot at the start of a path).
    Field(String),
    /// A sequence element: rendered `[3]`.
    Index(usize),
    /// A map entry whose key is user data (labels, ports by name): rendered `[key]`.
    Key(String),
}

/// A path from the document root to a value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The empty path (the whole document).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses a rendered path back into segments. `a.b[0][key]` → Field a, Field b, Index 0,
    /// Key key. Used to look up positions for paths that arrive as strings.
    pub fn parse(s: &str) -> Self {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        let mut cur = String::new();
        while let Some(c) = chars.next() {
            match c {
                '.' => {
                    if !cur.is_empty() {
                        out.push(Segment::Field(std::mem::take(&mut cur)));
                    }
                }
                '[' => {
                    if !cur.is_empty() {
                        out.push(Segment::Field(std::mem::take(&mut cur)));
                    }
                    let mut inner = String::new();
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                        inner.push(c);
                    }
                    out.push(match inner.parse::<usize>() {
                        Ok(i) => Segment::Index(i),
                        Err(_) => Segment::Key(inner),
                    });
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            out.push(Segment::Field(cur));
        }
        Self(out)
    }

    /// This path with one more segment.
    pub fn child(&self, seg: Segment) -> Self {
        let mut v = self.0.clone();
        v.push(seg);
        Self(v)
    }

    /// This path with one more field.
    pub fn field(&self, name: &str) -> Self {
        self.child(Segment::Field(name.to_string()))
    }

    /// The path one level up, or `None` at the root.
    pub fn parent(&self) -> Option<Self> {
        let mut v = self.0.clone();
        v.pop().map(|_| Self(v))
    }

    /// True for the root path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Field(name) if i == 0 => write!(f, "{name}")?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(idx) => write!(f, "[{idx}]")?,
                Segment::Key(key) => write!(f, "[{key}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_round_trip() {
        for s in ["spec.http[0].route[1].weight", "metadata.labels[app.kubernetes.io/name]", "spec", ""] {
            let p = FieldPath::parse(s);
            assert_eq!(p.to_string(), s);
        }
        let p = FieldPath::parse("spec.ports[http]");
        assert_eq!(p.0.last(), Some(&Segment::Key("http".into())));
    }
}
