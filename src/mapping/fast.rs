//! Mappings compiled once per subscription into a node tree and evaluated against the parsed
//! event by reference: paths are split at compile time, nothing is converted per event, and
//! values are copied out of the event only where the mapping puts them.
//!
//! This covers what Segment's presets and nearly all user mappings use: literals, objects,
//! arrays, `@path` with a literal path, `@if` (exists / blank, then / else) and `@arrayPath`
//! with a literal path. A mapping with anything else is evaluated by the full mapping-kit
//! evaluator (`Eval`) instead, whole, so results and error messages stay exactly the same.

use super::value::{split_path, strip_root_marker, JsVal, Obj as JsObj};
use super::{is_directive, MAX_EVAL_BYTES};
use crate::json::{array_index, Obj, J};
use std::borrow::Cow;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Lit(J<'static>),
    /// Keys of a literal `@path`; empty reads the whole payload. `parent`: the shared prefix
    /// (`Tree::prefixes`) of all keys but the last, for paths read from the event itself.
    Path { keys: Vec<String>, parent: Option<u32> },
    /// `reuse`: `then` is the same `@path` as the condition (the usual preset shape, "this
    /// field if it exists, else that one"), so the condition's value is the result.
    If { cond: Box<Node>, blank: bool, then: Option<Box<Node>>, otherwise: Option<Box<Node>>, reuse: bool },
    Obj(Vec<(String, Node)>),
    Arr(Vec<Node>),
    ArrayPath { path: Vec<String>, shape: Option<Box<Node>> },
}

/// A compiled mapping: its nodes, and the path prefixes its `@path`s share.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    root: Node,
    /// Each prefix as the prefix it extends (`None`: the event itself) and its last key. The
    /// preset mappings read ~45 paths through a dozen prefixes (`context.traits.address`...),
    /// each of which is then looked up once per event instead of once per path.
    prefixes: Vec<(Option<u32>, String)>,
}

/// Prefixes remembered per evaluation, at most (a mapping with more reads the rest in full).
const SLOTS: usize = 32;

/// `None` when the mapping needs the full evaluator.
pub(crate) fn compile(m: &JsVal) -> Option<Tree> {
    let mut root = node(m)?;
    let mut prefixes = Vec::new();
    share_prefixes(&mut root, &mut prefixes);
    Some(Tree { root, prefixes })
}

/// Gives the `@path`s read from the event (not those of `@arrayPath` shapes, read from each
/// item) the id of their prefix.
fn share_prefixes(n: &mut Node, prefixes: &mut Vec<(Option<u32>, String)>) {
    match n {
        Node::Path { keys, parent } if keys.len() > 1 => *parent = prefix_id(&keys[..keys.len() - 1], prefixes),
        Node::If { cond, then, otherwise, .. } => {
            share_prefixes(cond, prefixes);
            for b in [then, otherwise].into_iter().flatten() {
                share_prefixes(b, prefixes);
            }
        }
        Node::Obj(fields) => fields.iter_mut().for_each(|(_, f)| share_prefixes(f, prefixes)),
        Node::Arr(items) => items.iter_mut().for_each(|f| share_prefixes(f, prefixes)),
        Node::Lit(_) | Node::Path { .. } | Node::ArrayPath { .. } => {}
    }
}

/// The id of `keys` (not empty) as a prefix, added with its own prefixes when new; `None`
/// once `SLOTS` are taken.
fn prefix_id(keys: &[String], prefixes: &mut Vec<(Option<u32>, String)>) -> Option<u32> {
    let (last, init) = keys.split_last()?;
    let parent = if init.is_empty() { None } else { Some(prefix_id(init, prefixes)?) };
    if let Some(at) = prefixes.iter().position(|(p, k)| *p == parent && k == last) {
        return Some(at as u32);
    }
    if prefixes.len() >= SLOTS {
        return None;
    }
    prefixes.push((parent, last.clone()));
    Some(prefixes.len() as u32 - 1)
}

fn node(m: &JsVal) -> Option<Node> {
    Some(match m {
        JsVal::Undef => return None,
        JsVal::Null => Node::Lit(J::Null),
        JsVal::Bool(b) => Node::Lit(J::Bool(*b)),
        JsVal::Num(n) => Node::Lit(J::Num(*n)),
        JsVal::Str(s) => Node::Lit(J::Str(Cow::Owned(s.clone()))),
        JsVal::Arr(a) => Node::Arr(a.iter().map(node).collect::<Option<_>>()?),
        JsVal::Obj(o) if is_directive(o) => directive(o)?,
        JsVal::Obj(o) => Node::Obj(o.iter().map(|(k, v)| Some((k.clone(), node(v)?))).collect::<Option<_>>()?),
    })
}

fn path_keys(p: &str) -> Vec<String> {
    let p = strip_root_marker(p);
    if p.is_empty() || p == "." {
        return Vec::new();
    }
    if !p.bytes().any(|b| matches!(b, b'[' | b']' | b'"' | b'\'')) {
        return p.split('.').filter(|k| !k.is_empty()).map(str::to_string).collect();
    }
    split_path(&p)
}

fn directive(o: &JsObj) -> Option<Node> {
    let name = o.keys().find(|k| k.starts_with('@'))?;
    let arg = o.get(name)?;
    match name.as_str() {
        "@path" => Some(Node::Path { keys: path_keys(arg.as_str()?), parent: None }),
        "@if" => {
            let opts = arg.as_obj()?;
            let exists = opts.get("exists");
            let blank = opts.get("blank");
            // The evaluator's error for this case stays the evaluator's.
            if !exists.is_some_and(JsVal::truthy) && !blank.is_some_and(JsVal::truthy) {
                return None;
            }
            let (cond, is_blank) = match exists {
                Some(e) => (e, false),
                None => (blank?, true),
            };
            let cond = Box::new(node(cond)?);
            let then = match opts.get("then") {
                Some(t) => Some(Box::new(node(t)?)),
                None => None,
            };
            let reuse = matches!((&*cond, then.as_deref()), (Node::Path { keys: a, .. }, Some(Node::Path { keys: b, .. })) if a == b);
            Some(Node::If {
                cond,
                blank: is_blank,
                then,
                reuse,
                // A falsy `else` mapping value gives undefined, like the evaluator.
                otherwise: match opts.get("else") {
                    Some(e) if e.truthy() => Some(Box::new(node(e)?)),
                    _ => None,
                },
            })
        }
        "@arrayPath" => {
            let JsVal::Arr(a) = arg else { return None };
            let path = path_keys(a.first()?.as_str()?);
            let shape = match a.get(1) {
                Some(s @ JsVal::Obj(o)) if !o.is_empty() => Some(Box::new(node(s)?)),
                _ => None,
            };
            Some(Node::ArrayPath { path, shape })
        }
        _ => None,
    }
}

/// Evaluation ran past the per-event budget: the caller reruns the full evaluator, which
/// reports it with its exact message.
pub(crate) struct OverBudget;

/// A prefix of the event, once looked up.
#[derive(Clone, Copy)]
enum Slot<'p, 'a> {
    Unknown,
    /// `get` gives undefined (so does every path under it).
    Missing,
    /// What `get` gives (a falsy value part-way included).
    Found(&'p J<'a>),
    /// A value `get` makes rather than finds (`length`, a string's character): not kept,
    /// the paths under it are read in full.
    Made,
}

/// One evaluation of a tree against one event (`root`).
pub(crate) struct Run<'t, 'p, 'a> {
    made: usize,
    root: &'p J<'a>,
    prefixes: &'t [(Option<u32>, String)],
    slots: [Slot<'p, 'a>; SLOTS],
}

impl<'t, 'p, 'a> Run<'t, 'p, 'a> {
    pub(crate) fn new(tree: &'t Tree, root: &'p J<'a>) -> Self {
        Run { made: 0, root, prefixes: &tree.prefixes, slots: [Slot::Unknown; SLOTS] }
    }

    /// The whole tree, against `root`.
    pub(crate) fn eval_root(&mut self, tree: &'a Tree) -> Result<Option<J<'a>>, OverBudget> {
        let root = self.root;
        self.eval(&tree.root, root)
    }

    /// `get` of prefix `id` of the event, looked up once per evaluation.
    fn prefix(&mut self, id: u32) -> Slot<'p, 'a> {
        let at = id as usize;
        if let Slot::Unknown = self.slots[at] {
            let prefixes = self.prefixes;
            let (parent, key) = &prefixes[at];
            let base = match parent {
                None => Slot::Found(self.root),
                Some(p) => self.prefix(*p),
            };
            // `get`'s step: a falsy value part-way is the result.
            self.slots[at] = match base {
                Slot::Found(v) if !v.truthy() => Slot::Found(v),
                Slot::Found(v) => match prop(v, key) {
                    None => Slot::Missing,
                    Some(Cow::Borrowed(x)) => Slot::Found(x),
                    Some(Cow::Owned(_)) => Slot::Made,
                },
                other => other,
            };
        }
        self.slots[at]
    }

    fn charge(&mut self, v: Option<J<'a>>) -> Result<Option<J<'a>>, OverBudget> {
        self.charge_ref(v.as_ref())?;
        Ok(v)
    }

    /// `charge` of a value read but not copied (counted as the evaluator's copy would be).
    fn charge_ref(&mut self, v: Option<&J>) -> Result<(), OverBudget> {
        if let Some(x @ (J::Arr(_) | J::Obj(_))) = v {
            self.made += approx_size(x);
            if self.made > MAX_EVAL_BYTES {
                return Err(OverBudget);
            }
        }
        Ok(())
    }

    /// `None` is JS `undefined`. The result borrows from both the event and the mapping
    /// (keys and literal strings are not copied).
    /// `payload` is the event (`root`) except inside `@arrayPath` shapes, whose paths have no
    /// `parent`.
    pub(crate) fn eval(&mut self, n: &'a Node, payload: &J<'a>) -> Result<Option<J<'a>>, OverBudget> {
        Ok(match n {
            Node::Lit(J::Str(s)) => Some(J::Str(Cow::Borrowed(s))),
            Node::Lit(v) => Some(v.clone()),
            Node::Path { keys, parent: Some(p) } => {
                let v = match self.prefix(*p) {
                    Slot::Missing => None,
                    Slot::Found(v) if !v.truthy() => Some(v.clone()),
                    Slot::Found(v) => keys.last().and_then(|k| prop(v, k)).map(owned),
                    Slot::Unknown | Slot::Made => get(payload, keys).map(Cow::into_owned),
                };
                return self.charge(v);
            }
            Node::Path { keys, parent: None } => return self.charge(get(payload, keys).map(Cow::into_owned)),
            Node::If { cond, blank, then, otherwise, reuse } => {
                let v = self.eval(cond, payload)?;
                let holds = match (&v, blank) {
                    (None | Some(J::Null), _) => false,
                    (Some(v), true) => !loosely_equals_empty_string(v),
                    (Some(_), false) => true,
                };
                if holds && *reuse {
                    // Charged again, as evaluating `then` would be (the budget stays the same).
                    return self.charge(v);
                }
                let branch = if holds { then } else { otherwise };
                match branch {
                    Some(b) => return self.eval(b, payload),
                    None => None,
                }
            }
            Node::Obj(fields) => {
                let mut out = Obj::with_capacity(fields.len());
                for (k, f) in fields {
                    // Undefined properties are dropped, as `JSON.stringify` drops them.
                    if let Some(v) = self.eval(f, payload)? {
                        out.push(Cow::Borrowed(k.as_str()), v);
                    }
                }
                Some(J::Obj(out))
            }
            Node::Arr(items) => {
                let mut out = Vec::with_capacity(items.len());
                for f in items {
                    out.push(self.eval(f, payload)?.unwrap_or(J::Null));
                }
                Some(J::Arr(out))
            }
            Node::ArrayPath { path, shape } => {
                let root = get(payload, path);
                let Some(shape) = shape else { return self.charge(root.map(Cow::into_owned)) };
                // The items are read in place: only what the shape picks is copied.
                self.charge_ref(root.as_deref())?;
                let items: &[J<'a>] = match root.as_deref() {
                    Some(J::Arr(items)) => items,
                    Some(o @ J::Obj(_)) => std::slice::from_ref(o),
                    other => return Ok(other.cloned()),
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(shape, item)?.unwrap_or(J::Null));
                }
                Some(J::Arr(out))
            }
        })
    }
}

/// A read value, copied: a scalar or a borrowed string (nearly every value a path reads)
/// inline in the speed builds, a call to `J::clone` for the rest.
#[cfg(speed)]
#[inline(always)]
fn owned<'a>(v: Cow<'_, J<'a>>) -> J<'a> {
    match v {
        Cow::Borrowed(J::Str(Cow::Borrowed(s))) => J::Str(Cow::Borrowed(s)),
        Cow::Borrowed(J::Num(n)) => J::Num(*n),
        Cow::Borrowed(J::Bool(b)) => J::Bool(*b),
        Cow::Borrowed(J::Null) => J::Null,
        other => other.into_owned(),
    }
}

/// The size-optimized build's `owned`: `J::clone` for every value (as before; no copy of its cases).
#[cfg(not(speed))]
fn owned<'a>(v: Cow<'_, J<'a>>) -> J<'a> {
    v.into_owned()
}

/// `v == ''` in JS.
fn loosely_equals_empty_string(v: &J) -> bool {
    match v {
        J::Null => false,
        J::Bool(b) => !*b,
        J::Num(n) => *n == 0.0,
        J::Str(s) => s.is_empty(),
        // `String([...]) == ''`: empty, or only null / empty-string elements.
        J::Arr(a) => JsVal::from_j(&J::Arr(a.clone())).loosely_equals_empty_string(),
        J::Obj(_) => false,
    }
}

/// Segment's `get`: walks while the current value is truthy (a falsy value part-way is the
/// result). Reads that produce new values (`length`, a character of a string) are rare and
/// return through `Cow`.
fn get<'p, 'a>(root: &'p J<'a>, keys: &[String]) -> Option<Cow<'p, J<'a>>> {
    let mut cur: Cow<'p, J<'a>> = Cow::Borrowed(root);
    for key in keys {
        if !cur.truthy() {
            return Some(cur);
        }
        cur = match cur {
            Cow::Borrowed(v) => prop(v, key)?,
            Cow::Owned(v) => Cow::Owned(prop(&v, key)?.into_owned()),
        };
    }
    Some(cur)
}

/// A property of `v` as `get` reads it. An object's (nearly every read) inline in the speed
/// builds: a call per read was a third of its cost.
#[cfg_attr(speed, inline(always))]
fn prop<'p, 'a>(v: &'p J<'a>, key: &str) -> Option<Cow<'p, J<'a>>> {
    match v {
        J::Obj(o) => o.get(key).map(Cow::Borrowed),
        _ => prop_other(v, key),
    }
}

/// `prop` of anything but an object.
#[cfg_attr(speed, inline(never))]
fn prop_other<'p, 'a>(v: &'p J<'a>, key: &str) -> Option<Cow<'p, J<'a>>> {
    match v {
        J::Obj(o) => o.get(key).map(Cow::Borrowed),
        J::Arr(a) if key == "length" => Some(Cow::Owned(J::Num(a.len() as f64))),
        J::Arr(a) => a.get(array_index(key)? as usize).map(Cow::Borrowed),
        J::Str(_) => {
            // Rare (`name.length`, `id.0`): the evaluator's own string semantics.
            match JsVal::Str(v.as_str()?.to_string()).prop(key).into_owned() {
                JsVal::Undef => None,
                other => Some(Cow::Owned(other.into_j())),
            }
        }
        _ => None,
    }
}

/// The evaluator's size estimate of a value, stopping once past the budget. Recursive: the
/// value comes from a parsed event, whose depth is bounded (MAX_EVENT_DEPTH).
fn approx_size(v: &J) -> usize {
    fn walk(v: &J, total: &mut usize) {
        *total += std::mem::size_of::<J>();
        match v {
            J::Str(s) => *total += s.len(),
            J::Arr(a) => {
                for x in a {
                    if *total > MAX_EVAL_BYTES {
                        return;
                    }
                    walk(x, total);
                }
            }
            J::Obj(o) => {
                for (k, x) in o.iter() {
                    if *total > MAX_EVAL_BYTES {
                        return;
                    }
                    *total += k.len();
                    walk(x, total);
                }
            }
            _ => {}
        }
    }
    let mut total = 0;
    walk(v, &mut total);
    total
}

/// The speed builds' checked evaluation (`Compiled::apply_checked`): a mapping's object
/// nodes bound to the action's fields once, so each entry is cleaned, coerced and checked
/// (`schema::Walk`) as it is made, without a second walk of the payload that looks up each
/// key's field again. The size-optimized wasm leaves it out (it checks the made payload).
#[cfg(speed)]
pub(crate) mod checked {
    use super::{Node, OverBudget, Run, Tree};
    use crate::json::{Obj, J};
    use crate::schema::{self, Field, Walk};
    use std::borrow::Cow;

    /// An object node's entries' fields (`None`: undeclared), each with the binding of its
    /// own object node when the field nests one, and whether it is a literal the walk keeps
    /// as it is (checked once, here: `action_source`'s choices, say).
    #[derive(Debug, Clone)]
    pub(crate) struct Binding {
        pub(crate) fields: &'static [Field],
        entries: Vec<(Option<&'static Field>, Option<Binding>, bool)>,
        /// Whether a field of `fields` is required (most lists have none).
        required: bool,
    }

    /// What `Walk::entry` does with `v` for `f` when the answer is known without it: a value
    /// of a plain field's own type that cleaning keeps is kept as it is.
    #[inline(always)]
    fn kept_as_is(f: &Field, v: &J) -> bool {
        match v {
            J::Null => false,
            J::Str(s) if s.is_empty() => false,
            _ => schema::plain_accepts(f, v),
        }
    }

    /// `None` unless the tree's root is an object node.
    pub(crate) fn bind(tree: &Tree, fields: &'static [Field]) -> Option<Binding> {
        bind_node(&tree.root, fields, true)
    }

    fn bind_node(n: &Node, fields: &'static [Field], root: bool) -> Option<Binding> {
        let Node::Obj(entries) = n else { return None };
        let entries = entries
            .iter()
            .map(|(k, child)| {
                let f = schema::field(fields, k);
                let nested = f.filter(|f| schema::nests_object(f)).and_then(|f| bind_node(child, f.properties, false));
                // A literal's step has the same answer for every event (the walk of an entry
                // depends only on it, its field and where it is).
                let literal_kept = match (f, child) {
                    (Some(f), Node::Lit(lit)) => {
                        let (mut v, mut path) = (lit.clone(), String::new());
                        let mut walk = Walk::level(root, &mut path);
                        walk.entry(k, &mut v, f, false) && walk.failed.is_none() && v == *lit
                    }
                    _ => false,
                };
                (f, nested, literal_kept)
            })
            .collect();
        Some(Binding { fields, entries, required: fields.iter().any(|f| f.required) })
    }

    /// Why the checked evaluation gave up: the caller evaluates and checks the usual way,
    /// which gives the result (and the error, with its exact message) itself.
    pub(crate) struct GiveUp;

    impl From<OverBudget> for GiveUp {
        fn from(_: OverBudget) -> GiveUp {
            GiveUp
        }
    }

    impl<'t, 'p, 'a> Run<'t, 'p, 'a> {
        /// The tree's root object, cleaned and checked against `b` as `schema::clean_and_validate`
        /// would leave it; `GiveUp` where that would fail (or evaluation runs over budget).
        pub(crate) fn eval_checked(&mut self, tree: &'a Tree, b: &Binding) -> Result<Obj<'a>, GiveUp> {
            let Node::Obj(entries) = &tree.root else { return Err(GiveUp) };
            let root = self.root;
            Walk::payload(|walk| self.object(entries, b, root, false, walk))
        }

        /// One object node: `open` as its field declares (the payload's root is not).
        fn object(&mut self, entries: &'a [(String, Node)], b: &Binding, payload: &J<'a>, open: bool, walk: &mut Walk) -> Result<Obj<'a>, GiveUp> {
            let mut out = Obj::with_capacity(entries.len());
            for ((k, n), (f, nested, literal_kept)) in entries.iter().zip(&b.entries) {
                let (mut v, walked) = match (f, nested, n) {
                    (Some(f), Some(nb), Node::Obj(inner)) => (J::Obj(self.object(inner, nb, payload, f.open, &mut walk.nested())?), true),
                    _ => match self.eval(n, payload)? {
                        Some(v) => (v, false),
                        None => continue,
                    },
                };
                let keep = match f {
                    Some(f) if *literal_kept || (!walked && kept_as_is(f, &v)) => true,
                    Some(f) => walk.entry(k, &mut v, f, walked),
                    None => open,
                };
                if walk.failed.is_some() {
                    return Err(GiveUp);
                }
                if keep {
                    out.push(Cow::Borrowed(k.as_str()), v);
                }
            }
            if b.required && b.fields.iter().any(|f| f.required && !out.contains(f.name)) {
                return Err(GiveUp);
            }
            Ok(out)
        }
    }
}
