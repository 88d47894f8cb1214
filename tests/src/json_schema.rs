//! A small, strict JSON Schema (draft 2020-12) validator for the probe's
//! `--output json` schema (`probe/schema/result.schema.json`).
//!
//! It exists instead of the `jsonschema` crate for compile cost: that crate
//! and its regex/ICU stack added ~23 s of CPU to every clean
//! `cargo test --workspace`, to check one 77-line schema. It implements
//! exactly the keywords that schema uses, and [`Validator::new`] refuses any
//! other keyword, so the schema cannot grow past what is actually checked.
//! Patterns use `regex-lite` and are searched for, unanchored, as the spec
//! says. Its syntax matches ECMA-262 for what the schema uses (classes,
//! anchors, quantifiers); what it lacks, such as lookaround, fails to
//! compile and so is refused.
//!
//! The instance comes from the tool under test, so validation never panics:
//! every problem, including a `$ref` cycle, is an error message.

use std::cmp::Ordering;
use std::collections::HashMap;

use regex_lite::Regex;
use serde_json::{Number, Value};

/// Subschema nesting allowed while building or validating; past it a
/// `$ref` cycle is reported instead of overflowing the stack.
const MAX_DEPTH: usize = 64;

const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// Violations, or `Err` for the depth limit (which aborts the whole run).
type Checked = Result<Vec<String>, String>;

/// Each `$ref`'s definition name and schema pointer, checked once `$defs`
/// is known.
type Refs = Vec<(String, String)>;

/// A compiled schema; build it once, validate many documents.
pub struct Validator {
    root: Schema,
    defs: HashMap<String, Schema>,
}

enum Schema {
    Bool(bool),
    Node(Box<Node>),
}

/// One schema object's assertions; empty or `None` means absent.
#[derive(Default)]
struct Node {
    reference: Option<String>,
    one_of: Vec<Schema>,
    types: Option<Value>,
    enumeration: Option<Value>,
    required: Vec<String>,
    properties: Vec<(String, Schema)>,
    additional: Option<Schema>,
    minimum: Option<Number>,
    items: Option<Schema>,
    pattern: Option<Regex>,
}

impl Validator {
    /// Compiles `schema`, refusing unsupported keywords, `$ref`s other than
    /// an existing `#/$defs/NAME`, and patterns that do not compile.
    pub fn new(schema: &Value) -> Result<Validator, String> {
        let (mut refs, mut defs) = (Refs::new(), HashMap::new());
        if let Some(all) = schema.get("$defs") {
            for (name, def) in all.as_object().ok_or("/$defs: must be an object")? {
                let at = format!("/$defs/{}", escape(name));
                defs.insert(name.clone(), compile(def, &at, 1, &mut refs)?);
            }
        }
        let root = compile(schema, "", 0, &mut refs)?;
        match refs.iter().find(|(name, _)| !defs.contains_key(name)) {
            Some((name, at)) => Err(format!("{at}: $ref to a missing definition {name:?}")),
            None => Ok(Validator { root, defs }),
        }
    }

    /// One message per violation, each starting with the instance's JSON
    /// pointer; empty when `value` is valid.
    pub fn iter_errors(&self, value: &Value) -> Vec<String> {
        self.check(&self.root, value, "", 0)
            .unwrap_or_else(|fatal| vec![fatal])
    }

    /// Whether `value` matches the schema.
    pub fn is_valid(&self, value: &Value) -> bool {
        self.iter_errors(value).is_empty()
    }

    /// The violations of `schema` by `v`, found at instance pointer `ptr`.
    /// The depth limit is an `Err` so it aborts everything: a cycle under
    /// `oneOf` would otherwise re-run exponentially often.
    fn check(&self, schema: &Schema, v: &Value, ptr: &str, depth: usize) -> Checked {
        let here = show(ptr);
        let node = match schema {
            Schema::Node(node) => node,
            Schema::Bool(true) => return Ok(Vec::new()),
            Schema::Bool(false) => return Ok(vec![format!("{here}: no value is allowed here")]),
        };
        if depth > MAX_DEPTH {
            return Err(format!(
                "{here}: nested deeper than {MAX_DEPTH} (a $ref cycle?)"
            ));
        }
        // Only printed on a violation: rendering every visited value would make
        // a big document quadratic.
        let (mut errors, shown) = (Vec::new(), || short(v));
        if let Some(types) = &node.types
            && !list(types).iter().any(|t| has_type(v, t))
        {
            errors.push(format!("{here}: {} is not of type {types}", shown()));
        }
        if let Some(allowed) = &node.enumeration
            && !list(allowed).iter().any(|a| json_eq(a, v))
        {
            errors.push(format!("{here}: {} is not one of {allowed}", shown()));
        }
        if let (Some(min), Value::Number(n)) = (&node.minimum, v)
            && !matches!(num_cmp(n, min), Some(Ordering::Greater | Ordering::Equal))
        {
            errors.push(format!("{here}: {n} is less than the minimum {min}"));
        }
        if let (Some(re), Value::String(s)) = (&node.pattern, v)
            && !re.is_match(s)
        {
            errors.push(format!(
                "{here}: {} does not match {:?}",
                shown(),
                re.as_str()
            ));
        }
        if let Value::Object(obj) = v {
            for name in node.required.iter().filter(|name| !obj.contains_key(*name)) {
                errors.push(format!("{here}: missing required property {name:?}"));
            }
            for (key, child) in obj {
                let known = node.properties.iter().find(|(name, _)| name == key);
                let at = format!("{ptr}/{}", escape(key));
                match known.map(|(_, sub)| sub).or(node.additional.as_ref()) {
                    Some(Schema::Bool(false)) if known.is_none() => {
                        errors.push(format!(
                            "{here}: additional property {key:?} is not allowed"
                        ));
                    }
                    Some(sub) => errors.extend(self.check(sub, child, &at, depth + 1)?),
                    None => {}
                }
            }
        }
        if let (Some(sub), Value::Array(items)) = (&node.items, v) {
            for (i, child) in items.iter().enumerate() {
                errors.extend(self.check(sub, child, &format!("{ptr}/{i}"), depth + 1)?);
            }
        }
        // `new` checked that every name exists.
        if let Some(def) = node.reference.as_ref().and_then(|name| self.defs.get(name)) {
            errors.extend(self.check(def, v, ptr, depth + 1)?);
        }
        if !node.one_of.is_empty() {
            let (mut matched, mut why) = (Vec::new(), Vec::new());
            for (i, sub) in node.one_of.iter().enumerate() {
                let sub_errors = self.check(sub, v, ptr, depth + 1)?;
                if sub_errors.is_empty() {
                    matched.push(i);
                }
                why.push(format!("#{i}: {}", sub_errors.join("; ")));
            }
            match matched.len() {
                1 => {}
                0 => errors.push(format!(
                    "{here}: matches none of oneOf ({})",
                    why.join(" | ")
                )),
                _ => errors.push(format!(
                    "{here}: matches oneOf {matched:?}, not exactly one"
                )),
            }
        }
        Ok(errors)
    }
}

/// Compiles the schema at schema pointer `ptr`.
fn compile(v: &Value, ptr: &str, depth: usize, refs: &mut Refs) -> Result<Schema, String> {
    let obj = match v {
        _ if depth > MAX_DEPTH => return Err(format!("{}: nested too deep", show(ptr))),
        Value::Bool(b) => return Ok(Schema::Bool(*b)),
        Value::Object(obj) => obj,
        _ => return Err(format!("{}: a schema is an object or a boolean", show(ptr))),
    };
    let mut node = Node::default();
    for (key, val) in obj {
        let at = format!("{ptr}/{}", escape(key));
        let bad = |what: &str| format!("{at}: {key} must be {what}");
        let sub = |val: &Value, at: &str, refs: &mut Refs| compile(val, at, depth + 1, refs);
        match key.as_str() {
            // `#/$defs/...` resolves against the root only; a nested `$id`
            // or `$defs` would change that, so refuse rather than misread.
            "$schema" | "$id" | "$defs" if !ptr.is_empty() => {
                return Err(format!("{at}: only at the root"));
            }
            "$schema" | "$id" | "$defs" | "title" | "description" => {}
            "$ref" => {
                let name = val.as_str().and_then(|r| r.strip_prefix("#/$defs/"));
                // `~`, `%` and `/` would need pointer/URI decoding: refused.
                let name = name.filter(|n| !n.contains(['/', '~', '%']));
                let name = name.ok_or_else(|| bad("a local \"#/$defs/NAME\""))?;
                refs.push((name.to_owned(), at.clone()));
                node.reference = Some(name.to_owned());
            }
            "oneOf" => {
                let subs = val.as_array().filter(|l| !l.is_empty());
                let subs = subs.ok_or_else(|| bad("a non-empty array"))?;
                for (i, s) in subs.iter().enumerate() {
                    node.one_of.push(sub(s, &format!("{at}/{i}"), refs)?);
                }
            }
            "type" => {
                let known = |t: &Value| t.as_str().is_some_and(|t| TYPES.contains(&t));
                if list(val).is_empty() || !list(val).iter().all(known) {
                    return Err(bad(&format!("one of {TYPES:?}, or an array of them")));
                }
                node.types = Some(val.clone());
            }
            "enum" if val.is_array() => node.enumeration = Some(val.clone()),
            "enum" => return Err(bad("an array")),
            "required" => {
                let names = val
                    .as_array()
                    .and_then(|l| l.iter().map(|n| n.as_str().map(String::from)).collect());
                node.required = names.ok_or_else(|| bad("an array of strings"))?;
            }
            "properties" => {
                for (name, s) in val.as_object().ok_or_else(|| bad("an object"))? {
                    let s = sub(s, &format!("{at}/{}", escape(name)), refs)?;
                    node.properties.push((name.clone(), s));
                }
            }
            "additionalProperties" => node.additional = Some(sub(val, &at, refs)?),
            "items" => node.items = Some(sub(val, &at, refs)?),
            "minimum" => {
                node.minimum = Some(val.as_number().cloned().ok_or_else(|| bad("a number"))?)
            }
            "pattern" => {
                let re = Regex::new(val.as_str().ok_or_else(|| bad("a string"))?);
                node.pattern = Some(re.map_err(|e| format!("{at}: bad pattern: {e}"))?);
            }
            _ => return Err(format!("{at}: unsupported keyword {key:?}")),
        }
    }
    Ok(Schema::Node(Box::new(node)))
}

/// A keyword value that may be one item or an array of them.
fn list(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        one => std::slice::from_ref(one),
    }
}

fn has_type(v: &Value, name: &Value) -> bool {
    match name.as_str().unwrap_or_default() {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        // JSON Schema: an integer is any number with a zero fractional part.
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// Compares exactly when both are integers (f64 would round past 2^53).
fn num_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// JSON Schema equality: serde_json's `==` says `1 != 1.0`, the spec says equal.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON pointer token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn show(ptr: &str) -> &str {
    if ptr.is_empty() { "(root)" } else { ptr }
}

/// The instance in a message, cut short: hostile output can be megabytes.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, instance: Value) -> Vec<String> {
        Validator::new(&schema)
            .expect("schema builds")
            .iter_errors(&instance)
    }

    /// Rows of [schema, values it accepts, values it refuses].
    #[test]
    fn each_keyword_accepts_and_refuses() {
        let big = 9_007_199_254_740_993_u64; // 2^53 + 1: f64 cannot tell it from 2^53.
        let table = json!([
            [{"type": "integer"}, [3, 3.0, -1, big], [1.5, "3", null]],
            [{"type": "number"}, [3, -3.5], [null, "3", [1]]],
            [{"type": ["null", "string"]}, [null, ""], [false, 0, {}]],
            [{"enum": ["A", null, 1, big]}, [null, 1.0, "A", big], ["a", false, big - 1, [1]]],
            [{"enum": [[1, {"a": 2}]]}, [[1.0, {"a": 2.0}]], [[1], [1, {"a": 2, "b": 3}]]],
            [{"required": ["a"]}, [{"a": null}, 7], [{}, {"b": 1}]],
            [{"properties": {"a": {"type": "string"}}}, [{"a": ""}, {"b": 1}], [{"a": 1}]],
            [{"additionalProperties": false, "properties": {"a": true}}, [{"a": 1}, {}], [{"b": 1}]],
            [{"additionalProperties": true}, [{"z": 1}], []],
            [{"additionalProperties": {"type": "integer"}, "properties": {"s": {}}}, [{"z": 1, "s": ""}], [{"z": ""}]],
            [{"minimum": 0}, [0, 0.5, "-1"], [-0.5, -1]],
            [{"items": {"minimum": 1}}, [[1, 2], [], {"a": 0}], [[1, 0]]],
            [{"oneOf": [{"type": "number"}, {"type": "integer"}]}, [1.5], [2, "x"]],
            // A search, unless the pattern anchors itself; strings only.
            [{"pattern": "b+"}, ["abbc", 7], ["ac"]],
            [{"pattern": "^b+$"}, ["bb"], ["abbc", "bb\n"]],
            [{"$defs": {"n": {"type": "null"}}, "items": {"$ref": "#/$defs/n"}}, [[null]], [[0]]],
            [false, [], [null, 0]],
        ]);
        for row in table.as_array().expect("rows") {
            let v = Validator::new(&row[0]).expect("schema builds");
            for good in row[1].as_array().expect("good") {
                assert!(
                    v.is_valid(good),
                    "{} refused {good}: {:?}",
                    row[0],
                    v.iter_errors(good)
                );
            }
            for bad in row[2].as_array().expect("bad") {
                assert!(!v.is_valid(bad), "{} accepted {bad}", row[0]);
            }
        }
    }

    #[test]
    fn messages_name_the_instance_pointer() {
        let schema = json!({"required": ["a"], "additionalProperties": {"items": {"minimum": 1}}});
        let found = errors(schema, json!({"x/~": [1, 0]}));
        assert_eq!(
            found,
            [
                "(root): missing required property \"a\"",
                "/x~1~0/1: 0 is less than the minimum 1"
            ]
        );
        let closed = errors(json!({"additionalProperties": false}), json!({"b": 1}));
        assert_eq!(closed, ["(root): additional property \"b\" is not allowed"]);
        let one_of = json!({"oneOf": [{"type": "number"}, {"type": "integer"}]});
        let two = errors(one_of.clone(), json!(2));
        assert_eq!(two, ["(root): matches oneOf [0, 1], not exactly one"]);
        let none = errors(one_of, json!("x"));
        assert!(
            none[0].starts_with("(root): matches none of oneOf (#0: (root): \"x\""),
            "{none:?}"
        );
    }

    #[test]
    fn a_ref_cycle_is_an_error_not_an_overflow() {
        let a = json!({"oneOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/a"}]});
        let cycle = errors(json!({"$defs": {"a": a}, "$ref": "#/$defs/a"}), json!(1));
        assert_eq!(cycle.len(), 1);
        assert!(cycle[0].contains("nested deeper than 64"), "{cycle:?}");
    }

    /// Rows of [schema, how the refusal starts].
    #[test]
    fn unsupported_schemas_are_refused_at_build() {
        let table = json!([
            [{"$ref": "#/$defs/x"}, "/$ref: $ref to a missing definition \"x\""],
            [{"$ref": "other.json#/x"}, "/$ref: $ref must be a local"],
            [{"$defs": {"a": {"anyOf": []}}}, "/$defs/a/anyOf: unsupported keyword"],
            [{"properties": {"p": {"maxLength": 3}}}, "/properties/p/maxLength: unsupported"],
            [{"pattern": "(unclosed"}, "/pattern: bad pattern"],
            [{"type": "int"}, "/type: type must be"],
            [{"required": [1]}, "/required: required must be"],
            [{"items": {"$id": "x"}}, "/items/$id: only at the root"],
            [3, "(root): a schema is"],
        ]);
        for row in table.as_array().expect("rows") {
            let refused = Validator::new(&row[0]).err().unwrap_or_default();
            let start = row[1].as_str().expect("a string");
            assert!(refused.starts_with(start), "{}: {refused:?}", row[0]);
        }
    }

    #[test]
    fn the_probe_schema() {
        let text = include_str!("../../probe/schema/result.schema.json");
        let validator = Validator::new(&serde_json::from_str(text).expect("JSON")).expect("builds");
        let error = json!({"kind": "rpc", "code": "NOT_FOUND", "message": "no"});
        let result = json!({"service": "", "status": null, "elapsed_ms": 1, "error": error, "liveness": "grpc_status"});
        let run = json!({"target": "h:1", "exit_code": 3, "elapsed_ms": 2.5, "error": error, "results": [result]});
        assert_eq!(validator.iter_errors(&run), Vec::<String>::new());
        let time = "2024-01-02T03:04:05.678Z";
        let line = json!({"service": "", "status": "SERVING", "elapsed_ms": null, "error": null, "time": time});
        assert_eq!(validator.iter_errors(&line), Vec::<String>::new());

        let broken = |doc: &Value, path: &str, value: Value| {
            let mut doc = doc.clone();
            *doc.pointer_mut(path).expect("path exists") = value;
            validator.iter_errors(&doc)
        };
        assert!(!broken(&run, "/exit_code", json!(1)).is_empty());
        assert!(!broken(&run, "/results/0", json!({"extra": 1})).is_empty());
        assert!(!broken(&run, "/error/code", json!("not_found")).is_empty());
        assert!(!broken(&line, "/time", json!("2024-01-02 03:04:05Z")).is_empty());
        let status = broken(&run, "/results/0/status", json!("SERVNG"));
        assert!(
            status[0].contains("/results/0/status: \"SERVNG\" is not one of"),
            "{status:?}"
        );
        let mut extra = run.clone();
        extra["results"][0]["extra"] = json!(1);
        assert!(validator.iter_errors(&extra)[0].contains("additional property \"extra\""));
    }
}
