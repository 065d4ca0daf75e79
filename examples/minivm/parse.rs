//! Lexer and parser for the mini language: Python-like statements, blocks closed by
//! `end`.
//!
//! ```text
//! def add(a, b=2):        class D(C):          while i < 10:      if x == 1:
//!     return a + b            scale = 3            i = i + 1          print(x)
//! end                         def f(x):        end                else:
//!                                 return x*2                         print(0)
//!                             end                                 end
//!                         end
//! ```

use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i64),
    Str(Rc<str>),
    Name(Rc<str>),
    Op(&'static str),
    Newline,
    Eof,
}

const OPS: [&str; 18] = [
    "==", "!=", "<=", ">=", "(", ")", ",", ":", ".", "=", "+", "-", "*", "/", "%", "<", ">", ";",
];

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let mut toks = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let line_no = n + 1;
        let mut rest = line.trim_start();
        let start_len = toks.len();
        while !rest.is_empty() {
            let c = rest.chars().next().unwrap_or(' ');
            if c == '#' {
                break;
            } else if c.is_whitespace() {
                rest = rest.trim_start();
            } else if c.is_ascii_digit() {
                let end = rest
                    .find(|ch: char| !ch.is_ascii_digit())
                    .unwrap_or(rest.len());
                let v = rest[..end]
                    .parse()
                    .map_err(|e| format!("line {line_no}: {e}"))?;
                toks.push((Tok::Int(v), line_no));
                rest = &rest[end..];
            } else if c == '"' {
                let end = rest[1..]
                    .find('"')
                    .ok_or(format!("line {line_no}: unterminated string"))?;
                toks.push((Tok::Str(rest[1..=end].into()), line_no));
                rest = &rest[end + 2..];
            } else if c.is_alphabetic() || c == '_' {
                let end = rest
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .unwrap_or(rest.len());
                toks.push((Tok::Name(rest[..end].into()), line_no));
                rest = &rest[end..];
            } else if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
                toks.push((Tok::Op(op), line_no));
                rest = &rest[op.len()..];
            } else {
                return Err(format!("line {line_no}: unexpected character {c:?}"));
            }
        }
        if toks.len() > start_len {
            toks.push((Tok::Newline, line_no));
        }
    }
    let last = src.lines().count();
    toks.push((Tok::Eof, last));
    Ok(toks)
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
pub enum Expr {
    Int(i64),
    Str(Rc<str>),
    None,
    Bool(bool),
    Name(Rc<str>),
    Tuple(Vec<Expr>),
    Attr(Box<Expr>, Rc<str>),
    Call(Box<Expr>, Vec<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
}

#[derive(Clone, Debug)]
pub struct FuncDef {
    pub name: Rc<str>,
    pub params: Vec<Rc<str>>,
    pub defaults: Vec<Expr>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug)]
pub enum ClassItem {
    Assign(Rc<str>, Expr),
    Def(FuncDef),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Expr(Expr),
    Assign(Rc<str>, Expr),
    SetAttr(Expr, Rc<str>, Expr),
    Def(FuncDef),
    Class {
        name: Rc<str>,
        base: Option<Rc<str>>,
        body: Vec<ClassItem>,
    },
    While(Expr, Vec<Stmt>),
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    Return(Option<Expr>),
    Global(Vec<Rc<str>>),
    Del(Rc<str>),
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

/// Parses a program.
pub fn parse(src: &str) -> Result<Vec<Stmt>, String> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let mut stmts = Vec::new();
    while p.peek() != &Tok::Eof {
        stmts.push(p.stmt()?);
    }
    Ok(stmts)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn line(&self) -> usize {
        self.toks[self.pos].1
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if t != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "line {}: expected {what}, found {:?}",
            self.line(),
            self.peek()
        ))
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.peek() == &Tok::Op(op_static(op)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), String> {
        if self.eat_op(op) {
            Ok(())
        } else {
            self.err(&format!("`{op}`"))
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if &**n == kw)
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.is_kw(kw) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(&format!("`{kw}`"))
        }
    }

    fn name(&mut self) -> Result<Rc<str>, String> {
        match self.peek().clone() {
            Tok::Name(n) => {
                self.pos += 1;
                Ok(n)
            }
            _ => self.err("a name"),
        }
    }

    fn end_of_line(&mut self) -> Result<(), String> {
        match self.peek() {
            Tok::Newline => {
                self.pos += 1;
                Ok(())
            }
            Tok::Eof => Ok(()),
            _ => self.err("end of line"),
        }
    }

    /// Statements up to (not including) one of `stops`.
    fn block(&mut self, stops: &[&str]) -> Result<Vec<Stmt>, String> {
        let mut body = Vec::new();
        while !stops.iter().any(|s| self.is_kw(s)) {
            if self.peek() == &Tok::Eof {
                return self.err(&format!("`{}`", stops[0]));
            }
            body.push(self.stmt()?);
        }
        Ok(body)
    }

    fn header_end(&mut self) -> Result<(), String> {
        self.expect_op(":")?;
        self.end_of_line()
    }

    fn funcdef(&mut self) -> Result<FuncDef, String> {
        let name = self.name()?;
        self.expect_op("(")?;
        let (mut params, mut defaults) = (Vec::new(), Vec::new());
        while !self.eat_op(")") {
            params.push(self.name()?);
            if self.eat_op("=") {
                defaults.push(self.expr()?);
            } else if !defaults.is_empty() {
                return Err(format!(
                    "line {}: parameter without default after one with",
                    self.line()
                ));
            }
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        self.header_end()?;
        let body = self.block(&["end"])?;
        self.expect_kw("end")?;
        self.end_of_line()?;
        Ok(FuncDef {
            name,
            params,
            defaults,
            body,
        })
    }

    fn stmt(&mut self) -> Result<Stmt, String> {
        let Tok::Name(kw) = self.peek().clone() else {
            return self.simple();
        };
        match &*kw {
            "def" => {
                self.pos += 1;
                Ok(Stmt::Def(self.funcdef()?))
            }
            "class" => {
                self.pos += 1;
                let name = self.name()?;
                let base = if self.eat_op("(") {
                    let b = self.name()?;
                    self.expect_op(")")?;
                    Some(b)
                } else {
                    None
                };
                self.header_end()?;
                let mut body = Vec::new();
                while !self.is_kw("end") {
                    if self.is_kw("def") {
                        self.pos += 1;
                        body.push(ClassItem::Def(self.funcdef()?));
                    } else {
                        let n = self.name()?;
                        self.expect_op("=")?;
                        body.push(ClassItem::Assign(n, self.expr()?));
                        self.end_of_line()?;
                    }
                }
                self.expect_kw("end")?;
                self.end_of_line()?;
                Ok(Stmt::Class { name, base, body })
            }
            "while" => {
                self.pos += 1;
                let cond = self.expr()?;
                self.header_end()?;
                let body = self.block(&["end"])?;
                self.expect_kw("end")?;
                self.end_of_line()?;
                Ok(Stmt::While(cond, body))
            }
            "if" => {
                self.pos += 1;
                let cond = self.expr()?;
                self.header_end()?;
                let then = self.block(&["else", "end"])?;
                let otherwise = if self.is_kw("else") {
                    self.pos += 1;
                    self.header_end()?;
                    self.block(&["end"])?
                } else {
                    Vec::new()
                };
                self.expect_kw("end")?;
                self.end_of_line()?;
                Ok(Stmt::If(cond, then, otherwise))
            }
            "return" => {
                self.pos += 1;
                let value = if matches!(self.peek(), Tok::Newline | Tok::Eof) {
                    None
                } else {
                    Some(self.expr()?)
                };
                self.end_of_line()?;
                Ok(Stmt::Return(value))
            }
            "global" => {
                self.pos += 1;
                let mut names = vec![self.name()?];
                while self.eat_op(",") {
                    names.push(self.name()?);
                }
                self.end_of_line()?;
                Ok(Stmt::Global(names))
            }
            "del" => {
                self.pos += 1;
                let n = self.name()?;
                self.end_of_line()?;
                Ok(Stmt::Del(n))
            }
            _ => self.simple(),
        }
    }

    fn simple(&mut self) -> Result<Stmt, String> {
        let target = self.expr()?;
        let stmt = if self.eat_op("=") {
            let value = self.expr()?;
            match target {
                Expr::Name(n) => Stmt::Assign(n, value),
                Expr::Attr(obj, attr) => Stmt::SetAttr(*obj, attr, value),
                _ => return Err(format!("line {}: cannot assign to this", self.line())),
            }
        } else {
            Stmt::Expr(target)
        };
        self.end_of_line()?;
        Ok(stmt)
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            _ => return Ok(left),
        };
        self.pos += 1;
        Ok(Expr::Bin(op, Box::new(left), Box::new(self.additive()?)))
    }

    fn additive(&mut self) -> Result<Expr, String> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                Tok::Op("%") => BinOp::Mod,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        let mut e = self.primary()?;
        loop {
            if self.eat_op(".") {
                e = Expr::Attr(Box::new(e), self.name()?);
            } else if self.eat_op("(") {
                let mut args = Vec::new();
                while !self.eat_op(")") {
                    args.push(self.expr()?);
                    if !self.eat_op(",") {
                        self.expect_op(")")?;
                        break;
                    }
                }
                e = Expr::Call(Box::new(e), args);
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        if matches!(
            self.peek(),
            Tok::Newline | Tok::Eof | Tok::Op(")" | "," | ":" | "=")
        ) {
            return self.err("an expression");
        }
        match self.next() {
            Tok::Int(v) => Ok(Expr::Int(v)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Name(n) => Ok(match &*n {
                "None" => Expr::None,
                "True" => Expr::Bool(true),
                "False" => Expr::Bool(false),
                _ => Expr::Name(n),
            }),
            Tok::Op("(") => {
                if self.eat_op(")") {
                    return Ok(Expr::Tuple(Vec::new()));
                }
                let first = self.expr()?;
                if self.eat_op(")") {
                    return Ok(first);
                }
                let mut items = vec![first];
                while self.eat_op(",") {
                    if self.peek() == &Tok::Op(")") {
                        break;
                    }
                    items.push(self.expr()?);
                }
                self.expect_op(")")?;
                Ok(Expr::Tuple(items))
            }
            _ => {
                self.pos -= 1;
                self.err("an expression")
            }
        }
    }
}

fn op_static(op: &str) -> &'static str {
    OPS.iter().find(|o| **o == op).copied().unwrap_or("?")
}
