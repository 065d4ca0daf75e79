//! Values, code objects and the bytecode compiler.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use crate::minivm::jit::Specialized;
use crate::minivm::parse::{BinOp, ClassItem, Expr, FuncDef, Stmt};

thread_local! {
    static NEXT_HANDLE: Cell<u64> = const { Cell::new(16) };
}

/// A fresh VM handle for a new object (handles 1 and 2 are the globals and builtins).
pub fn new_handle() -> u64 {
    NEXT_HANDLE.with(|h| {
        let v = h.get();
        h.set(v + 1);
        v
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Print,
    Len,
    Abs,
    Min,
    Max,
}

#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<[Value]>),
    Func(Rc<Function>),
    Class(Rc<Class>),
    Code(Rc<Code>),
    Builtin(Builtin),
}

impl Value {
    /// Whether `self` and `other` are the same object (Python's `is`, with small ints
    /// and strings compared by value, as interning makes them in practice).
    pub fn is(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Tuple(a), Value::Tuple(b)) => Rc::ptr_eq(a, b),
            (Value::Func(a), Value::Func(b)) => Rc::ptr_eq(a, b),
            (Value::Class(a), Value::Class(b)) => Rc::ptr_eq(a, b),
            (Value::Code(a), Value::Code(b)) => Rc::ptr_eq(a, b),
            (Value::Builtin(a), Value::Builtin(b)) => a == b,
            _ => false,
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::Tuple(t) => !t.is_empty(),
            _ => true,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => write!(f, "None"),
            Value::Bool(true) => write!(f, "True"),
            Value::Bool(false) => write!(f, "False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s}"),
            Value::Tuple(items) => {
                write!(f, "(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if items.len() == 1 {
                    write!(f, ",")?;
                }
                write!(f, ")")
            }
            Value::Func(func) => write!(f, "<function {}>", func.name),
            Value::Class(c) => write!(f, "<class {}>", c.name),
            Value::Code(c) => write!(f, "<code {}>", c.name),
            Value::Builtin(b) => write!(f, "<builtin {b:?}>"),
        }
    }
}

/// A function object: `__code__` and `__defaults__` are mutable, as in Python.
pub struct Function {
    pub name: Rc<str>,
    pub code: RefCell<Rc<Code>>,
    pub defaults: RefCell<Rc<[Value]>>,
    pub handle: u64,
    /// Calls since the last (re)compile, for the hotness threshold.
    pub calls: Cell<u32>,
    /// The specialized form, while one is installed.
    pub spec: RefCell<Option<Rc<Specialized>>>,
}

/// A class: attributes and single inheritance.
pub struct Class {
    pub name: Rc<str>,
    pub base: Option<Rc<Class>>,
    pub attrs: RefCell<HashMap<Rc<str>, Value>>,
    pub handle: u64,
}

impl Class {
    /// Looks `name` up through the MRO (this class, then its bases).
    pub fn lookup(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.attrs.borrow().get(name) {
            return Some(v.clone());
        }
        self.base.as_ref()?.lookup(name)
    }
}

/// One bytecode instruction. Every specialized form has the same stack effect as the
/// generic instruction it replaces, so a frame can deopt at any `pc`.
#[derive(Clone)]
pub enum Instr {
    Const(Value),
    LoadFast(usize),
    StoreFast(usize),
    LoadGlobal(Rc<str>),
    StoreGlobal(Rc<str>),
    DelGlobal(Rc<str>),
    LoadAttr(Rc<str>),
    /// Stack: object, value.
    StoreAttr(Rc<str>),
    Bin(BinOp),
    Neg,
    Jump(usize),
    JumpIfFalse(usize),
    Call(usize),
    Return,
    Pop,
    BuildTuple(usize),
    /// Pops `ndefaults` defaults.
    MakeFunction(Rc<Code>, usize),
    /// Pops the base (if any) and one value per attribute name.
    MakeClass {
        name: Rc<str>,
        attrs: Vec<Rc<str>>,
        has_base: bool,
    },
    // --- specialized forms, only in JIT output ---
    /// Replaces `LoadGlobal`: the value found at compile time, guarded by depwatch.
    GuardedGlobal(Value),
    /// Replaces `LoadAttr`: pops the object, pushes the attribute found at compile time.
    GuardedAttr(Value),
    /// Replaces `Call(argc)` to a known small function: runs the callee's code and
    /// defaults as they were at compile time, skipping the function object.
    InlinedCall {
        code: Rc<Code>,
        defaults: Rc<[Value]>,
        argc: usize,
    },
}

/// A code object.
pub struct Code {
    pub name: Rc<str>,
    pub params: Vec<Rc<str>>,
    pub nlocals: usize,
    pub instrs: Vec<Instr>,
}

/// Compiles a program to its module code.
pub fn compile_module(stmts: &[Stmt]) -> Result<Rc<Code>, String> {
    let mut c = Compiler {
        locals: None,
        globals: HashSet::new(),
        out: Vec::new(),
    };
    c.block(stmts)?;
    c.out.push(Instr::Const(Value::None));
    c.out.push(Instr::Return);
    Ok(Rc::new(Code {
        name: "<module>".into(),
        params: Vec::new(),
        nlocals: 0,
        instrs: c.out,
    }))
}

struct Compiler {
    /// `None` at module level; name → slot in a function.
    locals: Option<HashMap<Rc<str>, usize>>,
    globals: HashSet<Rc<str>>,
    out: Vec<Instr>,
}

fn assigned(stmts: &[Stmt], out: &mut Vec<Rc<str>>, globals: &mut HashSet<Rc<str>>) {
    for s in stmts {
        match s {
            Stmt::Assign(n, _) => out.push(n.clone()),
            Stmt::Global(ns) => globals.extend(ns.iter().cloned()),
            Stmt::While(_, b) => assigned(b, out, globals),
            Stmt::If(_, a, b) => {
                assigned(a, out, globals);
                assigned(b, out, globals);
            }
            _ => {}
        }
    }
}

fn compile_function(def: &FuncDef) -> Result<Rc<Code>, String> {
    let (mut names, mut globals) = (def.params.clone(), HashSet::new());
    assigned(&def.body, &mut names, &mut globals);
    let mut locals = HashMap::new();
    for n in names {
        if !globals.contains(&n) && !locals.contains_key(&n) {
            let slot = locals.len();
            locals.insert(n, slot);
        }
    }
    let nlocals = locals.len();
    let mut c = Compiler {
        locals: Some(locals),
        globals,
        out: Vec::new(),
    };
    c.block(&def.body)?;
    c.out.push(Instr::Const(Value::None));
    c.out.push(Instr::Return);
    Ok(Rc::new(Code {
        name: def.name.clone(),
        params: def.params.clone(),
        nlocals,
        instrs: c.out,
    }))
}

impl Compiler {
    fn slot(&self, name: &str) -> Option<usize> {
        if self.globals.contains(name) {
            return None;
        }
        self.locals.as_ref()?.get(name).copied()
    }

    fn block(&mut self, stmts: &[Stmt]) -> Result<(), String> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn store(&mut self, name: &Rc<str>) {
        match self.slot(name) {
            Some(i) => self.out.push(Instr::StoreFast(i)),
            None => self.out.push(Instr::StoreGlobal(name.clone())),
        }
    }

    fn function(&mut self, def: &FuncDef) -> Result<(), String> {
        for d in &def.defaults {
            self.expr(d)?;
        }
        let code = compile_function(def)?;
        self.out.push(Instr::MakeFunction(code, def.defaults.len()));
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), String> {
        match s {
            Stmt::Expr(e) => {
                self.expr(e)?;
                self.out.push(Instr::Pop);
            }
            Stmt::Assign(n, e) => {
                self.expr(e)?;
                self.store(n);
            }
            Stmt::SetAttr(obj, attr, value) => {
                self.expr(obj)?;
                self.expr(value)?;
                self.out.push(Instr::StoreAttr(attr.clone()));
            }
            Stmt::Def(def) => {
                if self.locals.is_some() {
                    return Err(format!(
                        "def {}: functions can only be defined at module level",
                        def.name
                    ));
                }
                self.function(def)?;
                self.store(&def.name);
            }
            Stmt::Class { name, base, body } => {
                if self.locals.is_some() {
                    return Err(format!(
                        "class {name}: classes can only be defined at module level"
                    ));
                }
                if let Some(b) = base {
                    self.out.push(Instr::LoadGlobal(b.clone()));
                }
                let mut attrs = Vec::new();
                for item in body {
                    match item {
                        ClassItem::Assign(n, e) => {
                            self.expr(e)?;
                            attrs.push(n.clone());
                        }
                        ClassItem::Def(def) => {
                            self.function(def)?;
                            attrs.push(def.name.clone());
                        }
                    }
                }
                self.out.push(Instr::MakeClass {
                    name: name.clone(),
                    attrs,
                    has_base: base.is_some(),
                });
                self.store(name);
            }
            Stmt::While(cond, body) => {
                let top = self.out.len();
                self.expr(cond)?;
                let exit = self.out.len();
                self.out.push(Instr::JumpIfFalse(0));
                self.block(body)?;
                self.out.push(Instr::Jump(top));
                let end = self.out.len();
                self.out[exit] = Instr::JumpIfFalse(end);
            }
            Stmt::If(cond, then, otherwise) => {
                self.expr(cond)?;
                let to_else = self.out.len();
                self.out.push(Instr::JumpIfFalse(0));
                self.block(then)?;
                let to_end = self.out.len();
                self.out.push(Instr::Jump(0));
                let else_at = self.out.len();
                self.block(otherwise)?;
                let end = self.out.len();
                self.out[to_else] = Instr::JumpIfFalse(else_at);
                self.out[to_end] = Instr::Jump(end);
            }
            Stmt::Return(e) => {
                match e {
                    Some(e) => self.expr(e)?,
                    None => self.out.push(Instr::Const(Value::None)),
                }
                self.out.push(Instr::Return);
            }
            Stmt::Global(_) => {}
            Stmt::Del(n) => {
                if self.slot(n).is_some() {
                    return Err(format!("del {n}: only globals can be deleted"));
                }
                self.out.push(Instr::DelGlobal(n.clone()));
            }
        }
        Ok(())
    }

    fn expr(&mut self, e: &Expr) -> Result<(), String> {
        match e {
            Expr::Int(v) => self.out.push(Instr::Const(Value::Int(*v))),
            Expr::Str(s) => self.out.push(Instr::Const(Value::Str(s.clone()))),
            Expr::None => self.out.push(Instr::Const(Value::None)),
            Expr::Bool(b) => self.out.push(Instr::Const(Value::Bool(*b))),
            Expr::Name(n) => match self.slot(n) {
                Some(i) => self.out.push(Instr::LoadFast(i)),
                None => self.out.push(Instr::LoadGlobal(n.clone())),
            },
            Expr::Tuple(items) => {
                for i in items {
                    self.expr(i)?;
                }
                self.out.push(Instr::BuildTuple(items.len()));
            }
            Expr::Attr(obj, attr) => {
                self.expr(obj)?;
                self.out.push(Instr::LoadAttr(attr.clone()));
            }
            Expr::Call(f, args) => {
                self.expr(f)?;
                for a in args {
                    self.expr(a)?;
                }
                self.out.push(Instr::Call(args.len()));
            }
            Expr::Bin(op, a, b) => {
                self.expr(a)?;
                self.expr(b)?;
                self.out.push(Instr::Bin(*op));
            }
            Expr::Neg(a) => {
                self.expr(a)?;
                self.out.push(Instr::Neg);
            }
        }
        Ok(())
    }
}
