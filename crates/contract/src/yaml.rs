//! YAML reading for configuration: parse with line numbers, convert to JSON values for serde,
//! and decode into typed structs collecting *every* field problem instead of the first.

use std::collections::HashMap;
use std::path::Path;

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

use crate::diag::Problem;

/// Deeper nesting than this is refused (configs are shallow; this keeps hostile input from
/// exhausting the stack).
const MAX_DEPTH: usize = 64;
/// Alias expansion budget (stops "billion laughs" documents).
const MAX_NODES: usize = 100_000;

/// A parsed YAML document: its value and the line of every field path.
#[derive(Debug, Clone)]
pub struct Doc {
    pub value: Value,
    lines: HashMap<String, usize>,
}

impl Doc {
    /// The 1-based line of `path` (in `serde_path_to_error` format), or of its nearest parent.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path.to_string();
        loop {
            if let Some(l) = self.lines.get(&p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

enum Frame {
    Seq(Vec<Value>, String, usize),
    Map(Map<String, Value>, String, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    anchors: HashMap<usize, Value>,
    lines: HashMap<String, usize>,
    error: Option<SyntaxError>,
    nodes: usize,
    docs: usize,
}

fn scalar(v: String, style: TScalarStyle, tagged_str: bool) -> Value {
    if style != TScalarStyle::Plain || tagged_str {
        return Value::String(v);
    }
    match Yaml::from_str(&v) {
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(v)),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(v),
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                line: mark.line(),
                message: message.into(),
            });
        }
    }

    /// The path the next value will have.
    fn child_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq(items, p, _)) => format!("{p}[{}]", items.len()),
            Some(Frame::Map(_, p, Some(k), _)) => {
                if p.is_empty() {
                    k.clone()
                } else {
                    format!("{p}.{k}")
                }
            }
            Some(Frame::Map(_, p, None, _)) => p.clone(),
        }
    }

    fn push_value(&mut self, v: Value, anchor: usize, mark: Marker) {
        self.nodes += count_nodes(&v);
        if self.nodes > MAX_NODES {
            return self.fail(mark, "document is too large (alias expansion?)");
        }
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Seq(items, _, _)) => items.push(v),
            Some(Frame::Map(map, _, key, _)) => match key.take() {
                Some(k) => {
                    if map.contains_key(&k) {
                        let msg = format!("duplicate key `{k}`");
                        return self.fail(mark, msg);
                    }
                    map.insert(k, v);
                }
                None => match v {
                    Value::String(k) => {
                        let path = self.child_path_for_key(&k);
                        self.lines.entry(path).or_insert(mark.line());
                        if let Some(Frame::Map(_, _, key, _)) = self.stack.last_mut() {
                            *key = Some(k);
                        }
                    }
                    Value::Number(n) => {
                        if let Some(Frame::Map(_, _, key, _)) = self.stack.last_mut() {
                            *key = Some(n.to_string());
                        }
                    }
                    _ => self.fail(mark, "mapping keys must be plain strings"),
                },
            },
        }
    }

    fn child_path_for_key(&self, k: &str) -> String {
        match self.stack.last() {
            Some(Frame::Map(_, p, _, _)) if !p.is_empty() => format!("{p}.{k}"),
            _ => k.to_string(),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        // Sequence items get a line of their own, so `items[1].x` resolves to the item.
        if matches!(
            ev,
            Event::Scalar(..)
                | Event::Alias(_)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
        ) && matches!(self.stack.last(), Some(Frame::Seq(..)))
        {
            let path = self.child_path();
            self.lines.entry(path).or_insert(mark.line());
        }
        match ev {
            Event::DocumentStart => {
                self.docs += 1;
                if self.docs > 1 {
                    self.fail(
                        mark,
                        "only one YAML document per file is allowed (remove the extra `---`)",
                    );
                }
            }
            Event::Scalar(v, style, anchor, tag) => {
                let tagged_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let s = scalar(v, style, tagged_str);
                self.push_value(s, anchor, mark);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(v) => self.push_value(v, 0, mark),
                None => self.fail(mark, "alias refers to an unknown anchor"),
            },
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(mark, format!("nesting deeper than {MAX_DEPTH} levels"));
                }
                let path = self.child_path();
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq(Vec::new(), path, anchor));
                } else {
                    self.stack.push(Frame::Map(Map::new(), path, None, anchor));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(items, _, anchor)) => {
                    self.push_value(Value::Array(items), anchor, mark)
                }
                Some(Frame::Map(map, _, _, anchor)) => {
                    self.push_value(Value::Object(map), anchor, mark)
                }
                None => self.fail(mark, "unbalanced document"),
            },
            _ => {}
        }
    }
}

/// Parse one YAML document into a JSON value plus a line index.
pub fn parse(text: &str) -> Result<Doc, SyntaxError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        return Err(SyntaxError {
            line: e.marker().line(),
            message: e.info().to_string(),
        });
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(Doc {
        value: b.root.unwrap_or(Value::Null),
        lines: b.lines,
    })
}

/// The field names of a struct type, read from its `Deserialize` impl.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _v: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

fn closest<'a>(word: &str, options: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    options
        .iter()
        .map(|o| (distance(word, o), *o))
        .filter(|(d, o)| *d <= 3.max(o.len() / 3))
        .min()
        .map(|(_, o)| o)
}

/// Decode a parsed document into `T`, reporting every unknown field and every field of the wrong
/// type, not just the first. Returns the value when the known, well-typed fields suffice to build
/// it (so cross-file checks can still run) together with the problems found.
pub fn decode<T: DeserializeOwned>(file: &Path, doc: &Doc) -> (Option<T>, Vec<Problem>) {
    let fields = struct_fields::<T>();
    let mut problems = Vec::new();
    let Value::Object(mut obj) = doc.value.clone() else {
        let got = if doc.value.is_null() {
            "an empty file"
        } else {
            "not a mapping"
        };
        let p = Problem::new(
            file,
            "",
            format!("expected a mapping of fields, found {got}"),
            format!(
                "start the file with fields such as `{}: ...`",
                fields.first().unwrap_or(&"name")
            ),
        );
        return (None, vec![p.at_line(Some(1))]);
    };
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !fields.contains(&k.as_str()))
        .cloned()
        .collect();
    for k in unknown {
        obj.remove(&k);
        let fix = match closest(&k, fields) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("remove it; allowed fields: {}", fields.join(", ")),
        };
        problems.push(Problem::new(file, k.clone(), "unknown field", fix).at_line(doc.line_of(&k)));
    }
    // Each failure removes the offending top-level field, so this ends after at most one pass per field.
    for _ in 0..=fields.len() {
        let value = Value::Object(obj.clone());
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => return (Some(t), problems),
            Err(e) => {
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { path };
                let inner = e.into_inner().to_string();
                let top = path.split(['.', '[']).next().unwrap_or("").to_string();
                let (field, fix) = match inner
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split('`').next())
                {
                    Some(missing) => {
                        let f = if path.is_empty() {
                            missing.to_string()
                        } else {
                            format!("{path}.{missing}")
                        };
                        (f, format!("add `{missing}: ...`"))
                    }
                    None => (
                        path.clone(),
                        "correct the value's type or spelling".to_string(),
                    ),
                };
                problems.push(Problem::new(file, field, inner, fix).at_line(doc.line_of(&path)));
                if top.is_empty() || obj.remove(&top).is_none() {
                    return (None, problems);
                }
            }
        }
    }
    (None, problems)
}

/// Parse and decode a whole file's text; all problems, or the value.
pub fn decode_document<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Vec<Problem>> {
    let doc = parse(text).map_err(|e| {
        vec![Problem::new(
            file,
            "",
            format!("YAML syntax error: {}", e.message),
            "fix the YAML syntax at that line",
        )
        .at_line(Some(e.line))]
    })?;
    match decode::<T>(file, &doc) {
        (Some(t), p) if p.is_empty() => Ok(t),
        (_, p) => Err(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
        count: u32,
        #[serde(default)]
        items: Vec<Item>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        alias: String,
    }

    #[test]
    fn scalars_follow_yaml_core_schema_and_quotes_keep_strings() {
        let d = parse("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: hello\n").unwrap();
        assert_eq!(
            d.value,
            serde_json::json!({"a": 1, "b": 1.5, "c": true, "d": null, "e": "1", "f": "hello"})
        );
    }

    #[test]
    fn lines_are_recorded_for_nested_paths() {
        let d = parse("name: x\nitems:\n  - alias: a\n  - alias: b\n").unwrap();
        assert_eq!(d.line_of("name"), Some(1));
        assert_eq!(d.line_of("items[1].alias"), Some(4));
        assert_eq!(d.line_of("items[1].nope"), Some(4));
    }

    #[test]
    fn every_field_problem_is_reported_at_once() {
        let d = parse("name: 5\ncont: 3\ncount: many\nitems:\n  - alais: x\n").unwrap();
        let (v, problems) = decode::<T>(Path::new("f.yaml"), &d);
        assert!(v.is_none());
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"cont"), "{problems:?}");
        assert!(fields.contains(&"name"), "{problems:?}");
        assert!(fields.contains(&"count"), "{problems:?}");
        assert!(
            fields.iter().any(|f| f.starts_with("items[0]")),
            "{problems:?}"
        );
        let typo = problems.iter().find(|p| p.field == "cont").unwrap();
        assert_eq!(typo.line, Some(2));
        assert!(typo.fix.contains("`count`"), "{}", typo.fix);
    }

    #[test]
    fn duplicate_keys_multiple_documents_and_deep_nesting_are_errors_not_panics() {
        assert!(parse("a: 1\na: 2\n")
            .unwrap_err()
            .message
            .contains("duplicate"));
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
        assert!(parse(laughs).unwrap_err().message.contains("too large"));
    }

    #[test]
    fn struct_fields_are_introspected() {
        assert_eq!(struct_fields::<T>(), &["name", "count", "items"]);
    }
}
