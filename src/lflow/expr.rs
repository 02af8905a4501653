//! The OVN logical-flow match language (ovn-sb(5) "Logical_Flow match") parsed into an AST, and
//! [`Packet`]: what `nat` and `explain` know of a packet (addresses, protocol, some headers).
//!
//! Evaluation is three-valued and done by the one evaluator, on the partial microflow a packet
//! stands for ([`super::microflow`]): a clause about a field the packet does not carry (or a
//! construct not modelled) is `Unknown`, never guessed, and the caller says so. `&&` and `||`
//! combine unknowns the Kleene way, so `ip4.src == X && <unknown>` is still `False` when the
//! source differs.

use ipnet::IpNet;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(u128),
    /// An address or a network (`10.0.0.0/8`; a bare address is a /32 or /128).
    Net(IpNet),
    Str(String),
    /// `$name`: an address set.
    AddrSet(String),
    /// `@name`: a port group.
    PortGroup(String),
    Mac(String),
    /// `value/mask` on an integer field (`tcp.flags == 0x2/0x2`): a bit-wise match.
    Masked {
        value: u128,
        mask: u128,
    },
    /// A constant form that parses but is not evaluated (a masked MAC, a non-contiguous
    /// netmask); comparisons with it are `Unknown`, by name.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Bool(bool),
    /// A bare field used as a boolean (`ip4`, `tcp`, `ct.new`).
    Field(String),
    /// `field op {values}` (a single value is a set of one).
    Cmp {
        field: String,
        op: Op,
        values: Vec<Value>,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `is_chassis_resident("port")`.
    Resident(String),
}

impl Expr {
    /// The address sets (`$name`) the expression names.
    pub fn address_sets(&self) -> Vec<&str> {
        self.names(|v| match v {
            Value::AddrSet(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The port groups (`@name`) the expression names.
    pub fn port_groups(&self) -> Vec<&str> {
        self.names(|v| match v {
            Value::PortGroup(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Each port name compared with `inport`/`outport` replaced by what `canonical` makes of
    /// it (ovn-trace's microflow parser resolves a port's friendly name or UUID prefix to the
    /// port itself); names it does not know are left alone.
    pub fn resolve_ports(&mut self, canonical: &dyn Fn(&str) -> Option<String>) {
        match self {
            Expr::Cmp { field, values, .. } if field == "inport" || field == "outport" => {
                for v in values {
                    if let Value::Str(s) = v {
                        if let Some(c) = canonical(s) {
                            *s = c;
                        }
                    }
                }
            }
            Expr::Not(e) => e.resolve_ports(canonical),
            Expr::And(v) | Expr::Or(v) => v.iter_mut().for_each(|e| e.resolve_ports(canonical)),
            Expr::Cmp { .. } | Expr::Bool(_) | Expr::Field(_) | Expr::Resident(_) => {}
        }
    }

    fn names<'e>(&'e self, pick: fn(&'e Value) -> Option<&'e str>) -> Vec<&'e str> {
        fn walk<'e>(e: &'e Expr, pick: fn(&'e Value) -> Option<&'e str>, out: &mut Vec<&'e str>) {
            match e {
                Expr::Cmp { values, .. } => out.extend(values.iter().filter_map(pick)),
                Expr::Not(e) => walk(e, pick, out),
                Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| walk(e, pick, out)),
                Expr::Bool(_) | Expr::Field(_) | Expr::Resident(_) => {}
            }
        }
        let mut out = vec![];
        walk(self, pick, &mut out);
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse match {input:?} at byte {at}: {reason}")]
pub struct ParseError {
    pub input: String,
    pub at: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = vec![];
    let err = |at: usize, reason: &str| ParseError {
        input: s.into(),
        at,
        reason: reason.into(),
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = s[i + 2..].find("*/").ok_or_else(|| err(i, "unterminated comment"))?;
                i += end + 4;
            }
            b'(' => {
                out.push((start, Tok::LParen));
                i += 1
            }
            b')' => {
                out.push((start, Tok::RParen));
                i += 1
            }
            b'{' => {
                out.push((start, Tok::LBrace));
                i += 1
            }
            b'}' => {
                out.push((start, Tok::RBrace));
                i += 1
            }
            b',' => {
                out.push((start, Tok::Comma));
                i += 1
            }
            b'"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(err(start, "unterminated string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            // The escaped character may be multi-byte; i + 1 is a boundary ('\\' is ASCII).
                            let ch = s[i + 1..].chars().next().ok_or_else(|| err(i, "dangling escape"))?;
                            v.push(ch);
                            i += 1 + ch.len_utf8();
                        }
                        Some(_) => {
                            let ch = s[i..].chars().next().expect("in bounds");
                            v.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((start, Tok::Str(v)));
            }
            b'&' | b'|' | b'=' | b'!' | b'<' | b'>' => {
                // Bytes, not a str slice: the next byte may be inside a multi-byte character.
                let op = match (c, b.get(i + 1).copied()) {
                    (b'&', Some(b'&')) => "&&",
                    (b'|', Some(b'|')) => "||",
                    (b'=', Some(b'=')) => "==",
                    (b'!', Some(b'=')) => "!=",
                    (b'<', Some(b'=')) => "<=",
                    (b'>', Some(b'=')) => ">=",
                    _ => match c {
                        b'!' => "!",
                        b'<' => "<",
                        b'>' => ">",
                        _ => return Err(err(i, "unexpected character")),
                    },
                };
                i += op.len();
                out.push((start, Tok::Op(op)));
            }
            _ if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'$' | b'@' | b'/' | b'[' | b']') => {
                // Identifiers (ip4.src, reg0[1], $set), numbers, addresses, CIDRs and MACs.
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b':' | b'$' | b'@' | b'/' | b'[' | b']' | b'-'))
                {
                    i += 1;
                }
                let w = &s[start..i];
                let tok = if c.is_ascii_digit() {
                    Tok::Num(w.into())
                } else {
                    Tok::Ident(w.into())
                };
                out.push((start, tok));
            }
            _ => return Err(err(i, "unexpected character")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> ParseError {
        let at = self.toks.get(self.pos).map_or(self.input.len(), |t| t.0);
        ParseError {
            input: self.input.into(),
            at,
            reason: reason.into(),
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.1.clone());
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(&Tok::Op("||")) {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.pop().expect("one") } else { Expr::Or(v) })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut v = vec![self.unary()?];
        while self.peek() == Some(&Tok::Op("&&")) {
            self.pos += 1;
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 { v.pop().expect("one") } else { Expr::And(v) })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.next() {
            Some(Tok::Op("!")) => Ok(Expr::Not(Box::new(self.unary()?))),
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(self.err("expected ')'")),
                }
            }
            Some(Tok::Num(n)) if n == "1" || n == "0" => Ok(Expr::Bool(n == "1")),
            Some(Tok::Ident(id)) if id == "is_chassis_resident" => {
                if self.next() != Some(Tok::LParen) {
                    return Err(self.err("expected '(' after is_chassis_resident"));
                }
                let Some(Tok::Str(port)) = self.next() else {
                    return Err(self.err("expected a port name"));
                };
                if self.next() != Some(Tok::RParen) {
                    return Err(self.err("expected ')'"));
                }
                Ok(Expr::Resident(port))
            }
            Some(Tok::Ident(field)) => {
                let op = match self.peek() {
                    Some(Tok::Op("==")) => Op::Eq,
                    Some(Tok::Op("!=")) => Op::Ne,
                    Some(Tok::Op("<")) => Op::Lt,
                    Some(Tok::Op("<=")) => Op::Le,
                    Some(Tok::Op(">")) => Op::Gt,
                    Some(Tok::Op(">=")) => Op::Ge,
                    _ => return Ok(Expr::Field(field)),
                };
                self.pos += 1;
                let values = if self.peek() == Some(&Tok::LBrace) {
                    self.pos += 1;
                    let mut v = vec![];
                    loop {
                        match self.peek() {
                            Some(Tok::RBrace) => {
                                self.pos += 1;
                                break;
                            }
                            Some(Tok::Comma) => self.pos += 1,
                            _ => v.push(self.value()?),
                        }
                    }
                    v
                } else {
                    vec![self.value()?]
                };
                Ok(Expr::Cmp { field, op, values })
            }
            _ => Err(self.err("expected a field, '!', '(' or a constant")),
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::Str(s)),
            Some(Tok::Ident(s)) if s.starts_with('$') => Ok(Value::AddrSet(s[1..].into())),
            Some(Tok::Ident(s)) if s.starts_with('@') => Ok(Value::PortGroup(s[1..].into())),
            Some(Tok::Num(s)) | Some(Tok::Ident(s)) => parse_const(&s).ok_or_else(|| self.err(format!("bad constant {s:?}"))),
            _ => Err(self.err("expected a value")),
        }
    }
}

fn parse_int(s: &str) -> Option<u128> {
    match s.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_const(s: &str) -> Option<Value> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(Value::Net(n));
    }
    if let Some((v, m)) = s.split_once('/') {
        if let (Some(value), Some(mask)) = (parse_int(v), parse_int(m)) {
            return Some(Value::Masked { value, mask });
        }
        if let (Ok(a), Ok(m)) = (v.parse::<IpAddr>(), m.parse::<IpAddr>()) {
            return Some(IpNet::with_netmask(a, m).map_or_else(|_| Value::Other(s.into()), Value::Net));
        }
        if v.len() == 17 && m.len() == 17 && v.split(':').count() == 6 {
            return Some(Value::Other(s.to_ascii_lowercase()));
        }
        return None;
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(Value::Net(IpNet::from(a)));
    }
    if s.len() == 17 && s.split(':').count() == 6 {
        return Some(Value::Mac(s.to_ascii_lowercase()));
    }
    parse_int(s).map(Value::Int)
}

/// Parses one constant as a match would (an address-set member, an action's argument).
pub fn parse_value(s: &str) -> Option<Value> {
    parse_const(s.trim())
}

/// Parses a match expression.
pub fn parse(s: &str) -> Result<Expr, ParseError> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Ok(Expr::Bool(true));
    }
    let mut p = Parser { toks, pos: 0, input: s };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err("unexpected token after the expression"));
    }
    Ok(e)
}

/// Three-valued truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// Depends on something not known; the reason names it.
    Unknown(String),
}

impl Truth {
    pub(crate) fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_ports_renames_only_port_names_it_knows() {
        let mut e = parse(r#"inport == "friendly" && (outport == {"a", "other"} || ip4.src == 10.0.0.1) && !(eth.type == 0x800)"#).unwrap();
        e.resolve_ports(&|n| (n == "friendly" || n == "a").then(|| format!("lsp-{n}")));
        let want =
            parse(r#"inport == "lsp-friendly" && (outport == {"lsp-a", "other"} || ip4.src == 10.0.0.1) && !(eth.type == 0x800)"#).unwrap();
        assert_eq!(e, want);
    }

    #[test]
    fn parse_errors_are_errors() {
        for bad in [
            "ip4.src ==",
            "(ip4.src == 1.2.3.4",
            "ip4.src == 1.2.3.4 )",
            "\"unterminated",
            "a == {1,",
            "&&",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
