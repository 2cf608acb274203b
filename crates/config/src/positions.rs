//! Where each field of a document sits in its file, so errors on typed values can name a
//! line and column. Lookups fall back to the nearest ancestor that exists (a missing required
//! field is reported where its parent is).

use std::collections::HashMap;
use strait_model::{FieldPath, Segment};

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

/// Field path → position of its key (map entries) or its first character (list items).
#[derive(Clone, Debug, Default)]
pub struct Positions(HashMap<FieldPath, Pos>);

/// Paths are stored with map keys as fields; validators may use `[key]` for user-data maps.
fn normalise(path: &FieldPath) -> FieldPath {
    FieldPath(
        path.0
            .iter()
            .map(|s| match s {
                Segment::Key(k) => Segment::Field(k.clone()),
                other => other.clone(),
            })
            .collect(),
    )
}

impl Positions {
    /// Records where `path` is.
    pub fn insert(&mut self, path: FieldPath, pos: Pos) {
        self.0.insert(path, pos);
    }

    /// Where exactly `path` is.
    pub fn get(&self, path: &FieldPath) -> Option<Pos> {
        self.0.get(&normalise(path)).copied()
    }

    /// Where `path` is, or its nearest recorded ancestor.
    pub fn locate(&self, path: &FieldPath) -> Option<Pos> {
        let mut p = normalise(path);
        loop {
            if let Some(pos) = self.0.get(&p) {
                return Some(*pos);
            }
            p = p.parent()?;
        }
    }

    /// Positions below `prefix`, re-rooted (for `kind: List` items).
    pub fn subtree(&self, prefix: &FieldPath) -> Positions {
        let n = prefix.0.len();
        Positions(
            self.0
                .iter()
                .filter(|(p, _)| p.0.len() >= n && p.0[..n] == prefix.0[..])
                .map(|(p, pos)| (FieldPath(p.0[n..].to_vec()), *pos))
                .collect(),
        )
    }

    /// Shifts every position (for documents embedded in a string, like the mesh config).
    pub fn shifted(mut self, lines: usize, cols: usize) -> Positions {
        for pos in self.0.values_mut() {
            pos.line += lines;
            pos.col += cols;
        }
        self
    }
}
