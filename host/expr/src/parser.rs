//! Recursive-descent parser for the Go expression subset, with Go's five precedence levels.

use crate::ExprError;
use crate::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use crate::lexer::{Tok, Token, err, tokenize};

/// Deepest nesting (parentheses, unary operators, calls) and tallest tree accepted. Real
/// expressions stay far below; the bound keeps every recursive pass off the end of the stack.
pub(crate) const MAX_DEPTH: u32 = 200;

const KEYWORDS: &[&str] = &[
    "break",
    "case",
    "chan",
    "const",
    "continue",
    "default",
    "defer",
    "else",
    "fallthrough",
    "for",
    "func",
    "go",
    "goto",
    "if",
    "import",
    "interface",
    "map",
    "package",
    "range",
    "return",
    "select",
    "struct",
    "switch",
    "type",
    "var",
];

/// Parses one expression.
///
/// # Errors
/// [`ExprError`] with the byte offset of the offending token and a message saying what is
/// supported instead.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    if p.peek() == &Tok::Newline {
        p.pos += 1;
    }
    let t = p.token();
    match &t.tok {
        Tok::Eof => Ok(e),
        Tok::Op("=") => Err(err(t.offset, "'=' is assignment: compare with '=='")),
        Tok::Op(op @ (":=" | "+=" | "-=" | "*=" | "/=" | "%=" | "++" | "--")) => Err(err(
            t.offset,
            format!("'{op}' is a statement: an expression cannot assign"),
        )),
        Tok::Op(";") => Err(err(t.offset, "';': only a single expression is allowed")),
        _ if p.pos > 0 && p.toks[p.pos - 1].tok == Tok::Newline => Err(err(
            t.offset,
            format!(
                "unexpected {} on a new line: an expression ends at the end of a line unless the \
                 line ends with an operator, a '(' or a ','",
                describe(&t.tok)
            ),
        )),
        other => Err(err(
            t.offset,
            format!("unexpected {} after the expression", describe(other)),
        )),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("identifier '{s}'"),
        Tok::Int(i) => format!("number {i}"),
        Tok::BigInt(d) => format!("number {d}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Op(op) => format!("'{op}'"),
        Tok::Newline => "newline".into(),
        Tok::Eof => "end of expression".into(),
    }
}

/// Binary operators by token: precedence and either the supported operator or why not.
fn binary_op(op: &str) -> Option<(u8, Result<BinaryOp, &'static str>)> {
    const BITWISE: &str = "bitwise operators (& | ^ &^ << >>) are not supported";
    Some(match op {
        "||" => (1, Ok(BinaryOp::Or)),
        "&&" => (2, Ok(BinaryOp::And)),
        "==" => (3, Ok(BinaryOp::Eq)),
        "!=" => (3, Ok(BinaryOp::Ne)),
        "<" => (3, Ok(BinaryOp::Lt)),
        "<=" => (3, Ok(BinaryOp::Le)),
        ">" => (3, Ok(BinaryOp::Gt)),
        ">=" => (3, Ok(BinaryOp::Ge)),
        "+" => (4, Ok(BinaryOp::Add)),
        "-" => (4, Ok(BinaryOp::Sub)),
        "|" | "^" => (4, Err(BITWISE)),
        "*" => (5, Ok(BinaryOp::Mul)),
        "/" => (5, Ok(BinaryOp::Div)),
        "%" => (5, Ok(BinaryOp::Rem)),
        "&" | "&^" | "<<" | ">>" => (5, Err(BITWISE)),
        _ => return None,
    })
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: u32,
}

impl Parser {
    fn token(&self) -> &Token {
        // The lexer always ends with Eof and the parser never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek(&self) -> &Tok {
        &self.token().tok
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }

    fn offset(&self) -> usize {
        self.token().offset
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(
                self.offset(),
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.binary(1)
    }

    fn binary(&mut self, min_prec: u8) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        while let Tok::Op(op) = *self.peek() {
            let Some((prec, res)) = binary_op(op) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            let op_offset = self.offset();
            let op = res.map_err(|m| err(op_offset, m))?;
            self.advance();
            let rhs = self.binary(prec + 1)?;
            let height = lhs.height.max(rhs.height) + 1;
            if height > MAX_DEPTH {
                return Err(err(
                    op_offset,
                    format!("expression is too long (more than {MAX_DEPTH} nested operations)"),
                ));
            }
            lhs = Expr {
                offset: lhs.offset,
                kind: ExprKind::Binary {
                    op,
                    op_offset,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                height,
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Expr, ExprError> {
        let offset = self.offset();
        let op = match self.peek() {
            Tok::Op("!") => UnaryOp::Not,
            Tok::Op("-") => UnaryOp::Neg,
            Tok::Op("+") => return Err(err(offset, "unary '+' is not supported")),
            Tok::Op("^") => return Err(err(offset, "bitwise complement ^x is not supported")),
            Tok::Op("*" | "&") => return Err(err(offset, "pointers are not supported")),
            Tok::Op("<-") => return Err(err(offset, "channel receive is not supported")),
            Tok::Op(op @ ("--" | "++")) => {
                return Err(err(
                    offset,
                    format!(
                        "'{op}' is a Go statement, not an operator: separate the signs, e.g. - -x"
                    ),
                ));
            }
            _ => return self.postfix(),
        };
        self.advance();
        let operand = self.unary()?;
        Ok(Expr {
            offset,
            height: operand.height + 1,
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
        })
    }

    /// A primary expression, then a check that no unsupported suffix follows it.
    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let e = self.primary()?;
        let offset = self.offset();
        match self.peek() {
            Tok::Op(".") => {
                if self.peek2() == &Tok::Op("(") {
                    Err(err(offset, "type assertions are not supported"))
                } else {
                    Err(err(
                        offset,
                        "field access and method calls on values are not supported: only \
                         alias.field and pkg.func(...) contain a dot",
                    ))
                }
            }
            Tok::Op("[") => Err(err(offset, "indexing and slicing are not supported")),
            Tok::Op("{") => Err(err(offset, "composite literals are not supported")),
            Tok::Op("(") => Err(err(
                offset,
                "only built-in functions can be called, e.g. len(r.s) or time.Parse(layout, s)",
            )),
            _ => Ok(e),
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let offset = self.offset();
        let tok = self.peek().clone();
        match tok {
            Tok::Int(i) => {
                self.advance();
                Ok(Expr::leaf(ExprKind::Int(i), offset))
            }
            Tok::BigInt(d) => {
                self.advance();
                Ok(Expr::leaf(ExprKind::Decimal(d), offset))
            }
            Tok::Float(f) => {
                self.advance();
                Ok(Expr::leaf(ExprKind::Float(f), offset))
            }
            Tok::Str(s) => {
                self.advance();
                Ok(Expr::leaf(ExprKind::Str(s), offset))
            }
            Tok::Ident(name) => self.named(name, offset),
            Tok::Op("(") => {
                self.advance();
                let inner = self.expr()?;
                self.expect_close(")", "to close the '(' at column", offset)?;
                Ok(Expr {
                    offset,
                    height: inner.height + 1,
                    kind: ExprKind::Paren(Box::new(inner)),
                })
            }
            Tok::Op("[") => Err(err(
                offset,
                "array, slice and map literals are not supported",
            )),
            Tok::Eof => {
                let after = match self.pos.checked_sub(1).map(|p| &self.toks[p].tok) {
                    Some(Tok::Op(op)) => format!(" after '{op}'"),
                    _ => String::new(),
                };
                Err(err(
                    offset,
                    format!("unexpected end of expression: expected an operand{after}"),
                ))
            }
            other => Err(err(
                offset,
                format!("unexpected {}: expected an operand", describe(&other)),
            )),
        }
    }

    fn expect_close(
        &mut self,
        close: &'static str,
        what: &str,
        open: usize,
    ) -> Result<(), ExprError> {
        if self.peek() == &Tok::Op(close) {
            self.advance();
            return Ok(());
        }
        let t = self.token();
        Err(err(
            t.offset,
            format!(
                "expected '{close}' {what} {}, found {}",
                open + 1,
                describe(&t.tok)
            ),
        ))
    }

    fn check_not_keyword(&self, name: &str, offset: usize) -> Result<(), ExprError> {
        if KEYWORDS.contains(&name) {
            let msg = match name {
                "func" => "function literals are not supported".to_string(),
                "map" | "struct" | "chan" | "interface" => {
                    format!("'{name}' types and literals are not supported")
                }
                _ => format!("'{name}' is a Go keyword and cannot be used in an expression"),
            };
            return Err(err(offset, msg));
        }
        Ok(())
    }

    /// An identifier: `true`, `name`, `a.b`, `f(...)` or `pkg.f(...)`.
    fn named(&mut self, first: String, offset: usize) -> Result<Expr, ExprError> {
        self.check_not_keyword(&first, offset)?;
        self.advance();
        let mut func = first.clone();
        let mut selector = None;
        if self.peek() == &Tok::Op(".") {
            let dot = self.offset();
            self.advance();
            let field_offset = self.offset();
            match self.peek().clone() {
                Tok::Ident(field) => {
                    if KEYWORDS.contains(&field.as_str()) {
                        return Err(err(
                            field_offset,
                            format!("'{field}' is a Go keyword and cannot be a field name"),
                        ));
                    }
                    self.advance();
                    func = format!("{first}.{field}");
                    selector = Some(field);
                }
                Tok::Op("(") => return Err(err(dot, "type assertions are not supported")),
                other => {
                    return Err(err(
                        field_offset,
                        format!(
                            "expected a field name after '{first}.', found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
        if self.peek() == &Tok::Op("(") {
            let args = self.call_args(offset)?;
            let height = args.iter().map(|a| a.height).max().unwrap_or(0) + 1;
            return Ok(Expr {
                offset,
                height,
                kind: ExprKind::Call { func, args },
            });
        }
        Ok(Expr::leaf(
            match selector {
                Some(field) => ExprKind::Selector {
                    alias: first,
                    field,
                },
                None => ExprKind::Ident(first),
            },
            offset,
        ))
    }

    fn call_args(&mut self, call_offset: usize) -> Result<Vec<Expr>, ExprError> {
        let open = self.offset();
        self.advance();
        self.enter()?;
        let mut args = Vec::new();
        loop {
            if self.peek() == &Tok::Op(")") {
                break;
            }
            args.push(self.expr()?);
            match self.peek() {
                Tok::Op(",") => self.advance(),
                Tok::Op(")") => break,
                Tok::Op("...") => {
                    return Err(err(
                        self.offset(),
                        "variadic '...' arguments are not supported",
                    ));
                }
                _ => {
                    let t = self.token();
                    return Err(err(
                        t.offset,
                        format!(
                            "expected ',' or ')' in the argument list of the call at column {}, \
                             found {}",
                            call_offset + 1,
                            describe(&t.tok)
                        ),
                    ));
                }
            }
        }
        self.depth -= 1;
        self.expect_close(")", "to close the '(' at column", open)?;
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the tree with explicit parentheses, for compact assertions.
    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(i) => i.to_string(),
            ExprKind::Decimal(d) => format!("{d}d"),
            ExprKind::Float(f) => format!("{f:?}"),
            ExprKind::Str(s) => format!("{s:?}"),
            ExprKind::Ident(s) => s.clone(),
            ExprKind::Selector { alias, field } => format!("{alias}.{field}"),
            ExprKind::Call { func, args } => format!(
                "{func}({})",
                args.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            ExprKind::Unary { op, operand } => format!(
                "({}{})",
                if *op == UnaryOp::Not { "!" } else { "-" },
                show(operand)
            ),
            ExprKind::Binary { op, lhs, rhs, .. } => {
                format!("({} {} {})", show(lhs), op.symbol(), show(rhs))
            }
            ExprKind::Paren(inner) => show(inner),
        }
    }

    fn p(src: &str) -> String {
        show(&parse(src).unwrap())
    }

    fn perr(src: &str) -> ExprError {
        parse(src).unwrap_err()
    }

    #[test]
    fn go_precedence_and_associativity() {
        assert_eq!(p("1 + 2 * 3"), "(1 + (2 * 3))");
        assert_eq!(p("1 - 2 - 3"), "((1 - 2) - 3)");
        assert_eq!(p("a.x || b.y && c.z"), "(a.x || (b.y && c.z))");
        assert_eq!(p("1 + 2 < 3 * 4 && true"), "(((1 + 2) < (3 * 4)) && true)");
        assert_eq!(p("-a.x * 2"), "((-a.x) * 2)");
        assert_eq!(p("!a.b == false"), "((!a.b) == false)");
        assert_eq!(p("(1 + 2) * 3"), "((1 + 2) * 3)");
        assert_eq!(p("10 % 3 / 2"), "((10 % 3) / 2)");
        assert_eq!(p("a.x == 1 == true"), "((a.x == 1) == true)");
    }

    #[test]
    fn calls_and_selectors() {
        assert_eq!(p("len(r.s)"), "len(r.s)");
        assert_eq!(p("int.iif(r.b, 1, 2,)"), "int.iif(r.b, 1, 2)");
        assert_eq!(p("time.Now()"), "time.Now()");
        assert_eq!(
            p("fmt.Sprintf(\"%d-%s\", r.a, `x`)"),
            "fmt.Sprintf(\"%d-%s\", r.a, \"x\")"
        );
        assert_eq!(p("time.UTC"), "time.UTC");
        assert_eq!(p("x"), "x");
        let e = parse("  r.a + f(1)").unwrap();
        assert_eq!(e.offset, 2);
        let ExprKind::Binary { op_offset, rhs, .. } = &e.kind else {
            panic!("not binary")
        };
        assert_eq!(*op_offset, 6);
        assert_eq!(rhs.offset, 8);
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = perr("r.a +");
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("after '+'"), "{}", e.message);
        assert_eq!(perr("r.a + ").offset, 6);
        assert_eq!(perr("(1 + 2").offset, 6);
        assert!(perr("(1 + 2").message.contains("column 1"));
        assert_eq!(perr("1 + 2)").offset, 5);
        assert_eq!(perr("r.a & 1").offset, 4);
        assert!(perr("r.a & 1").message.contains("bitwise"));
        assert!(perr("r.a << 1").message.contains("bitwise"));
        assert!(perr("r.a | 1").message.contains("bitwise"));
        assert_eq!(perr("r.a[0]").offset, 3);
        assert!(perr("r.a[0]").message.contains("indexing"));
        assert!(perr("r.a[1:2]").message.contains("slicing"));
        assert!(perr("T{1}").message.contains("composite"));
        assert!(perr("[]int{1}").message.contains("literals"));
        assert!(perr("r.a.b").message.contains("field access"));
        assert!(perr("len(r.s).x").message.contains("method calls"));
        assert!(perr("r.a.(int)").message.contains("type assertions"));
        assert!(perr("f(1)(2)").message.contains("only built-in functions"));
        assert!(perr("r.a = 1").message.contains("=="));
        assert!(perr("r.a++").message.contains("statement"));
        assert!(perr("+1").message.contains("unary '+'"));
        assert!(perr("^1").message.contains("complement"));
        assert!(perr("--1").message.contains("statement"));
        assert!(perr("func() {}").message.contains("function literals"));
        assert!(perr("r.type").message.contains("keyword"));
        assert!(perr("f(r.a...)").message.contains("variadic"));
        assert!(perr("f(1 2)").message.contains("expected ','"));
        assert_eq!(perr("1; 2").offset, 1);
        assert!(perr("").message.contains("end of expression"));
    }

    #[test]
    fn multi_line_rules() {
        assert_eq!(p("1 +\n 2"), "(1 + 2)");
        assert_eq!(p("f(1,\n 2)"), "f(1, 2)");
        assert_eq!(p("1 + 2\n"), "(1 + 2)");
        let e = perr("1\n+ 2");
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("new line"), "{}", e.message);
        assert!(perr("(1\n+ 2)").message.contains("newline"));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(perr(&deep).message.contains("nested too deeply"));
        let long = vec!["1"; 5000].join(" + ");
        assert!(perr(&long).message.contains("too long"));
        let negs = format!("{}1", "- ".repeat(5000));
        assert!(perr(&negs).message.contains("nested too deeply"));
        let ok = format!("{}1{}", "(".repeat(150), ")".repeat(150));
        assert_eq!(p(&ok), "1");
        let ok = vec!["1"; 150].join(" + ");
        assert!(parse(&ok).is_ok());
    }
}
