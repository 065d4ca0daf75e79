//! The interpreter, and the watcher events it raises.

use std::collections::HashMap;
use std::rc::Rc;

use depwatch::adapters::{DictEvent, FunctionEvent, Values};

use crate::minivm::code::{
    Builtin, Class, Code, Function, Instr, Value, compile_module, new_handle,
};
use crate::minivm::jit::{self, GLOBALS, Jit, JitStats, Specialized, key};
use crate::minivm::parse::{BinOp, parse};

/// How to run a program.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Whether the specializing tier is on.
    pub jit: bool,
    /// Calls before a function is compiled.
    pub threshold: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            jit: true,
            threshold: 3,
        }
    }
}

/// What the specializing tier did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The JIT's own counters.
    pub jit: JitStats,
    /// Watcher events raised, including those for objects the JIT never tracked.
    pub events: u64,
    /// Events that fired nothing.
    pub quiet: u64,
}

/// A finished run: the program's output and the JIT's summary.
pub struct Run {
    pub output: String,
    pub summary: Summary,
}

/// Parses, compiles and runs `src`.
pub fn run(src: &str, options: Options) -> Result<Run, String> {
    let module = compile_module(&parse(src)?)?;
    let mut vm = Vm::new(options);
    vm.exec(&module, None, Vec::new())
        .map_err(|e| format!("{}error: {e}", vm.out))?;
    let summary = vm.summary();
    Ok(Run {
        output: vm.out,
        summary,
    })
}

const STEP_LIMIT: u64 = 50_000_000;

struct Vm {
    globals: HashMap<Rc<str>, Value>,
    builtins: HashMap<Rc<str>, Value>,
    jit: Option<Jit>,
    threshold: u32,
    out: String,
    steps: u64,
}

impl Vm {
    fn new(options: Options) -> Self {
        let builtins = [
            ("print", Builtin::Print),
            ("len", Builtin::Len),
            ("abs", Builtin::Abs),
            ("min", Builtin::Min),
            ("max", Builtin::Max),
        ]
        .into_iter()
        .map(|(n, b)| (Rc::from(n), Value::Builtin(b)))
        .collect();
        Self {
            globals: HashMap::new(),
            builtins,
            jit: options.jit.then(Jit::new),
            threshold: options.threshold.max(1),
            out: String::new(),
            steps: 0,
        }
    }

    fn summary(&self) -> Summary {
        let Some(jit) = &self.jit else {
            return Summary::default();
        };
        let g = jit.graph.stats();
        let untracked =
            jit.dicts.stats().untracked + jit.funcs.stats().untracked + jit.types.stats().untracked;
        Summary {
            jit: jit.stats,
            events: g.events + untracked,
            quiet: g.quiet_events + untracked,
        }
    }

    // ----- the events a real VM's watchers would raise -----------------------------

    /// Tells the JIT's dict adapter about a change to the globals dict, before it is made.
    fn globals_event(&mut self, event: DictEvent) -> Result<(), String> {
        let Some(jit) = &mut self.jit else {
            return Ok(());
        };
        jit.dicts
            .on_event(
                &mut jit.graph,
                GLOBALS,
                event,
                &mut jit::handler(&mut jit.stats),
            )
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn set_global(&mut self, name: Rc<str>, value: Value) -> Result<(), String> {
        if self.jit.is_some() {
            let event = match self.globals.get(&name) {
                // The identity tokens only need to say "same object" or not.
                Some(old) => DictEvent::Modified {
                    key: key(&name),
                    values: Values::new(0, u64::from(!old.is(&value))),
                },
                None => DictEvent::Added { key: key(&name) },
            };
            self.globals_event(event)?;
        }
        self.globals.insert(name, value);
        Ok(())
    }

    fn del_global(&mut self, name: &Rc<str>) -> Result<(), String> {
        if !self.globals.contains_key(name) {
            return Err(format!("name '{name}' is not defined"));
        }
        self.globals_event(DictEvent::Deleted { key: key(name) })?;
        self.globals.remove(name);
        Ok(())
    }

    fn set_attr(&mut self, obj: Value, attr: Rc<str>, value: Value) -> Result<(), String> {
        match &obj {
            Value::Class(c) => {
                c.attrs.borrow_mut().insert(attr.clone(), value);
                if let Some(jit) = &mut self.jit {
                    jit.types
                        .on_modified(
                            &mut jit.graph,
                            c.handle,
                            Some(key(&attr)),
                            &mut jit::handler(&mut jit.stats),
                        )
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Value::Func(f) => {
                let event = match (&*attr, &value) {
                    ("__code__", Value::Code(new)) => {
                        let same = Rc::ptr_eq(&f.code.borrow(), new);
                        let event = FunctionEvent::ModifyCode(Values::new(0, u64::from(!same)));
                        *f.code.borrow_mut() = new.clone();
                        event
                    }
                    ("__defaults__", Value::Tuple(items)) => {
                        *f.defaults.borrow_mut() = items.clone();
                        FunctionEvent::ModifyDefaults(Values::UNKNOWN)
                    }
                    ("__defaults__", Value::None) => {
                        *f.defaults.borrow_mut() = Rc::from([]);
                        FunctionEvent::ModifyDefaults(Values::UNKNOWN)
                    }
                    _ => return Err(format!("cannot set {attr} of a function to {value}")),
                };
                if let Some(jit) = &mut self.jit {
                    jit.funcs
                        .on_event(
                            &mut jit.graph,
                            f.handle,
                            event,
                            &mut jit::handler(&mut jit.stats),
                        )
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            _ => Err(format!("cannot set attribute {attr} on {obj}")),
        }
    }

    // ----- execution ---------------------------------------------------------------

    fn get_attr(&self, obj: &Value, attr: &str) -> Result<Value, String> {
        match (obj, attr) {
            (Value::Class(c), _) => c
                .lookup(attr)
                .ok_or_else(|| format!("class {} has no attribute {attr}", c.name)),
            (Value::Func(f), "__code__") => Ok(Value::Code(f.code.borrow().clone())),
            (Value::Func(f), "__defaults__") => Ok(Value::Tuple(f.defaults.borrow().clone())),
            (Value::Func(f), "__name__") => Ok(Value::Str(f.name.clone())),
            _ => Err(format!("{obj} has no attribute {attr}")),
        }
    }

    fn maybe_specialize(&mut self, f: &Rc<Function>) -> Option<Rc<Specialized>> {
        let jit = self.jit.as_mut()?;
        let installed = f.spec.borrow().clone();
        if let Some(spec) = installed {
            if !spec.dead.get() {
                return Some(spec);
            }
            // Invalidated: back to the interpreter until it is hot again.
            *f.spec.borrow_mut() = None;
            f.calls.set(0);
        }
        f.calls.set(f.calls.get() + 1);
        if f.calls.get() < self.threshold {
            return None;
        }
        let spec = jit.specialize(f, &self.globals, &self.builtins);
        if spec.is_none() {
            f.calls.set(0);
        }
        f.spec.borrow_mut().clone_from(&spec);
        spec
    }

    fn call(&mut self, callee: Value, args: Vec<Value>) -> Result<Value, String> {
        match callee {
            Value::Builtin(b) => self.builtin(b, args),
            Value::Func(f) => {
                let spec = self.maybe_specialize(&f);
                let code = match &spec {
                    Some(s) => s.generic.clone(),
                    None => f.code.borrow().clone(),
                };
                let defaults = f.defaults.borrow().clone();
                let locals = bind(&code, &defaults, args)?;
                self.exec(&code, spec, locals)
            }
            other => Err(format!("{other} is not callable")),
        }
    }

    fn builtin(&mut self, b: Builtin, args: Vec<Value>) -> Result<Value, String> {
        let ints = || -> Result<Vec<i64>, String> {
            args.iter()
                .map(|a| match a {
                    Value::Int(i) => Ok(*i),
                    other => Err(format!("{b:?} expects ints, got {other}")),
                })
                .collect()
        };
        Ok(match b {
            Builtin::Print => {
                let line: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                self.out.push_str(&line.join(" "));
                self.out.push('\n');
                Value::None
            }
            Builtin::Len => match args.as_slice() {
                [Value::Str(s)] => Value::Int(s.chars().count() as i64),
                [Value::Tuple(t)] => Value::Int(t.len() as i64),
                _ => return Err("len expects one string or tuple".into()),
            },
            Builtin::Abs => match ints()?.as_slice() {
                [i] => Value::Int(i.abs()),
                _ => return Err("abs expects one int".into()),
            },
            Builtin::Min => Value::Int(ints()?.into_iter().min().ok_or("min of nothing")?),
            Builtin::Max => Value::Int(ints()?.into_iter().max().ok_or("max of nothing")?),
        })
    }

    fn exec(
        &mut self,
        code: &Rc<Code>,
        spec: Option<Rc<Specialized>>,
        mut locals: Vec<Value>,
    ) -> Result<Value, String> {
        locals.resize(code.nlocals.max(locals.len()), Value::None);
        let mut spec = spec;
        let mut stack: Vec<Value> = Vec::new();
        let mut pc = 0;
        loop {
            self.steps += 1;
            if self.steps > STEP_LIMIT {
                return Err("step limit exceeded".into());
            }
            let instr = match &spec {
                Some(s) if s.dead.get() => {
                    // Deopt: continue in the generic code at the same pc.
                    spec = None;
                    if let Some(jit) = &mut self.jit {
                        jit.stats.deopts += 1;
                    }
                    code.instrs[pc].clone()
                }
                Some(s) => s.instrs.borrow()[pc].clone(),
                None => code.instrs[pc].clone(),
            };
            pc += 1;
            let pop =
                |stack: &mut Vec<Value>| stack.pop().ok_or_else(|| "stack underflow".to_string());
            match instr {
                Instr::Const(v) | Instr::GuardedGlobal(v) => stack.push(v),
                Instr::LoadFast(i) => stack.push(locals[i].clone()),
                Instr::StoreFast(i) => locals[i] = pop(&mut stack)?,
                Instr::LoadGlobal(n) => {
                    let v = self.globals.get(&n).or_else(|| self.builtins.get(&n));
                    stack.push(
                        v.cloned()
                            .ok_or_else(|| format!("name '{n}' is not defined"))?,
                    );
                }
                Instr::StoreGlobal(n) => {
                    let v = pop(&mut stack)?;
                    self.set_global(n, v)?;
                }
                Instr::DelGlobal(n) => self.del_global(&n)?,
                Instr::LoadAttr(a) => {
                    let obj = pop(&mut stack)?;
                    stack.push(self.get_attr(&obj, &a)?);
                }
                Instr::GuardedAttr(v) => {
                    pop(&mut stack)?;
                    stack.push(v);
                }
                Instr::StoreAttr(a) => {
                    let v = pop(&mut stack)?;
                    let obj = pop(&mut stack)?;
                    self.set_attr(obj, a, v)?;
                }
                Instr::Bin(op) => {
                    let b = pop(&mut stack)?;
                    let a = pop(&mut stack)?;
                    stack.push(binop(op, a, b)?);
                }
                Instr::Neg => match pop(&mut stack)? {
                    Value::Int(i) => stack.push(Value::Int(-i)),
                    other => return Err(format!("cannot negate {other}")),
                },
                Instr::Jump(t) => pc = t,
                Instr::JumpIfFalse(t) => {
                    if !pop(&mut stack)?.truthy() {
                        pc = t;
                    }
                }
                Instr::Call(argc) => {
                    let args =
                        stack.split_off(stack.len().checked_sub(argc).ok_or("stack underflow")?);
                    let callee = pop(&mut stack)?;
                    let result = self.call(callee, args)?;
                    stack.push(result);
                }
                Instr::InlinedCall {
                    code: inlined,
                    defaults,
                    argc,
                } => {
                    let args =
                        stack.split_off(stack.len().checked_sub(argc).ok_or("stack underflow")?);
                    pop(&mut stack)?; // the callee, known at compile time
                    let locals = bind(&inlined, &defaults, args)?;
                    let result = self.exec(&inlined, None, locals)?;
                    stack.push(result);
                }
                Instr::Return => return pop(&mut stack),
                Instr::Pop => {
                    pop(&mut stack)?;
                }
                Instr::BuildTuple(n) => {
                    let items =
                        stack.split_off(stack.len().checked_sub(n).ok_or("stack underflow")?);
                    stack.push(Value::Tuple(items.into()));
                }
                Instr::MakeFunction(fcode, ndefaults) => {
                    let defaults = stack.split_off(
                        stack
                            .len()
                            .checked_sub(ndefaults)
                            .ok_or("stack underflow")?,
                    );
                    stack.push(Value::Func(Rc::new(Function {
                        name: fcode.name.clone(),
                        code: fcode.into(),
                        defaults: Rc::<[Value]>::from(defaults).into(),
                        handle: new_handle(),
                        calls: 0.into(),
                        spec: None.into(),
                    })));
                }
                Instr::MakeClass {
                    name,
                    attrs,
                    has_base,
                } => {
                    let values = stack.split_off(
                        stack
                            .len()
                            .checked_sub(attrs.len())
                            .ok_or("stack underflow")?,
                    );
                    let base = if has_base {
                        match pop(&mut stack)? {
                            Value::Class(b) => Some(b),
                            other => {
                                return Err(format!("base of {name} must be a class, not {other}"));
                            }
                        }
                    } else {
                        None
                    };
                    let class = Class {
                        name,
                        base: base.clone(),
                        attrs: attrs
                            .into_iter()
                            .zip(values)
                            .collect::<HashMap<_, _>>()
                            .into(),
                        handle: new_handle(),
                    };
                    if let (Some(jit), Some(b)) = (&mut self.jit, &base) {
                        jit.types.set_bases(class.handle, &[b.handle]);
                    }
                    stack.push(Value::Class(Rc::new(class)));
                }
            }
        }
    }
}

fn bind(code: &Code, defaults: &[Value], mut args: Vec<Value>) -> Result<Vec<Value>, String> {
    let n = code.params.len();
    let missing = n
        .checked_sub(args.len())
        .ok_or_else(|| format!("{}() takes {n} arguments, {} given", code.name, args.len()))?;
    if missing > defaults.len() {
        return Err(format!(
            "{}() missing {} required arguments",
            code.name,
            missing - defaults.len()
        ));
    }
    args.extend_from_slice(&defaults[defaults.len() - missing..]);
    Ok(args)
}

fn binop(op: BinOp, a: Value, b: Value) -> Result<Value, String> {
    use BinOp::*;
    Ok(match (op, &a, &b) {
        (Add, Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_add(*y)),
        (Sub, Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_sub(*y)),
        (Mul, Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_mul(*y)),
        (Div, Value::Int(_), Value::Int(0)) | (Mod, Value::Int(_), Value::Int(0)) => {
            return Err("division by zero".into());
        }
        (Div, Value::Int(x), Value::Int(y)) => Value::Int(x.div_euclid(*y)),
        (Mod, Value::Int(x), Value::Int(y)) => Value::Int(x.rem_euclid(*y)),
        (Add, Value::Str(x), Value::Str(y)) => Value::Str(format!("{x}{y}").into()),
        (Eq, _, _) => Value::Bool(equal(&a, &b)),
        (Ne, _, _) => Value::Bool(!equal(&a, &b)),
        (Lt, Value::Int(x), Value::Int(y)) => Value::Bool(x < y),
        (Le, Value::Int(x), Value::Int(y)) => Value::Bool(x <= y),
        (Gt, Value::Int(x), Value::Int(y)) => Value::Bool(x > y),
        (Ge, Value::Int(x), Value::Int(y)) => Value::Bool(x >= y),
        _ => return Err(format!("unsupported operands for {op:?}: {a} and {b}")),
    })
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q))
        }
        _ => a.is(b),
    }
}
