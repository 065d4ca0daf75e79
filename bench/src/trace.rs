//! A streaming reader for `depwatch-trace v1` files (see `FORMAT.md` beside the
//! traces): event traces recorded from real CPython 3.13 programs.
//!
//! The reader checks each line's grammar, and also the rules `FORMAT.md` states about
//! the order of lines, so that a trace an engine replays is one the format allows:
//!
//! * every object id has its `O` line before any other line uses it, and only one;
//! * after `D <obj>` the id is never used again;
//! * every unit has exactly one `U` line, and at most one `X` line, after the `U`;
//! * a keyed dict event (`dict.ADDED`, `dict.MODIFIED`, `dict.DELETED`) names a key,
//!   not `*`.
//!
//! A trace that breaks one of them is refused with [`TraceError::Malformed`] and the
//! number of the first line that breaks it.
//!
//! ```
//! use depwatch_bench::trace::Trace;
//! let err = Trace::read("# depwatch-trace v1 t\nO 1 dict\nD 1\nM 1 k dict.ADDED\n".as_bytes())
//!     .unwrap_err();
//! assert!(err.to_string().starts_with("line 4: an M line on an object after its D line"));
//! ```

use std::io::BufRead;
use std::path::Path;

use depwatch::{Aspect, Kind};
use hashbrown::HashMap;

/// One trace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `O <obj> <kind>`: an object is first seen.
    Object {
        /// The trace's object id.
        obj: u64,
        /// Its kind.
        kind: Kind,
    },
    /// `U <unit> <obj>:<aspect> ...`: a unit is registered with its dependency set.
    Unit {
        /// The trace's unit id.
        unit: u64,
        /// Its dependencies, deduplicated, in file order.
        deps: Vec<(u64, Aspect)>,
    },
    /// `M <obj> <aspect> <event>`: a mutation.
    Mutate {
        /// The object.
        obj: u64,
        /// The aspect; whole-object events (`*`, `dict.CLEARED`, `dict.CLONED`) are
        /// [`Aspect::Whole`].
        aspect: Aspect,
        /// The event, such as `"dict.MODIFIED"`.
        label: &'static str,
    },
    /// `D <obj>`: the object died; its id is retired.
    Destroy {
        /// The object.
        obj: u64,
    },
    /// `X <unit>`: the unit is dropped without being invalidated.
    Drop {
        /// The unit.
        unit: u64,
    },
}

/// A trace that cannot be read, or a malformed one, with the line it was found on.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened.
    #[error("{source}")]
    Open {
        /// Why.
        source: std::io::Error,
    },
    /// Reading failed.
    #[error("line {line}: read error: {source}")]
    Io {
        /// 1-based line number.
        line: usize,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The line does not follow the grammar, or breaks one of the format's rules on
    /// the order of lines.
    #[error("line {line}: {message}: {text:?}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: &'static str,
        /// The line (truncated to 200 bytes).
        text: String,
    },
}

const LABELS: [&str; 8] = [
    "dict.ADDED",
    "dict.MODIFIED",
    "dict.DELETED",
    "dict.CLEARED",
    "dict.CLONED",
    "type.MODIFIED",
    "func.MODIFY_CODE",
    "func.MODIFY_DEFAULTS",
];
const LABEL_KWDEFAULTS: &str = "func.MODIFY_KWDEFAULTS";

/// The key hash the replay uses: FNV-1a over the unescaped UTF-8 bytes. The non-`str`
/// key `?` gets a hash no byte string produces by construction (a prefix byte that
/// never occurs in escaped text, 0xff, before `?`).
pub fn key_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Parses an aspect token: `*` is the whole object, `?` a non-`str` key, anything else
/// an escaped key. `None` if an escape is malformed.
pub fn parse_aspect(token: &str) -> Option<Aspect> {
    match token {
        "*" => return Some(Aspect::Whole),
        "?" => return Some(Aspect::Key(key_hash(b"\xff?"))),
        _ => {}
    }
    let raw = token.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            bytes.push(raw[i]);
            i += 1;
            continue;
        }
        match raw.get(i + 1)? {
            b'\\' => bytes.push(b'\\'),
            b'*' => bytes.push(b'*'),
            b'?' => bytes.push(b'?'),
            b'e' if raw.len() == 2 => {}
            b'x' => {
                let hex = std::str::from_utf8(raw.get(i + 2..i + 4)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => return None,
        }
        i += 2;
    }
    Some(Aspect::Key(key_hash(&bytes)))
}

/// What the reader knows about an object id.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Object {
    Alive,
    Dead,
}

/// What the reader knows about a unit id.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Registered,
    Dropped,
}

/// A streaming reader: an iterator of events, stopping at the first error.
pub struct TraceReader<R> {
    lines: std::io::Lines<R>,
    line: usize,
    /// The workload name from the header.
    pub name: String,
    objects: HashMap<u64, Object>,
    units: HashMap<u64, Unit>,
}

impl<R: BufRead> TraceReader<R> {
    /// Checks the header line and returns a reader positioned after it.
    pub fn new(reader: R) -> Result<Self, TraceError> {
        let mut lines = reader.lines();
        let header = match lines.next() {
            Some(Ok(h)) => h,
            Some(Err(source)) => return Err(TraceError::Io { line: 1, source }),
            None => {
                return Err(malformed(
                    1,
                    "empty file, expected a `# depwatch-trace v1` header",
                    "",
                ));
            }
        };
        let name = header
            .strip_prefix("# depwatch-trace v1")
            .ok_or_else(|| malformed(1, "not a depwatch-trace v1 file", &header))?
            .trim()
            .to_string();
        Ok(Self {
            lines,
            line: 1,
            name,
            objects: HashMap::new(),
            units: HashMap::new(),
        })
    }

    /// Checks `event` against the lines before it and records it; the message says
    /// which of the format's rules it breaks.
    fn admit(&mut self, event: &Event) -> Result<(), &'static str> {
        let live = |objects: &HashMap<u64, Object>, obj: u64, what: [&'static str; 2]| match objects
            .get(&obj)
        {
            Some(Object::Alive) => Ok(()),
            None => Err(what[0]),
            Some(Object::Dead) => Err(what[1]),
        };
        match *event {
            Event::Object { obj, .. } => {
                if self.objects.insert(obj, Object::Alive).is_some() {
                    return Err("a second O line for an object id");
                }
            }
            Event::Unit { unit, ref deps } => {
                for &(obj, _) in deps {
                    live(
                        &self.objects,
                        obj,
                        [
                            "a U dependency on an object with no O line",
                            "a U dependency on an object after its D line",
                        ],
                    )?;
                }
                if self.units.insert(unit, Unit::Registered).is_some() {
                    return Err("a second U line for a unit");
                }
            }
            Event::Mutate { obj, aspect, label } => {
                live(
                    &self.objects,
                    obj,
                    [
                        "an M line on an object with no O line",
                        "an M line on an object after its D line",
                    ],
                )?;
                let keyed = matches!(label, "dict.ADDED" | "dict.MODIFIED" | "dict.DELETED");
                if keyed && aspect == Aspect::Whole {
                    return Err("a keyed dict event with aspect `*`: it needs the key");
                }
            }
            Event::Destroy { obj } => {
                live(
                    &self.objects,
                    obj,
                    [
                        "a D line on an object with no O line",
                        "a second D line for an object",
                    ],
                )?;
                self.objects.insert(obj, Object::Dead);
            }
            Event::Drop { unit } => match self.units.get_mut(&unit) {
                Some(state @ Unit::Registered) => *state = Unit::Dropped,
                Some(Unit::Dropped) => return Err("a second X line for a unit"),
                None => return Err("an X line before the unit's U line"),
            },
        }
        Ok(())
    }
}

fn malformed(line: usize, message: &'static str, text: &str) -> TraceError {
    let mut text = text.to_string();
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    TraceError::Malformed {
        line,
        message,
        text,
    }
}

fn parse_id(token: Option<&str>) -> Option<u64> {
    token?.parse().ok().filter(|&id| id > 0)
}

/// Parses one non-comment line.
pub fn parse_line(text: &str, line: usize) -> Result<Event, TraceError> {
    let bad = |message| malformed(line, message, text);
    let mut tokens = text.split(' ');
    let tag = tokens.next().unwrap_or("");
    let event = match tag {
        "O" => {
            let obj = parse_id(tokens.next()).ok_or_else(|| bad("bad object id"))?;
            let kind = match tokens.next() {
                Some("dict") => Kind::Dict,
                Some("func") => Kind::Function,
                Some("code") => Kind::Code,
                Some("type") => Kind::Type,
                _ => return Err(bad("kind must be dict, func, code or type")),
            };
            Event::Object { obj, kind }
        }
        "U" => {
            let unit = parse_id(tokens.next()).ok_or_else(|| bad("bad unit id"))?;
            let mut deps: Vec<(u64, Aspect)> = Vec::new();
            for token in tokens.by_ref() {
                let (obj, aspect) = token
                    .split_once(':')
                    .ok_or_else(|| bad("a dependency must be <obj>:<aspect>"))?;
                let obj =
                    parse_id(Some(obj)).ok_or_else(|| bad("bad object id in a dependency"))?;
                let aspect = parse_aspect(aspect).ok_or_else(|| bad("bad escape in an aspect"))?;
                if !deps.contains(&(obj, aspect)) {
                    deps.push((obj, aspect));
                }
            }
            if deps.is_empty() {
                return Err(bad("a unit needs at least one dependency"));
            }
            Event::Unit { unit, deps }
        }
        "M" => {
            let obj = parse_id(tokens.next()).ok_or_else(|| bad("bad object id"))?;
            let aspect = tokens
                .next()
                .and_then(parse_aspect)
                .ok_or_else(|| bad("bad aspect"))?;
            let label = match tokens.next() {
                Some(l) if l == LABEL_KWDEFAULTS => LABEL_KWDEFAULTS,
                Some(l) => LABELS
                    .iter()
                    .find(|x| **x == l)
                    .copied()
                    .ok_or_else(|| bad("unknown event"))?,
                None => return Err(bad("missing event")),
            };
            let aspect = match label {
                "dict.CLEARED" | "dict.CLONED" => Aspect::Whole,
                _ => aspect,
            };
            Event::Mutate { obj, aspect, label }
        }
        "D" => Event::Destroy {
            obj: parse_id(tokens.next()).ok_or_else(|| bad("bad object id"))?,
        },
        "X" => Event::Drop {
            unit: parse_id(tokens.next()).ok_or_else(|| bad("bad unit id"))?,
        },
        _ => return Err(bad("unknown line type")),
    };
    if tokens.next().is_some() {
        return Err(bad("trailing fields"));
    }
    Ok(event)
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = match self.lines.next()? {
                Ok(t) => t,
                Err(source) => {
                    return Some(Err(TraceError::Io {
                        line: self.line + 1,
                        source,
                    }));
                }
            };
            self.line += 1;
            if text.starts_with('#') {
                if self.line <= 2 {
                    continue;
                }
                return Some(Err(malformed(
                    self.line,
                    "comments are only allowed on lines 1 and 2",
                    &text,
                )));
            }
            let checked = parse_line(&text, self.line).and_then(|event| {
                self.admit(&event)
                    .map_err(|message| malformed(self.line, message, &text))?;
                Ok(event)
            });
            return Some(checked);
        }
    }
}

/// A whole trace in memory.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The workload name from the header.
    pub name: String,
    /// The events, in order.
    pub events: Vec<Event>,
}

impl Trace {
    /// Reads a whole trace from a file, gzip-compressed if its name ends in `.gz`.
    pub fn open(path: impl AsRef<Path>) -> Result<Trace, TraceError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| TraceError::Open { source })?;
        let file = std::io::BufReader::new(file);
        if path.extension().is_some_and(|e| e == "gz") {
            Trace::read(std::io::BufReader::new(flate2::read::GzDecoder::new(file)))
        } else {
            Trace::read(file)
        }
    }

    /// Reads a whole trace (already decompressed).
    pub fn read(reader: impl BufRead) -> Result<Trace, TraceError> {
        let mut r = TraceReader::new(reader)?;
        let events = r.by_ref().collect::<Result<Vec<_>, _>>()?;
        Ok(Trace {
            name: r.name,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspects_and_escapes() {
        assert_eq!(parse_aspect("*"), Some(Aspect::Whole));
        assert_eq!(parse_aspect("\\*"), Some(Aspect::Key(key_hash(b"*"))));
        assert_eq!(parse_aspect("\\?"), Some(Aspect::Key(key_hash(b"?"))));
        assert_ne!(parse_aspect("?"), parse_aspect("\\?"));
        assert_eq!(parse_aspect("\\e"), Some(Aspect::Key(key_hash(b""))));
        assert_eq!(
            parse_aspect("a\\x20b\\\\c"),
            Some(Aspect::Key(key_hash(b"a b\\c")))
        );
        assert_eq!(
            parse_aspect("\\xc3\\xbc"),
            Some(Aspect::Key(key_hash("ü".as_bytes())))
        );
        for bad in ["\\", "\\x2", "\\xzz", "\\q", "a\\e"] {
            assert_eq!(parse_aspect(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_long_line_is_quoted_cut_at_a_character_boundary() {
        let line = format!("Q {}", "ü".repeat(300));
        let Err(TraceError::Malformed { text, line, .. }) =
            Trace::read(format!("# depwatch-trace v1 x\n{line}\n").as_bytes())
        else {
            panic!("an unknown line type is refused");
        };
        assert_eq!(line, 2);
        assert!(text.len() <= 200 && text.len() >= 198, "{}", text.len());
        assert!(text.starts_with("Q ü"));
    }

    #[test]
    fn what_the_order_rules_allow() {
        // A unit dropped after it was invalidated, an object dying with no dependents,
        // unit and object ids that are equal (they are counted apart), and whole-object
        // events spelled `*` where the format allows them.
        let text = "# depwatch-trace v1 ok\nO 1 dict\nO 2 type\nU 1 1:x 2:*\nM 2 * type.MODIFIED\nX 1\nD 2\nO 3 func\nM 3 * func.MODIFY_CODE\nM 1 * dict.CLEARED\nU 2 1:y\nD 1\n";
        let t = Trace::read(text.as_bytes()).unwrap();
        assert_eq!(t.events.len(), 11);
    }

    #[test]
    fn lines_and_errors_with_line_numbers() {
        let text = "# depwatch-trace v1 demo\n# meta\nO 1 dict\nU 1 1:* 1:x 1:x\nM 1 x dict.ADDED\nM 1 * dict.CLEARED\nM 1 y dict.CLONED\nX 1\nD 1\n";
        let t = Trace::read(text.as_bytes()).unwrap();
        assert_eq!(t.name, "demo");
        assert_eq!(t.events.len(), 7);
        assert_eq!(
            t.events[1],
            Event::Unit {
                unit: 1,
                deps: vec![(1, Aspect::Whole), (1, Aspect::Key(key_hash(b"x")))]
            }
        );
        assert_eq!(
            t.events[4],
            Event::Mutate {
                obj: 1,
                aspect: Aspect::Whole,
                label: "dict.CLONED"
            }
        );
        for (bad, line) in [
            ("# depwatch-trace v1 x\nO 1 list\n", 2),
            ("# depwatch-trace v1 x\n# a\nO 1 dict\n# late comment\n", 4),
            ("# depwatch-trace v1 x\nU 1\n", 2),
            ("# depwatch-trace v1 x\nM 1 x dict.EXPLODED\n", 2),
            ("# depwatch-trace v1 x\nD 0\n", 2),
            ("# depwatch-trace v1 x\nD 1 2\n", 2),
            ("# depwatch-trace v1 x\nQ 1\n", 2),
            ("# depwatch-trace v1 x\nU 1 5\n", 2),
            // The format's rules on the order of lines (the six that `depwatch replay`'s
            // tests name, and the rest of the same rules).
            ("# depwatch-trace v1 x\nM 1 x dict.ADDED\n", 2),
            ("# depwatch-trace v1 x\nO 1 dict\nU 1 1:x 2:x\n", 3),
            (
                "# depwatch-trace v1 x\nO 1 dict\nD 1\nM 1 x dict.ADDED\n",
                4,
            ),
            ("# depwatch-trace v1 x\nO 1 dict\nD 1\nU 1 1:x\n", 4),
            ("# depwatch-trace v1 x\nO 1 dict\nD 1\nD 1\n", 4),
            ("# depwatch-trace v1 x\nD 1\n", 2),
            ("# depwatch-trace v1 x\nO 1 dict\nO 1 func\n", 3),
            ("# depwatch-trace v1 x\nO 1 dict\nX 1\n", 3),
            ("# depwatch-trace v1 x\nO 1 dict\nU 1 1:x\nX 1\nX 1\n", 5),
            ("# depwatch-trace v1 x\nO 1 dict\nU 1 1:x\nU 1 1:y\n", 4),
            ("# depwatch-trace v1 x\nO 1 dict\nM 1 * dict.DELETED\n", 3),
            ("# depwatch-trace v1 x\nO 1 dict\nM 1 * dict.MODIFIED\n", 3),
            ("not a trace\n", 1),
            ("", 1),
        ] {
            let err = Trace::read(bad.as_bytes()).unwrap_err();
            let line_no = match &err {
                TraceError::Malformed { line, .. } | TraceError::Io { line, .. } => *line,
                TraceError::Open { .. } => unreachable!("nothing is opened"),
            };
            assert_eq!(line_no, line, "{bad:?}: {err}");
        }
    }
}
