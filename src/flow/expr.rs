//! The small expression language of `branch`, `set` and `lookup` keys.
//!
//! Grammar (lowest binding first):
//!
//! ```text
//! expr    := or
//! or      := and ( ("||" | "or") and )*
//! and     := not ( ("&&" | "and") not )*
//! not     := ("!" | "not") not | compare
//! compare := sum ( ("==" | "!=" | "<" | "<=" | ">" | ">=" | "starts_with"
//!                   | "ends_with" | "contains") sum
//!                | "in" "[" sum ("," sum)* "]" )?
//! sum     := operand ( ("+" | "-") operand )*
//! operand := NUMBER | 'text' | "text" | true | false | null | PATH | "len" "(" expr ")"
//!          | "(" expr ")"
//! PATH    := name ("." name)*          e.g. vars.tier, caller.number, call.language
//! ```
//!
//! Evaluation never fails: an unknown name is `null`, comparisons of mismatched kinds are
//! false, `+` and `-` are arithmetic on numbers (and on text that reads as a number, such as
//! collected digits) and give `null` when a side is not a number, and truthiness is: `null`,
//! `false`, `0` and `""` are false. A `-` right after a value is subtraction; elsewhere it
//! starts a negative number. Parsing reports the column of the first problem.

use std::fmt;

use thiserror::Error;

use crate::flow::model::Value;

/// A parse error with the 1-based column inside the expression text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("column {column}: {reason}")]
pub struct ExprError {
    /// 1-based column in the expression.
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

/// Where names are resolved during evaluation.
pub trait Scope {
    /// The value at a dotted path (`vars.tier`), `Value::Null` when unknown.
    fn lookup(&self, path: &str) -> Value;
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
    /// `contains`
    Contains,
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal.
    Literal(Value),
    /// A dotted name.
    Path(String),
    /// `!e`
    Not(Box<Expr>),
    /// `a && b`
    And(Box<Expr>, Box<Expr>),
    /// `a || b`
    Or(Box<Expr>, Box<Expr>),
    /// `a op b`
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// `a in [b, c]`
    In(Box<Expr>, Vec<Expr>),
    /// `len(e)`: characters of the text form.
    Len(Box<Expr>),
    /// `a + b`: numeric sum, `null` unless both are numbers.
    Add(Box<Expr>, Box<Expr>),
    /// `a - b`: numeric difference, `null` unless both are numbers.
    Sub(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Parses an expression.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let tokens = lex(src)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            len: src.chars().count(),
        };
        let e = p.or()?;
        match p.peek() {
            None => Ok(e),
            Some((col, t)) => Err(ExprError {
                column: col,
                reason: format!("unexpected {t}"),
            }),
        }
    }

    /// Every dotted name the expression reads.
    pub fn paths(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Path(p) => out.push(p),
            Expr::Not(e) | Expr::Len(e) => e.collect_paths(out),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Compare(_, a, b)
            | Expr::Add(a, b)
            | Expr::Sub(a, b) => {
                a.collect_paths(out);
                b.collect_paths(out);
            }
            Expr::In(a, list) => {
                a.collect_paths(out);
                list.iter().for_each(|e| e.collect_paths(out));
            }
        }
    }

    /// Evaluates against a scope.
    pub fn eval(&self, scope: &dyn Scope) -> Value {
        match self {
            Expr::Literal(v) => v.clone(),
            Expr::Path(p) => scope.lookup(p),
            Expr::Not(e) => Value::Bool(!truthy(&e.eval(scope))),
            Expr::And(a, b) => Value::Bool(truthy(&a.eval(scope)) && truthy(&b.eval(scope))),
            Expr::Or(a, b) => Value::Bool(truthy(&a.eval(scope)) || truthy(&b.eval(scope))),
            Expr::Compare(op, a, b) => Value::Bool(compare(*op, &a.eval(scope), &b.eval(scope))),
            Expr::In(a, list) => {
                let v = a.eval(scope);
                Value::Bool(
                    list.iter()
                        .any(|e| compare(CompareOp::Eq, &v, &e.eval(scope))),
                )
            }
            Expr::Len(e) => Value::Number(text(&e.eval(scope)).chars().count() as f64),
            Expr::Add(a, b) => arithmetic(&a.eval(scope), &b.eval(scope), |x, y| x + y),
            Expr::Sub(a, b) => arithmetic(&a.eval(scope), &b.eval(scope), |x, y| x - y),
        }
    }

    /// Evaluates and applies truthiness.
    pub fn is_true(&self, scope: &dyn Scope) -> bool {
        truthy(&self.eval(scope))
    }
}

/// Truthiness: `null`, `false`, `0` and `""` are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => *n != 0.0,
        Value::Str(s) => !s.is_empty(),
    }
}

/// The text form of a value (`null` is empty).
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Value::Number(n) => n.to_string(),
        Value::Str(s) => s.clone(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn arithmetic(a: &Value, b: &Value, f: impl Fn(f64, f64) -> f64) -> Value {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => {
            let r = f(x, y);
            if r.is_finite() {
                Value::Number(r)
            } else {
                Value::Null
            }
        }
        _ => Value::Null,
    }
}

fn compare(op: CompareOp, a: &Value, b: &Value) -> bool {
    use CompareOp::*;
    match op {
        Eq | Ne => {
            let equal = match (a, b) {
                (Value::Number(_), _) | (_, Value::Number(_)) => match (number(a), number(b)) {
                    (Some(x), Some(y)) => x == y,
                    _ => false,
                },
                _ => a == b,
            };
            if op == Eq { equal } else { !equal }
        }
        Lt | Le | Gt | Ge => match (number(a), number(b)) {
            (Some(x), Some(y)) => match op {
                Lt => x < y,
                Le => x <= y,
                Gt => x > y,
                _ => x >= y,
            },
            _ => false,
        },
        StartsWith => text(a).starts_with(&text(b)),
        EndsWith => text(a).ends_with(&text(b)),
        Contains => text(a).contains(&text(b)),
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Str(s) => write!(f, "{s:?}"),
            other => f.write_str(&text(other)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "number {n}"),
            Tok::Str(s) => write!(f, "text {s:?}"),
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Op(o) => write!(f, "'{o}'"),
        }
    }
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ExprError> {
    const OPS: [&str; 16] = [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ",", "+", "-",
    ];
    // A `-` directly after a value (a number, text, name or closing bracket) subtracts.
    let after_value = |out: &Vec<(usize, Tok)>| match out.last() {
        Some((_, Tok::Num(_) | Tok::Str(_))) => true,
        Some((_, Tok::Op(o))) => matches!(*o, ")" | "]"),
        Some((_, Tok::Ident(w))) => !matches!(
            w.as_str(),
            "and" | "or" | "not" | "in" | "starts_with" | "ends_with" | "contains"
        ),
        None => false,
    };
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or(ExprError {
                    column: col,
                    reason: "text is not closed".into(),
                })?;
            out.push((col, Tok::Str(chars[i + 1..i + 1 + end].iter().collect())));
            i += end + 2;
        } else if c.is_ascii_digit()
            || (c == '-'
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                && !after_value(&out))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            let n = s.parse().map_err(|_| ExprError {
                column: col,
                reason: format!("bad number {s}"),
            })?;
            out.push((col, Tok::Num(n)));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push((col, Tok::Ident(chars[start..i].iter().collect())));
        } else if let Some(op) = OPS.iter().find(|op| {
            let n = op.len();
            i + n <= chars.len() && chars[i..i + n].iter().copied().eq(op.chars())
        }) {
            out.push((col, Tok::Op(op)));
            i += op.len();
        } else {
            return Err(ExprError {
                column: col,
                reason: format!("unexpected character {c:?}"),
            });
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<(usize, &Tok)> {
        self.tokens.get(self.pos).map(|(c, t)| (*c, t))
    }

    fn next_is(&self, words: &[&str]) -> bool {
        match self.peek() {
            Some((_, Tok::Op(o))) => words.contains(o),
            Some((_, Tok::Ident(w))) => words.contains(&w.as_str()),
            _ => false,
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), ExprError> {
        if self.next_is(&[op]) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{op}'")))
        }
    }

    fn error(&self, what: &str) -> ExprError {
        match self.peek() {
            Some((column, t)) => ExprError {
                column,
                reason: format!("{what}, found {t}"),
            },
            None => ExprError {
                column: self.len + 1,
                reason: format!("{what} at the end"),
            },
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.and()?;
        while self.next_is(&["||", "or"]) {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.not()?;
        while self.next_is(&["&&", "and"]) {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.next_is(&["!", "not"]) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.compare()
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.operand()?;
        loop {
            if self.next_is(&["+"]) {
                self.pos += 1;
                e = Expr::Add(Box::new(e), Box::new(self.operand()?));
            } else if self.next_is(&["-"]) {
                self.pos += 1;
                e = Expr::Sub(Box::new(e), Box::new(self.operand()?));
            } else {
                return Ok(e);
            }
        }
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let left = self.sum()?;
        let op = match self.peek() {
            Some((_, Tok::Op("=="))) => CompareOp::Eq,
            Some((_, Tok::Op("!="))) => CompareOp::Ne,
            Some((_, Tok::Op("<"))) => CompareOp::Lt,
            Some((_, Tok::Op("<="))) => CompareOp::Le,
            Some((_, Tok::Op(">"))) => CompareOp::Gt,
            Some((_, Tok::Op(">="))) => CompareOp::Ge,
            Some((_, Tok::Ident(w))) if w == "starts_with" => CompareOp::StartsWith,
            Some((_, Tok::Ident(w))) if w == "ends_with" => CompareOp::EndsWith,
            Some((_, Tok::Ident(w))) if w == "contains" => CompareOp::Contains,
            Some((_, Tok::Ident(w))) if w == "in" => {
                self.pos += 1;
                self.expect("[")?;
                let mut list = vec![self.sum()?];
                while self.next_is(&[","]) {
                    self.pos += 1;
                    list.push(self.sum()?);
                }
                self.expect("]")?;
                return Ok(Expr::In(Box::new(left), list));
            }
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.sum()?;
        Ok(Expr::Compare(op, Box::new(left), Box::new(right)))
    }

    fn operand(&mut self) -> Result<Expr, ExprError> {
        let Some((_, tok)) = self.peek() else {
            return Err(self.error("expected a value"));
        };
        let e = match tok.clone() {
            Tok::Num(n) => Expr::Literal(Value::Number(n)),
            Tok::Str(s) => Expr::Literal(Value::Str(s)),
            Tok::Ident(w) => match w.as_str() {
                "true" => Expr::Literal(Value::Bool(true)),
                "false" => Expr::Literal(Value::Bool(false)),
                "null" => Expr::Literal(Value::Null),
                "len" => {
                    self.pos += 1;
                    self.expect("(")?;
                    let inner = self.or()?;
                    self.expect(")")?;
                    return Ok(Expr::Len(Box::new(inner)));
                }
                "and" | "or" | "not" | "in" | "starts_with" | "ends_with" | "contains" => {
                    return Err(self.error("expected a value"));
                }
                _ => Expr::Path(w),
            },
            Tok::Op("(") => {
                self.pos += 1;
                let inner = self.or()?;
                self.expect(")")?;
                return Ok(inner);
            }
            Tok::Op(_) => return Err(self.error("expected a value")),
        };
        self.pos += 1;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, Value>);
    impl Scope for Vars {
        fn lookup(&self, path: &str) -> Value {
            self.0.get(path).cloned().unwrap_or(Value::Null)
        }
    }

    fn scope() -> Vars {
        Vars(HashMap::from([
            ("vars.tier", Value::Str("chain".into())),
            ("vars.amount", Value::Str("120".into())),
            ("caller.number", Value::Str("+8613800000000".into())),
        ]))
    }

    fn eval(src: &str) -> Value {
        Expr::parse(src).expect(src).eval(&scope())
    }

    #[test]
    fn compares_text_numbers_and_lists() {
        assert_eq!(eval("vars.tier == 'chain'"), Value::Bool(true));
        assert_eq!(
            eval("vars.amount > 100 && vars.amount <= 120"),
            Value::Bool(true)
        );
        assert_eq!(
            eval("vars.tier in ['individual', \"chain\"]"),
            Value::Bool(true)
        );
        assert_eq!(eval("caller.number starts_with '+86'"), Value::Bool(true));
        assert_eq!(
            eval("not (vars.missing == 'x') or false"),
            Value::Bool(true)
        );
        assert_eq!(eval("len(vars.amount) == 3"), Value::Bool(true));
        assert_eq!(eval("vars.missing"), Value::Null);
    }

    #[test]
    fn adds_and_subtracts_numbers_and_numeric_text() {
        assert_eq!(eval("vars.amount + 1"), Value::Number(121.0));
        assert_eq!(eval("vars.amount-20 == 100"), Value::Bool(true));
        assert_eq!(eval("1 - -2 + 3"), Value::Number(6.0));
        assert_eq!(eval("(vars.amount - 100) == 20"), Value::Bool(true));
        assert_eq!(eval("vars.missing + 1"), Value::Null);
        assert_eq!(eval("vars.tier + 1"), Value::Null);
        assert_eq!(eval("vars.x in [-1, 2 - 3]"), Value::Bool(false));
        assert_eq!(eval("len(vars.tier) - 1 >= 4"), Value::Bool(true));
    }

    #[test]
    fn parse_errors_name_the_column() {
        let e = Expr::parse("vars.tier == ").unwrap_err();
        assert_eq!(e.column, 14);
        let e = Expr::parse("vars.tier = 'x'").unwrap_err();
        assert_eq!(e.column, 11);
        assert!(Expr::parse("'open").is_err());
        assert!(Expr::parse("a b").is_err());
    }

    #[test]
    fn lists_paths_read() {
        let e = Expr::parse("vars.a == 1 || caller.number in [vars.b]").unwrap();
        assert_eq!(e.paths(), vec!["vars.a", "caller.number", "vars.b"]);
    }
}
