//! The Go-template language of `line_format` and `label_format`, as Loki runs it: literal text
//! and actions `{{ ... }}` with fields (`.label`, a missing label is empty), `__line__`,
//! `__timestamp__`, string, number and boolean literals, parenthesised pipelines, pipes
//! (`{{ .a | ToUpper }}`: the value becomes the last argument), `if` / `else if` / `else` /
//! `end`, `with` (dot becomes the value when it is non-empty), `range` over the labels (sorted
//! by name, as Go ranges a map) or an integer, variables (`$x := ...`, `$x = ...`, `$` for the
//! labels, `range $k, $v := .`), and Loki's template functions (string, comparison,
//! arithmetic, regex and time functions; see [`call`]). The data is the label map, as Loki
//! executes its templates over `map[string]string`. A function Loki lacks is rejected when
//! the query is parsed; a failure while rendering is a `TemplateFormatErr` of the line, as in
//! Loki.

use regex::Regex;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The source text.
    pub text: String,
    nodes: Vec<Node>,
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Template {}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{with [$v :=] p}}`: `then` with dot set to the value when it is non-empty.
    With {
        var: Option<String>,
        pipe: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{range [[$k,] $v :=] p}}`: `body` per element, `otherwise` when there is none.
    Range {
        key: Option<String>,
        value: Option<String>,
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{$x := p}}` (declare) or `{{$x = p}}` (assign): prints nothing.
    Assign {
        name: String,
        pipe: Pipeline,
    },
}

/// Commands joined by `|`.
#[derive(Debug, Clone)]
struct Pipeline(Vec<Vec<Arg>>);

#[derive(Debug, Clone)]
enum Arg {
    Field(String),
    Dot,
    Line,
    Timestamp,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Func(Func),
    Sub(Pipeline),
    /// `$name` (`$` alone: the data, i.e. the labels).
    Var(String),
    /// `$.name`: a label, whatever dot is.
    RootField(String),
}

/// A value while rendering.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A time, Unix ns (`__timestamp__`, `toDate`, ...).
    Time(i64),
    /// The label map (the template's data), sorted by name.
    Map(Vec<(String, String)>),
}

/// A template function, resolved from its name when the template is parsed (rendering never
/// looks a function up by name). The names are Loki's (`pkg/logql/log/fmt.go` `functionMap`
/// and sprig); Go's `strings` functions that Loki exposes capitalised are `Strings*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    /// `ToLower`
    StringsToLower,
    /// `ToUpper`
    StringsToUpper,
    /// `lower`
    Lower,
    /// `upper`
    Upper,
    /// `title`
    Title,
    /// `Title`
    StringsTitle,
    /// `trim`
    Trim,
    /// `trimSpace`
    TrimSpace,
    /// `TrimSpace`
    StringsTrimSpace,
    /// `trimAll`
    TrimAll,
    /// `trimPrefix`
    TrimPrefix,
    /// `trimSuffix`
    TrimSuffix,
    /// `TrimPrefix`
    StringsTrimPrefix,
    /// `TrimSuffix`
    StringsTrimSuffix,
    /// `Replace`
    StringsReplace,
    /// `replace`
    Replace,
    /// `trunc`
    Trunc,
    /// `substr`
    Substr,
    /// `contains`
    Contains,
    /// `hasPrefix`
    HasPrefix,
    /// `hasSuffix`
    HasSuffix,
    /// `repeat`
    Repeat,
    /// `indent`
    Indent,
    /// `nindent`
    Nindent,
    /// `regexReplaceAll`
    RegexReplaceAll,
    /// `regexReplaceAllLiteral`
    RegexReplaceAllLiteral,
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `and`
    And,
    /// `or`
    Or,
    /// `not`
    Not,
    /// `len`
    Len,
    /// `printf`
    Printf,
    /// `print`
    Print,
    /// `println`
    Println,
    /// `default`
    Default,
    /// `int`
    Int,
    /// `float64`
    Float64,
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `div`
    Div,
    /// `mod`
    Mod,
    /// `addf`
    Addf,
    /// `subf`
    Subf,
    /// `mulf`
    Mulf,
    /// `divf`
    Divf,
    /// `max`
    Max,
    /// `min`
    Min,
    /// `maxf`
    Maxf,
    /// `minf`
    Minf,
    /// `ceil`
    Ceil,
    /// `floor`
    Floor,
    /// `round`
    Round,
    /// `unixEpoch`
    UnixEpoch,
    /// `unixEpochMillis`
    UnixEpochMillis,
    /// `unixEpochNanos`
    UnixEpochNanos,
    /// `unixToTime`
    UnixToTime,
    /// `toDate`
    ToDate,
    /// `date`
    Date,
    /// `alignLeft`
    AlignLeft,
    /// `alignRight`
    AlignRight,
    /// `urlencode`
    Urlencode,
    /// `urldecode`
    Urldecode,
    /// `b64enc`
    B64enc,
    /// `b64dec`
    B64dec,
    /// `count`
    Count,
    /// `Trim`
    StringsTrim,
    /// `TrimLeft`
    StringsTrimLeft,
    /// `TrimRight`
    StringsTrimRight,
    /// `bytes`
    Bytes,
    /// `duration`
    Duration,
    /// `duration_seconds`
    DurationSeconds,
    /// `toDateInZone`
    ToDateInZone,
    /// `now`
    Now,
    /// `index`
    Index,
    /// `slice`
    Slice,
    /// `html`
    Html,
    /// `js`
    Js,
    /// `urlquery`
    Urlquery,
}

impl Func {
    /// Every function, in the order of [`Func::name`].
    const ALL: &'static [Func] = &[
        Func::StringsToLower,
        Func::StringsToUpper,
        Func::Lower,
        Func::Upper,
        Func::Title,
        Func::StringsTitle,
        Func::Trim,
        Func::TrimSpace,
        Func::StringsTrimSpace,
        Func::TrimAll,
        Func::TrimPrefix,
        Func::TrimSuffix,
        Func::StringsTrimPrefix,
        Func::StringsTrimSuffix,
        Func::StringsReplace,
        Func::Replace,
        Func::Trunc,
        Func::Substr,
        Func::Contains,
        Func::HasPrefix,
        Func::HasSuffix,
        Func::Repeat,
        Func::Indent,
        Func::Nindent,
        Func::RegexReplaceAll,
        Func::RegexReplaceAllLiteral,
        Func::Eq,
        Func::Ne,
        Func::Lt,
        Func::Le,
        Func::Gt,
        Func::Ge,
        Func::And,
        Func::Or,
        Func::Not,
        Func::Len,
        Func::Printf,
        Func::Print,
        Func::Println,
        Func::Default,
        Func::Int,
        Func::Float64,
        Func::Add,
        Func::Sub,
        Func::Mul,
        Func::Div,
        Func::Mod,
        Func::Addf,
        Func::Subf,
        Func::Mulf,
        Func::Divf,
        Func::Max,
        Func::Min,
        Func::Maxf,
        Func::Minf,
        Func::Ceil,
        Func::Floor,
        Func::Round,
        Func::UnixEpoch,
        Func::UnixEpochMillis,
        Func::UnixEpochNanos,
        Func::UnixToTime,
        Func::ToDate,
        Func::Date,
        Func::AlignLeft,
        Func::AlignRight,
        Func::Urlencode,
        Func::Urldecode,
        Func::B64enc,
        Func::B64dec,
        Func::Count,
        Func::StringsTrim,
        Func::StringsTrimLeft,
        Func::StringsTrimRight,
        Func::Bytes,
        Func::Duration,
        Func::DurationSeconds,
        Func::ToDateInZone,
        Func::Now,
        Func::Index,
        Func::Slice,
        Func::Html,
        Func::Js,
        Func::Urlquery,
    ];

    /// The function a template calls by `name`.
    fn from_name(name: &str) -> Option<Func> {
        Func::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The name a template calls it by.
    fn name(self) -> &'static str {
        match self {
            Func::StringsToLower => "ToLower",
            Func::StringsToUpper => "ToUpper",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Title => "title",
            Func::StringsTitle => "Title",
            Func::Trim => "trim",
            Func::TrimSpace => "trimSpace",
            Func::StringsTrimSpace => "TrimSpace",
            Func::TrimAll => "trimAll",
            Func::TrimPrefix => "trimPrefix",
            Func::TrimSuffix => "trimSuffix",
            Func::StringsTrimPrefix => "TrimPrefix",
            Func::StringsTrimSuffix => "TrimSuffix",
            Func::StringsReplace => "Replace",
            Func::Replace => "replace",
            Func::Trunc => "trunc",
            Func::Substr => "substr",
            Func::Contains => "contains",
            Func::HasPrefix => "hasPrefix",
            Func::HasSuffix => "hasSuffix",
            Func::Repeat => "repeat",
            Func::Indent => "indent",
            Func::Nindent => "nindent",
            Func::RegexReplaceAll => "regexReplaceAll",
            Func::RegexReplaceAllLiteral => "regexReplaceAllLiteral",
            Func::Eq => "eq",
            Func::Ne => "ne",
            Func::Lt => "lt",
            Func::Le => "le",
            Func::Gt => "gt",
            Func::Ge => "ge",
            Func::And => "and",
            Func::Or => "or",
            Func::Not => "not",
            Func::Len => "len",
            Func::Printf => "printf",
            Func::Print => "print",
            Func::Println => "println",
            Func::Default => "default",
            Func::Int => "int",
            Func::Float64 => "float64",
            Func::Add => "add",
            Func::Sub => "sub",
            Func::Mul => "mul",
            Func::Div => "div",
            Func::Mod => "mod",
            Func::Addf => "addf",
            Func::Subf => "subf",
            Func::Mulf => "mulf",
            Func::Divf => "divf",
            Func::Max => "max",
            Func::Min => "min",
            Func::Maxf => "maxf",
            Func::Minf => "minf",
            Func::Ceil => "ceil",
            Func::Floor => "floor",
            Func::Round => "round",
            Func::UnixEpoch => "unixEpoch",
            Func::UnixEpochMillis => "unixEpochMillis",
            Func::UnixEpochNanos => "unixEpochNanos",
            Func::UnixToTime => "unixToTime",
            Func::ToDate => "toDate",
            Func::Date => "date",
            Func::AlignLeft => "alignLeft",
            Func::AlignRight => "alignRight",
            Func::Urlencode => "urlencode",
            Func::Urldecode => "urldecode",
            Func::B64enc => "b64enc",
            Func::B64dec => "b64dec",
            Func::Count => "count",
            Func::StringsTrim => "Trim",
            Func::StringsTrimLeft => "TrimLeft",
            Func::StringsTrimRight => "TrimRight",
            Func::Bytes => "bytes",
            Func::Duration => "duration",
            Func::DurationSeconds => "duration_seconds",
            Func::ToDateInZone => "toDateInZone",
            Func::Now => "now",
            Func::Index => "index",
            Func::Slice => "slice",
            Func::Html => "html",
            Func::Js => "js",
            Func::Urlquery => "urlquery",
        }
    }
}

impl Template {
    /// Parses a template; the error names the unsupported part.
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = split(text)?;
        let mut i = 0;
        let (nodes, end) = parse_nodes(&tokens, &mut i)?;
        if let Some(e) = end {
            return Err(format!("template: unexpected {{{{{e}}}}}"));
        }
        Ok(Template {
            text: text.to_string(),
            nodes,
        })
    }

    /// Renders with `get` looking labels up (a missing label is empty) and `all` listing them
    /// (for `range`, `$` and a printed dot); the error is Loki's `TemplateFormatErr` detail.
    pub fn render<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        all: impl Fn() -> Vec<(String, String)>,
        line: &str,
        ts: i64,
    ) -> Result<String, String> {
        let ctx = Ctx {
            get: &get,
            all: &all,
            line,
            ts,
        };
        let mut scope = Scope {
            dot: None,
            vars: Vec::new(),
        };
        let mut out = String::new();
        render_nodes(&self.nodes, &ctx, &mut scope, &mut out)?;
        Ok(out)
    }
}

struct Ctx<'c, 'a> {
    get: &'c dyn Fn(&str) -> Option<&'a str>,
    all: &'c dyn Fn() -> Vec<(String, String)>,
    line: &'c str,
    ts: i64,
}

/// What `.` and the variables are at a point of the execution.
struct Scope {
    /// `None`: the data (the labels).
    dot: Option<V>,
    vars: Vec<(String, V)>,
}

impl Ctx<'_, '_> {
    fn labels(&self) -> V {
        let mut all = (self.all)();
        all.sort();
        V::Map(all)
    }
}

/// Text and actions (`Err` for an unclosed action).
fn split(text: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let mut before = &rest[..open];
        let mut after = &rest[open + 2..];
        if let Some(a) = after.strip_prefix("- ") {
            before = before.trim_end();
            after = a;
        }
        if !before.is_empty() {
            out.push((false, before.to_string()));
        }
        let close = find_close(after).ok_or_else(|| format!("template: unclosed action in {text:?}"))?;
        let mut action = &after[..close];
        rest = &after[close + 2..];
        if let Some(a) = action.strip_suffix(" -") {
            action = a;
            rest = rest.trim_start();
        }
        out.push((true, action.trim().to_string()));
    }
    if !rest.is_empty() {
        out.push((false, rest.to_string()));
    }
    Ok(out)
}

/// The `}}` closing an action, outside string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Nodes up to `{{else ...}}` or `{{end}}` (returned as the second value).
fn parse_nodes(tokens: &[(bool, String)], i: &mut usize) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *i < tokens.len() {
        let (action, text) = &tokens[*i];
        *i += 1;
        if !action {
            nodes.push(Node::Text(text.clone()));
            continue;
        }
        if text.starts_with("/*") {
            continue;
        }
        if text == "end" || text == "else" || text.starts_with("else ") {
            return Ok((nodes, Some(text.clone())));
        }
        if let Some(cond) = text.strip_prefix("if ") {
            nodes.push(parse_if(cond, tokens, i)?);
            continue;
        }
        if let Some(rest) = text.strip_prefix("with ") {
            nodes.push(parse_with(rest, tokens, i)?);
            continue;
        }
        if let Some(rest) = text.strip_prefix("range ") {
            nodes.push(parse_range(rest, tokens, i)?);
            continue;
        }
        let first = text.split_whitespace().next().unwrap_or("");
        if matches!(first, "define" | "template" | "block" | "break" | "continue") {
            return Err(format!("template: unsupported action {{{{{text}}}}}"));
        }
        if let Some((names, pipe)) = declaration(text) {
            let [name] = names.as_slice() else {
                return Err(format!("template: too many declarations in {{{{{text}}}}}"));
            };
            nodes.push(Node::Assign {
                name: name.clone(),
                pipe: parse_pipeline(pipe)?,
            });
            continue;
        }
        nodes.push(Node::Action(parse_pipeline(text)?));
    }
    Ok((nodes, None))
}

fn parse_if(cond: &str, tokens: &[(bool, String)], i: &mut usize) -> Result<Node, String> {
    let cond = parse_pipeline(cond)?;
    let (then, end) = parse_nodes(tokens, i)?;
    let otherwise = match end.as_deref() {
        Some("end") => Vec::new(),
        Some("else") => {
            let (nodes, end) = parse_nodes(tokens, i)?;
            if end.as_deref() != Some("end") {
                return Err("template: missing {{end}}".into());
            }
            nodes
        }
        Some(e) if e.starts_with("else if ") => vec![parse_if(&e["else if ".len()..], tokens, i)?],
        _ => return Err("template: missing {{end}}".into()),
    };
    Ok(Node::If {
        cond,
        then,
        otherwise,
    })
}

/// `$a := rest`, `$a, $b := rest` or `$a = rest`: the variable names (without `$`) and the
/// pipeline text.
fn declaration(text: &str) -> Option<(Vec<String>, &str)> {
    let t = text.trim_start();
    if !t.starts_with('$') {
        return None;
    }
    let (lhs, rhs) = match (t.find(":="), t.find('=')) {
        (Some(d), _) => (&t[..d], &t[d + 2..]),
        (None, Some(e)) if !t[e + 1..].starts_with('=') => (&t[..e], &t[e + 1..]),
        _ => return None,
    };
    let names: Option<Vec<String>> = lhs
        .split(',')
        .map(|n| {
            let n = n.trim().strip_prefix('$')?;
            (!n.is_empty() && n.chars().all(|c| c == '_' || c.is_alphanumeric())).then(|| n.to_string())
        })
        .collect();
    Some((names?, rhs))
}

/// The body of a `with` or `range` up to `{{end}}`, with its `{{else}}` part; `else_chain`
/// names the keyword whose `{{else <kw> ...}}` chains another block (`with`).
fn parse_block(
    tokens: &[(bool, String)],
    i: &mut usize,
    else_chain: Option<&str>,
) -> Result<(Vec<Node>, Vec<Node>), String> {
    let (body, end) = parse_nodes(tokens, i)?;
    let otherwise = match end.as_deref() {
        Some("end") => Vec::new(),
        Some("else") => {
            let (nodes, end) = parse_nodes(tokens, i)?;
            if end.as_deref() != Some("end") {
                return Err("template: missing {{end}}".into());
            }
            nodes
        }
        Some(e) => match else_chain.and_then(|kw| e.strip_prefix("else ")?.strip_prefix(kw)) {
            Some(rest) if rest.starts_with(' ') => vec![parse_with(rest, tokens, i)?],
            _ => return Err(format!("template: unexpected {{{{{e}}}}}")),
        },
        None => return Err("template: missing {{end}}".into()),
    };
    Ok((body, otherwise))
}

fn parse_with(text: &str, tokens: &[(bool, String)], i: &mut usize) -> Result<Node, String> {
    let (var, pipe) = match declaration(text) {
        Some((names, pipe)) if names.len() == 1 => (names.into_iter().next(), pipe),
        Some(_) => return Err("template: too many declarations in with".into()),
        None => (None, text),
    };
    let pipe = parse_pipeline(pipe)?;
    let (then, otherwise) = parse_block(tokens, i, Some("with"))?;
    Ok(Node::With {
        var,
        pipe,
        then,
        otherwise,
    })
}

fn parse_range(text: &str, tokens: &[(bool, String)], i: &mut usize) -> Result<Node, String> {
    let (key, value, pipe) = match declaration(text) {
        Some((names, pipe)) => match names.as_slice() {
            [v] => (None, Some(v.clone()), pipe),
            [k, v] => (Some(k.clone()), Some(v.clone()), pipe),
            _ => return Err("template: too many declarations in range".into()),
        },
        None => (None, None, text),
    };
    let pipe = parse_pipeline(pipe)?;
    let (body, otherwise) = parse_block(tokens, i, None)?;
    Ok(Node::Range {
        key,
        value,
        pipe,
        body,
        otherwise,
    })
}

fn parse_pipeline(text: &str) -> Result<Pipeline, String> {
    let mut lexer = Lexer { s: text, pos: 0 };
    let p = lexer.pipeline()?;
    if lexer.pos < text.len() {
        return Err(format!(
            "template: unexpected {:?} in {{{{{text}}}}}",
            &text[lexer.pos..]
        ));
    }
    if p.0.is_empty() || p.0.iter().any(Vec::is_empty) {
        return Err(format!("template: missing value in {{{{{text}}}}}"));
    }
    Ok(p)
}

struct Lexer<'s> {
    s: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let t = self.rest();
        self.pos += t.len() - t.trim_start().len();
    }

    /// Commands up to `)` or the end.
    fn pipeline(&mut self) -> Result<Pipeline, String> {
        let mut cmds = vec![Vec::new()];
        loop {
            self.skip_ws();
            let r = self.rest();
            if r.is_empty() || r.starts_with(')') {
                break;
            }
            if let Some(after) = r.strip_prefix('|') {
                let _ = after;
                self.pos += 1;
                cmds.push(Vec::new());
                continue;
            }
            let arg = self.arg()?;
            if let Some(last) = cmds.last_mut() {
                last.push(arg);
            }
        }
        Ok(Pipeline(cmds))
    }

    fn arg(&mut self) -> Result<Arg, String> {
        let r = self.rest();
        let c = r.chars().next().unwrap_or(' ');
        if c == '(' {
            self.pos += 1;
            let p = self.pipeline()?;
            if !self.rest().starts_with(')') {
                return Err("template: unclosed (".into());
            }
            self.pos += 1;
            return Ok(Arg::Sub(p));
        }
        if c == '"' {
            let mut end = 1;
            let b = r.as_bytes();
            while end < b.len() && b[end] != b'"' {
                if b[end] == b'\\' {
                    end += 1;
                }
                end += 1;
            }
            if end >= b.len() {
                return Err("template: unterminated quoted string".into());
            }
            let lit = &r[..=end];
            self.pos += end + 1;
            return serde_json::from_str::<String>(lit)
                .map(Arg::Str)
                .map_err(|_| format!("template: bad string {lit}"));
        }
        if c == '`' {
            let end = r[1..].find('`').ok_or("template: unterminated raw string")? + 1;
            self.pos += end + 1;
            return Ok(Arg::Str(r[1..end].to_string()));
        }
        let len = r
            .find(|ch: char| ch.is_whitespace() || ch == '|' || ch == '(' || ch == ')')
            .unwrap_or(r.len());
        let word = &r[..len];
        self.pos += len;
        if let Some(var) = word.strip_prefix('$') {
            if let Some(field) = var.strip_prefix('.') {
                return Ok(Arg::RootField(field.to_string()));
            }
            if !var.chars().all(|ch| ch == '_' || ch.is_alphanumeric()) {
                return Err(format!("template: bad variable {word:?}"));
            }
            return Ok(Arg::Var(var.to_string()));
        }
        Ok(match word {
            "." => Arg::Dot,
            "__line__" => Arg::Line,
            "__timestamp__" => Arg::Timestamp,
            "true" => Arg::Bool(true),
            "false" => Arg::Bool(false),
            _ if word.starts_with('.') => {
                let name = &word[1..];
                if name.is_empty() || !name.chars().all(|ch| ch == '_' || ch.is_alphanumeric()) {
                    return Err(format!("template: bad field {word:?}"));
                }
                Arg::Field(name.to_string())
            }
            _ if word.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-' || ch == '+') => {
                if let Ok(n) = word.parse::<i64>() {
                    Arg::Int(n)
                } else {
                    Arg::Float(
                        word.parse::<f64>()
                            .map_err(|_| format!("template: bad number {word:?}"))?,
                    )
                }
            }
            _ => match Func::from_name(word) {
                Some(f) => Arg::Func(f),
                None => return Err(format!("template: function {word:?} not defined")),
            },
        })
    }
}

/// Renders `nodes`; variables declared inside go out of scope at the end (Go's rule: at the
/// `{{end}}` of the enclosing control structure).
fn render_nodes(
    nodes: &[Node],
    ctx: &Ctx<'_, '_>,
    scope: &mut Scope,
    out: &mut String,
) -> Result<(), String> {
    let vars = scope.vars.len();
    let result = render_each(nodes, ctx, scope, out);
    scope.vars.truncate(vars);
    result
}

/// Renders `nodes` with dot set to `dot` (and variables bound), restoring dot afterwards.
fn render_in(
    nodes: &[Node],
    ctx: &Ctx<'_, '_>,
    scope: &mut Scope,
    dot: Option<V>,
    bind: Vec<(String, V)>,
    out: &mut String,
) -> Result<(), String> {
    let saved = std::mem::replace(&mut scope.dot, dot);
    let vars = scope.vars.len();
    scope.vars.extend(bind);
    let result = render_nodes(nodes, ctx, scope, out);
    scope.vars.truncate(vars);
    scope.dot = saved;
    result
}

fn render_each(nodes: &[Node], ctx: &Ctx<'_, '_>, scope: &mut Scope, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&print(&eval_pipeline(p, ctx, scope)?)),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                if truthy(&eval_pipeline(cond, ctx, scope)?) {
                    render_nodes(then, ctx, scope, out)?;
                } else {
                    render_nodes(otherwise, ctx, scope, out)?;
                }
            }
            Node::With {
                var,
                pipe,
                then,
                otherwise,
            } => {
                let v = eval_pipeline(pipe, ctx, scope)?;
                if truthy(&v) {
                    let bind = var.iter().map(|n| (n.clone(), v.clone())).collect();
                    render_in(then, ctx, scope, Some(v), bind, out)?;
                } else {
                    render_nodes(otherwise, ctx, scope, out)?;
                }
            }
            Node::Range {
                key,
                value,
                pipe,
                body,
                otherwise,
            } => {
                let items: Vec<(V, V)> = match eval_pipeline(pipe, ctx, scope)? {
                    V::Map(pairs) => pairs.into_iter().map(|(k, v)| (V::Str(k), V::Str(v))).collect(),
                    V::Int(n) => (0..n.max(0)).map(|i| (V::Int(i), V::Int(i))).collect(),
                    other => return Err(format!("template: range can't iterate over {}", print(&other))),
                };
                if items.is_empty() {
                    render_nodes(otherwise, ctx, scope, out)?;
                }
                for (k, v) in items {
                    let mut bind = Vec::new();
                    match (key, value) {
                        (Some(kn), Some(vn)) => {
                            bind.push((kn.clone(), k));
                            bind.push((vn.clone(), v.clone()));
                        }
                        (None, Some(vn)) => bind.push((vn.clone(), v.clone())),
                        _ => {}
                    }
                    render_in(body, ctx, scope, Some(v), bind, out)?;
                }
            }
            Node::Assign { name, pipe } => {
                let v = eval_pipeline(pipe, ctx, scope)?;
                match scope.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v,
                    None => scope.vars.push((name.clone(), v)),
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, ctx: &Ctx<'_, '_>, scope: &Scope) -> Result<V, String> {
    let mut piped: Option<V> = None;
    for cmd in &p.0 {
        piped = Some(eval_command(cmd, piped.take(), ctx, scope)?);
    }
    piped.ok_or_else(|| "template: empty pipeline".into())
}

/// A label of the data (`missingkey=zero`: a missing one is "").
fn label_value(ctx: &Ctx<'_, '_>, name: &str) -> V {
    V::Str((ctx.get)(name).unwrap_or("").to_string())
}

fn eval_arg(a: &Arg, ctx: &Ctx<'_, '_>, scope: &Scope) -> Result<V, String> {
    Ok(match a {
        Arg::Field(n) => match &scope.dot {
            None => label_value(ctx, n),
            Some(V::Map(pairs)) => V::Str(
                pairs
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            ),
            Some(other) => {
                return Err(format!(
                    "template: can't evaluate field {n} in type {}",
                    go_type(other)
                ))
            }
        },
        Arg::RootField(n) => label_value(ctx, n),
        Arg::Dot => match &scope.dot {
            None => ctx.labels(),
            Some(v) => v.clone(),
        },
        Arg::Var(n) if n.is_empty() => ctx.labels(),
        Arg::Var(n) => match scope.vars.iter().rev().find(|(k, _)| k == n) {
            Some((_, v)) => v.clone(),
            None => return Err(format!("template: undefined variable: ${n}")),
        },
        Arg::Line => V::Str(ctx.line.to_string()),
        Arg::Timestamp => V::Time(ctx.ts),
        Arg::Str(s) => V::Str(s.clone()),
        Arg::Int(i) => V::Int(*i),
        Arg::Float(f) => V::Float(*f),
        Arg::Bool(b) => V::Bool(*b),
        Arg::Sub(p) => eval_pipeline(p, ctx, scope)?,
        Arg::Func(f) => call(*f, Vec::new())?,
    })
}

fn eval_command(cmd: &[Arg], piped: Option<V>, ctx: &Ctx<'_, '_>, scope: &Scope) -> Result<V, String> {
    match &cmd[0] {
        Arg::Func(f) => {
            let mut args = cmd[1..]
                .iter()
                .map(|a| eval_arg(a, ctx, scope))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            call(*f, args)
        }
        other if cmd.len() == 1 && piped.is_none() => eval_arg(other, ctx, scope),
        _ => Err("template: can't give argument to non-function".into()),
    }
}

fn truthy(v: &V) -> bool {
    match v {
        V::Str(s) => !s.is_empty(),
        V::Int(i) => *i != 0,
        V::Float(f) => *f != 0.0,
        V::Bool(b) => *b,
        V::Time(_) => true,
        V::Map(m) => !m.is_empty(),
    }
}

/// The Go type a value has in Loki's templates (for error messages).
fn go_type(v: &V) -> &'static str {
    match v {
        V::Str(_) => "string",
        V::Int(_) => "int",
        V::Float(_) => "float64",
        V::Bool(_) => "bool",
        V::Time(_) => "time.Time",
        V::Map(_) => "map[string]string",
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`: `1e+06`, `1.5e-05`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest digits; Go's %g switches to exponent form below 1e-4 and from 1e6 (1e+06).
    let s = format!("{f:e}");
    let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

fn print(v: &V) -> String {
    match v {
        V::Str(s) => s.clone(),
        V::Int(i) => i.to_string(),
        V::Float(f) => go_float(*f),
        V::Bool(b) => b.to_string(),
        V::Time(ns) => go_time_string(*ns),
        // fmt prints a map with its keys sorted: `map[a:1 b:2]`.
        V::Map(m) => {
            let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", pairs.join(" "))
        }
    }
}

/// Go's `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn go_time_string(ns: i64) -> String {
    let t =
        chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
            .unwrap_or_default();
    let frac = ns.rem_euclid(1_000_000_000);
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn as_str(v: &V) -> String {
    print(v)
}

/// sprig's `toInt64` (cast): numbers truncate, strings parse as integers (else 0).
fn to_i64(v: &V) -> i64 {
    match v {
        V::Int(i) => *i,
        V::Float(f) => *f as i64,
        V::Bool(b) => i64::from(*b),
        V::Str(s) => {
            // cast.ToInt64: "3.0" is 3 (trailing zero decimals trimmed), "3.5" is 0.
            let t = s.trim();
            let t = match t.split_once('.') {
                Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
                _ => t,
            };
            t.parse::<i64>().unwrap_or(0)
        }
        V::Time(ns) => *ns,
        V::Map(_) => 0,
    }
}

/// sprig's `toFloat64` (cast): strings parse as floats (else 0).
fn to_f64(v: &V) -> f64 {
    match v {
        V::Int(i) => *i as f64,
        V::Float(f) => *f,
        V::Bool(b) => f64::from(u8::from(*b)),
        V::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        V::Time(ns) => *ns as f64,
        V::Map(_) => 0.0,
    }
}

fn arity(f: &str, args: &[V], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "template: wrong number of args for {f}: want {n} got {}",
            args.len()
        ))
    }
}

/// Go templates compare basic values of the same kind; integers and floats compare by value.
fn compare(f: &str, a: &V, b: &V) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (V::Str(x), V::Str(y)) => Ok(x.cmp(y)),
        (V::Int(x), V::Int(y)) => Ok(x.cmp(y)),
        (V::Float(_) | V::Int(_), V::Float(_) | V::Int(_)) => {
            Ok(to_f64(a).partial_cmp(&to_f64(b)).unwrap_or(Ordering::Equal))
        }
        (V::Bool(x), V::Bool(y)) if f == "eq" || f == "ne" => Ok(x.cmp(y)),
        _ => Err(format!(
            "template: error calling {f}: incompatible types for comparison"
        )),
    }
}

fn regex_for(pattern: &str, f: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("template: error calling {f}: {e}"))
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %.Nf %q %x %%`.
fn sprintf(format: &str, args: &[V]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' || n == '-' || n == '+' || n == ' ' || n == '0' {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let precision = spec.split_once('.').and_then(|(_, p)| p.parse::<usize>().ok());
        let width = spec
            .split('.')
            .next()
            .and_then(|w| w.trim_start_matches(['-', '+', ' ', '0']).parse::<usize>().ok());
        let body = match (verb, arg) {
            ('d', V::Int(i)) => i.to_string(),
            ('d', V::Float(f)) => format!("%!d(float64={})", go_float(*f)),
            ('d', V::Str(s)) => format!("%!d(string={s})"),
            ('f' | 'F', v) if !matches!(v, V::Str(_)) => format!("{:.*}", precision.unwrap_or(6), to_f64(v)),
            ('f' | 'F', V::Str(s)) => format!("%!f(string={s})"),
            ('q', v) => format!("{:?}", as_str(v)),
            ('x', V::Int(i)) => format!("{i:x}"),
            ('x', v) => as_str(v).bytes().map(|b| format!("{b:02x}")).collect(),
            ('s' | 'v', v) => {
                let s = as_str(v);
                match precision {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            ('t', V::Bool(b)) => b.to_string(),
            (other, v) => format!("%!{other}({})", as_str(v)),
        };
        match width {
            Some(w) if body.chars().count() < w => {
                let pad = w - body.chars().count();
                if spec.starts_with('-') {
                    out.push_str(&body);
                    out.push_str(&" ".repeat(pad));
                } else if spec.starts_with('0') && verb != 's' {
                    out.push_str(&"0".repeat(pad));
                    out.push_str(&body);
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(&body);
                }
            }
            _ => out.push_str(&body),
        }
    }
    out
}

/// Loki's template functions (`pkg/logql/log/fmt.go` `functionMap`, sprig for the rest).
fn call(func: Func, a: Vec<V>) -> Result<V, String> {
    let f = func.name();
    let s = |i: usize| a.get(i).map(as_str).unwrap_or_default();
    Ok(match func {
        Func::StringsToLower | Func::Lower => {
            arity(f, &a, 1)?;
            V::Str(s(0).to_lowercase())
        }
        Func::StringsToUpper | Func::Upper => {
            arity(f, &a, 1)?;
            V::Str(s(0).to_uppercase())
        }
        Func::Title | Func::StringsTitle => {
            arity(f, &a, 1)?;
            let mut out = String::new();
            let mut up = true;
            for c in s(0).chars() {
                if up {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                // strings.Title: letters, digits and `_` continue a word.
                up = !(c.is_alphanumeric() || c == '_');
            }
            V::Str(out)
        }
        Func::Trim | Func::TrimSpace | Func::StringsTrimSpace => {
            arity(f, &a, 1)?;
            V::Str(s(0).trim().to_string())
        }
        Func::TrimAll => {
            arity(f, &a, 2)?;
            let cut: Vec<char> = s(0).chars().collect();
            V::Str(s(1).trim_matches(|c| cut.contains(&c)).to_string())
        }
        // sprig: (prefix, string); Go strings: (string, prefix).
        Func::TrimPrefix => {
            arity(f, &a, 2)?;
            V::Str(s(1).strip_prefix(&s(0)).map_or_else(|| s(1), str::to_string))
        }
        Func::TrimSuffix => {
            arity(f, &a, 2)?;
            V::Str(s(1).strip_suffix(&s(0)).map_or_else(|| s(1), str::to_string))
        }
        Func::StringsTrimPrefix => {
            arity(f, &a, 2)?;
            V::Str(s(0).strip_prefix(&s(1)).map_or_else(|| s(0), str::to_string))
        }
        Func::StringsTrimSuffix => {
            arity(f, &a, 2)?;
            V::Str(s(0).strip_suffix(&s(1)).map_or_else(|| s(0), str::to_string))
        }
        Func::StringsReplace => {
            arity(f, &a, 4)?;
            let n = to_i64(&a[3]);
            V::Str(if n < 0 {
                s(0).replace(&s(1), &s(2))
            } else {
                s(0).replacen(&s(1), &s(2), n as usize)
            })
        }
        Func::Replace => {
            arity(f, &a, 3)?;
            V::Str(s(2).replace(&s(0), &s(1)))
        }
        Func::Trunc => {
            arity(f, &a, 2)?;
            let (n, text) = (to_i64(&a[0]), s(1));
            let len = text.len() as i64;
            V::Str(if n < 0 && -n < len {
                text[(len + n) as usize..].to_string()
            } else if n >= 0 && n < len {
                text[..n as usize].to_string()
            } else {
                text
            })
        }
        Func::Substr => {
            arity(f, &a, 3)?;
            let (start, end, text) = (to_i64(&a[0]), to_i64(&a[1]), s(2));
            let len = text.len() as i64;
            V::Str(if start < 0 {
                text[..end.clamp(0, len) as usize].to_string()
            } else if end < 0 || end > len {
                text[start.min(len) as usize..].to_string()
            } else {
                text[start.min(end) as usize..end as usize].to_string()
            })
        }
        Func::Contains => {
            arity(f, &a, 2)?;
            V::Bool(s(1).contains(&s(0)))
        }
        Func::HasPrefix => {
            arity(f, &a, 2)?;
            V::Bool(s(1).starts_with(&s(0)))
        }
        Func::HasSuffix => {
            arity(f, &a, 2)?;
            V::Bool(s(1).ends_with(&s(0)))
        }
        Func::Repeat => {
            arity(f, &a, 2)?;
            V::Str(s(1).repeat(to_i64(&a[0]).max(0) as usize))
        }
        Func::Indent | Func::Nindent => {
            arity(f, &a, 2)?;
            let pad = " ".repeat(to_i64(&a[0]).max(0) as usize);
            let body = format!("{pad}{}", s(1).replace('\n', &format!("\n{pad}")));
            V::Str(if func == Func::Nindent {
                format!("\n{body}")
            } else {
                body
            })
        }
        Func::RegexReplaceAll => {
            arity(f, &a, 3)?;
            V::Str(
                regex_for(&s(0), f)?
                    .replace_all(&s(1), s(2).as_str())
                    .into_owned(),
            )
        }
        Func::RegexReplaceAllLiteral => {
            arity(f, &a, 3)?;
            V::Str(
                regex_for(&s(0), f)?
                    .replace_all(&s(1), regex::NoExpand(&s(2)))
                    .into_owned(),
            )
        }
        Func::Count => {
            arity(f, &a, 2)?;
            V::Int(regex_for(&s(0), f)?.find_iter(&s(1)).count() as i64)
        }
        Func::Eq => {
            if a.len() < 2 {
                return Err("template: missing argument for comparison".into());
            }
            let mut any = false;
            for b in &a[1..] {
                any |= compare(f, &a[0], b)? == std::cmp::Ordering::Equal;
            }
            V::Bool(any)
        }
        Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => {
            arity(f, &a, 2)?;
            let o = compare(f, &a[0], &a[1])?;
            V::Bool(match func {
                Func::Ne => o.is_ne(),
                Func::Lt => o.is_lt(),
                Func::Le => o.is_le(),
                Func::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        Func::And => a
            .iter()
            .find(|v| !truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(V::Bool(false)),
        Func::Or => a
            .iter()
            .find(|v| truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(V::Bool(false)),
        Func::Not => {
            arity(f, &a, 1)?;
            V::Bool(!truthy(&a[0]))
        }
        Func::Len => {
            arity(f, &a, 1)?;
            V::Int(s(0).len() as i64)
        }
        Func::Printf => {
            if a.is_empty() {
                return Err("template: wrong number of args for printf".into());
            }
            V::Str(sprintf(&s(0), &a[1..]))
        }
        Func::Print => {
            // Go's fmt.Sprint: spaces only between operands that are not both strings.
            let mut out = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 && !matches!(v, V::Str(_)) && !matches!(a[i - 1], V::Str(_)) {
                    out.push(' ');
                }
                out.push_str(&as_str(v));
            }
            V::Str(out)
        }
        Func::Println => V::Str(format!(
            "{}\n",
            a.iter().map(as_str).collect::<Vec<_>>().join(" ")
        )),
        Func::Default => {
            if a.is_empty() {
                return Err("template: wrong number of args for default".into());
            }
            match a.get(1) {
                Some(v) if truthy(v) => v.clone(),
                _ => a[0].clone(),
            }
        }
        Func::Int => {
            arity(f, &a, 1)?;
            V::Int(to_i64(&a[0]))
        }
        Func::Float64 => {
            arity(f, &a, 1)?;
            V::Float(to_f64(&a[0]))
        }
        Func::Add => V::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add)),
        Func::Mul => V::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)),
        Func::Sub | Func::Div | Func::Mod => {
            arity(f, &a, 2)?;
            let (x, y) = (to_i64(&a[0]), to_i64(&a[1]));
            V::Int(match func {
                Func::Sub => x.wrapping_sub(y),
                _ if y == 0 => return Err(format!("template: error calling {f}: integer divide by zero")),
                Func::Div => x / y,
                _ => x % y,
            })
        }
        Func::Max => V::Int(a.iter().map(to_i64).max().unwrap_or(0)),
        Func::Min => V::Int(a.iter().map(to_i64).min().unwrap_or(0)),
        Func::Addf => V::Float(a.iter().map(to_f64).sum()),
        Func::Mulf => V::Float(a.iter().map(to_f64).product()),
        Func::Subf | Func::Divf => {
            let mut it = a.iter().map(to_f64);
            let first = it.next().unwrap_or(0.0);
            V::Float(it.fold(first, |acc, x| if func == Func::Subf { acc - x } else { acc / x }))
        }
        Func::Maxf => V::Float(a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max)),
        Func::Minf => V::Float(a.iter().map(to_f64).fold(f64::INFINITY, f64::min)),
        Func::Ceil | Func::Floor | Func::Round => {
            let x = to_f64(a.first().ok_or("template: missing argument")?);
            V::Float(match func {
                Func::Ceil => x.ceil(),
                Func::Floor => x.floor(),
                _ => {
                    let places = a.get(1).map_or(0, to_i64) as i32;
                    let m = 10f64.powi(places);
                    (x * m).round() / m
                }
            })
        }
        Func::UnixEpoch | Func::UnixEpochMillis | Func::UnixEpochNanos => {
            arity(f, &a, 1)?;
            let V::Time(ns) = a[0] else {
                return Err(format!("template: error calling {f}: not a time"));
            };
            V::Str(
                match func {
                    Func::UnixEpoch => ns.div_euclid(1_000_000_000),
                    Func::UnixEpochMillis => ns.div_euclid(1_000_000),
                    _ => ns,
                }
                .to_string(),
            )
        }
        Func::UnixToTime => {
            arity(f, &a, 1)?;
            let text = s(0);
            let n: i64 = text
                .parse()
                .map_err(|_| format!("template: error calling unixToTime: bad epoch {text:?}"))?;
            V::Time(match text.len() {
                0..=10 => n * 1_000_000_000,
                11..=13 => n * 1_000_000,
                14..=16 => n * 1_000,
                _ => n,
            })
        }
        Func::ToDate | Func::Date => {
            arity(f, &a, 2)?;
            let layout = s(0);
            if func == Func::ToDate {
                let text = s(1);
                let fmt = go_layout(&layout);
                let t = chrono::NaiveDateTime::parse_from_str(&text, &fmt)
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(&text, &fmt)
                            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                    })
                    .map_err(|_| format!("template: error calling toDate: cannot parse {text:?}"))?;
                V::Time(t.and_utc().timestamp_nanos_opt().unwrap_or(0))
            } else {
                let ns = match &a[1] {
                    V::Time(ns) => *ns,
                    other => to_i64(other).saturating_mul(1_000_000_000),
                };
                let t = chrono::DateTime::from_timestamp(
                    ns.div_euclid(1_000_000_000),
                    ns.rem_euclid(1_000_000_000) as u32,
                )
                .unwrap_or_default();
                V::Str(t.format(&go_layout(&layout)).to_string())
            }
        }
        Func::AlignLeft | Func::AlignRight => {
            arity(f, &a, 2)?;
            let (n, text) = (to_i64(&a[0]).max(0) as usize, s(1));
            let len = text.chars().count();
            V::Str(if len >= n {
                text.chars().take(n).collect()
            } else if func == Func::AlignLeft {
                format!("{text}{}", " ".repeat(n - len))
            } else {
                format!("{}{text}", " ".repeat(n - len))
            })
        }
        Func::Urlencode => {
            arity(f, &a, 1)?;
            V::Str(form_urlencoded::byte_serialize(s(0).as_bytes()).collect())
        }
        Func::Urldecode => {
            arity(f, &a, 1)?;
            let text = s(0);
            V::Str(
                form_urlencoded::parse(format!("x={text}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default(),
            )
        }
        Func::B64enc => {
            arity(f, &a, 1)?;
            V::Str(base64_encode(s(0).as_bytes()))
        }
        Func::B64dec => {
            arity(f, &a, 1)?;
            V::Str(base64_decode(&s(0)).unwrap_or_default())
        }
        // strings.Trim / TrimLeft / TrimRight(s, cutset).
        Func::StringsTrim | Func::StringsTrimLeft | Func::StringsTrimRight => {
            arity(f, &a, 2)?;
            let (text, cut) = (s(0), s(1));
            let is_cut = |c: char| cut.contains(c);
            V::Str(
                match func {
                    Func::StringsTrim => text.trim_matches(is_cut),
                    Func::StringsTrimLeft => text.trim_start_matches(is_cut),
                    _ => text.trim_end_matches(is_cut),
                }
                .to_string(),
            )
        }
        // Loki's `convertBytes` / `convertDuration`: float64 bytes and seconds.
        Func::Bytes => {
            arity(f, &a, 1)?;
            let b =
                super::humanize_bytes(&s(0)).map_err(|e| format!("template: error calling bytes: {e}"))?;
            V::Float(b as f64)
        }
        Func::Duration | Func::DurationSeconds => {
            arity(f, &a, 1)?;
            let ns = super::go_duration_ns(&s(0)).map_err(|e| format!("template: error calling {f}: {e}"))?;
            V::Float((ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9)
        }
        // Only UTC is known here (no time zone database): other zones read as UTC, as Loki
        // does for a zone it cannot load.
        Func::ToDateInZone => {
            arity(f, &a, 3)?;
            return call(Func::ToDate, vec![a[0].clone(), a[2].clone()]);
        }
        Func::Now => {
            arity(f, &a, 0)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            V::Time(now)
        }
        // Go's builtins.
        Func::Index => {
            if a.len() < 2 {
                return Err("template: wrong number of args for index: want at least 1 got 0".into());
            }
            let mut cur = a[0].clone();
            for key in &a[1..] {
                cur = match (&cur, key) {
                    (V::Map(m), k) => {
                        let k = as_str(k);
                        V::Str(
                            m.iter()
                                .find(|(n, _)| *n == k)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default(),
                        )
                    }
                    (V::Str(text), V::Int(i)) => {
                        match usize::try_from(*i).ok().and_then(|i| text.as_bytes().get(i)) {
                            Some(b) => V::Int(i64::from(*b)),
                            None => {
                                return Err(format!("template: error calling index: index out of range: {i}"))
                            }
                        }
                    }
                    (other, _) => {
                        return Err(format!(
                            "template: error calling index: can't index item of type {}",
                            go_type(other)
                        ))
                    }
                };
            }
            cur
        }
        Func::Slice => {
            let V::Str(text) = a.first().cloned().unwrap_or(V::Str(String::new())) else {
                return Err("template: error calling slice: can't slice item".into());
            };
            let from = a.get(1).map_or(0, to_i64).max(0) as usize;
            let to = a.get(2).map_or(text.len() as i64, to_i64).max(0) as usize;
            match text.get(from..to) {
                Some(sub) if from <= to => V::Str(sub.to_string()),
                _ => return Err(format!("template: error calling slice: index out of range: {to}")),
            }
        }
        Func::Html => {
            let text: String = a.iter().map(as_str).collect();
            let mut out = String::new();
            for c in text.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '&' => out.push_str("&amp;"),
                    '\'' => out.push_str("&#39;"),
                    '"' => out.push_str("&#34;"),
                    '\0' => out.push('\u{FFFD}'),
                    c => out.push(c),
                }
            }
            V::Str(out)
        }
        Func::Js => {
            let text: String = a.iter().map(as_str).collect();
            let mut out = String::new();
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '"' => out.push_str("\\\""),
                    '<' => out.push_str("\\u003C"),
                    '>' => out.push_str("\\u003E"),
                    '&' => out.push_str("\\u0026"),
                    '=' => out.push_str("\\u003D"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            V::Str(out)
        }
        Func::Urlquery => {
            let text: String = a.iter().map(as_str).collect();
            V::Str(form_urlencoded::byte_serialize(text.as_bytes()).collect())
        }
    })
}

/// A Go time layout (`2006-01-02T15:04:05Z07:00`) as a chrono format string.
fn go_layout(layout: &str) -> String {
    const TOKENS: &[(&str, &str)] = &[
        ("2006", "%Y"),
        ("January", "%B"),
        ("Jan", "%b"),
        ("Monday", "%A"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        (".000000000", "%.9f"),
        (".000000", "%.6f"),
        (".000", "%.3f"),
        ("01", "%m"),
        ("02", "%d"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("PM", "%p"),
        ("_2", "%e"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, chrono_fmt) in TOKENS {
            if let Some(r) = rest.strip_prefix(go) {
                out.push_str(chrono_fmt);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|x| *x == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, labels: &[(&str, &str)]) -> Result<String, String> {
        let get = |k: &str| labels.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let all = || {
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Template::parse(t)?.render(get, all, "raw line", 1_700_000_000_500_000_000)
    }

    #[test]
    fn with_range_and_variables_as_go_templates() {
        let l = [("level", "warn"), ("app", "api"), ("empty", "")];
        // `with`: dot is the value when non-empty; `else` otherwise; `else with` chains.
        assert_eq!(
            render("{{ with .level }}[{{ . | upper }}]{{ end }}", &l).unwrap(),
            "[WARN]"
        );
        assert_eq!(
            render("{{ with .empty }}x{{ else }}none{{ end }}", &l).unwrap(),
            "none"
        );
        assert_eq!(
            render("{{ with .missing }}a{{ else with .app }}b={{ . }}{{ end }}", &l).unwrap(),
            "b=api"
        );
        assert_eq!(
            render("{{ with $l := .level }}{{ $l }}{{ end }}", &l).unwrap(),
            "warn"
        );
        // A field of a string dot is an execution error (TemplateFormatErr).
        assert!(render("{{ with .level }}{{ .app }}{{ end }}", &l)
            .unwrap_err()
            .contains("can't evaluate field app"));
        // `$` is the data whatever dot is.
        assert_eq!(
            render("{{ with .level }}{{ $.app }}{{ end }}", &l).unwrap(),
            "api"
        );
        // `range` over the labels: sorted by name, as Go ranges a map.
        assert_eq!(
            render("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", &l).unwrap(),
            "app=api;empty=;level=warn;"
        );
        assert_eq!(
            render("{{ range . }}<{{ . }}>{{ end }}", &l).unwrap(),
            "<api><><warn>"
        );
        assert_eq!(render("{{ range $i := 3 }}{{ $i }}{{ end }}", &l).unwrap(), "012");
        assert_eq!(
            render("{{ range 0 }}x{{ else }}none{{ end }}", &l).unwrap(),
            "none"
        );
        assert!(render("{{ range .app }}x{{ end }}", &l)
            .unwrap_err()
            .contains("range can't iterate over api"));
        // Variables: declaration, assignment, scope ends at the enclosing {{end}}.
        assert_eq!(
            render(
                "{{ $x := .app }}{{ if true }}{{ $x = \"b\" }}{{ end }}{{ $x }}",
                &l
            )
            .unwrap(),
            "b"
        );
        assert!(Template::parse("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}")
            .and_then(|t| t.render(|_| None, Vec::new, "", 0))
            .unwrap_err()
            .contains("undefined variable"));
        // The data printed as Go prints a map.
        assert_eq!(render("{{ . }}", &l[..2]).unwrap(), "map[app:api level:warn]");
        assert_eq!(render("{{ index . \"app\" }}", &l).unwrap(), "api");
    }

    #[test]
    fn lokis_other_template_functions() {
        let l = [("size", "1.5KB"), ("took", "1m30s"), ("s", "--a-b--")];
        assert_eq!(render("{{ bytes .size }}", &l).unwrap(), "1500");
        assert_eq!(
            render("{{ duration .took }} {{ duration_seconds \"250ms\" }}", &l).unwrap(),
            "90 0.25"
        );
        assert_eq!(
            render(
                "{{ Trim .s \"-\" }}|{{ TrimLeft .s \"-\" }}|{{ TrimRight .s \"-\" }}",
                &l
            )
            .unwrap(),
            "a-b|a-b--|--a-b"
        );
        assert_eq!(render("{{ slice .s 2 5 }}", &l).unwrap(), "a-b");
        assert_eq!(
            render("{{ html \"<a href='x'>\" }}", &l).unwrap(),
            "&lt;a href=&#39;x&#39;&gt;"
        );
        assert_eq!(
            render("{{ js \"it's <b>\" }}", &l).unwrap(),
            "it\\'s \\u003Cb\\u003E"
        );
        assert_eq!(render("{{ urlquery \"a b&c\" }}", &l).unwrap(), "a+b%26c");
        assert!(render("{{ bytes .s }}", &l)
            .unwrap_err()
            .contains("error calling bytes"));
    }

    #[test]
    fn renders_labels_line_and_functions() {
        let l = [
            ("method", "GET"),
            ("path", "/A"),
            ("status", "200"),
            ("ms", "1500"),
        ];
        assert_eq!(
            render("{{.method}} {{ ToLower .path }} [{{__line__}}] {{.missing}}!", &l).unwrap(),
            "GET /a [raw line] !"
        );
        assert_eq!(render("{{ .path | lower | printf \"%s!\" }}", &l).unwrap(), "/a!");
        assert_eq!(
            render(
                "{{ if eq .status \"200\" }}ok{{ else if eq .status \"500\" }}bad{{ else }}?{{ end }}",
                &l
            )
            .unwrap(),
            "ok"
        );
        assert_eq!(
            render("{{ div .ms 1000 }} {{ divf .ms 1000 }}", &l).unwrap(),
            "1 1.5"
        );
        assert_eq!(render("{{ default \"none\" .missing }}", &l).unwrap(), "none");
        assert_eq!(
            render("{{ regexReplaceAll \"(\\\\w+)\" .method \"<$1>\" }}", &l).unwrap(),
            "<GET>"
        );
        assert_eq!(
            render("{{ __timestamp__ }}", &l).unwrap(),
            "2023-11-14 22:13:20.5 +0000 UTC"
        );
        assert_eq!(
            render("{{ __timestamp__ | unixEpoch }}", &l).unwrap(),
            "1700000000"
        );
        assert_eq!(
            render("{{ __timestamp__ | date \"2006-01-02T15:04:05\" }}", &l).unwrap(),
            "2023-11-14T22:13:20"
        );
        assert_eq!(
            render("{{ printf \"%05d|%.2f|%q\" 42 3.14159 .method }}", &l).unwrap(),
            "00042|3.14|\"GET\""
        );
        assert_eq!(
            render(
                "{{ len .path }} {{ trunc 1 .method }} {{ replace \"G\" \"S\" .method }}",
                &l
            )
            .unwrap(),
            "2 G SET"
        );
        assert_eq!(render("{{ mulf 1000000 1000 }}", &l).unwrap(), "1e+09");
        assert!(render("{{ eq .status 200 }}", &l)
            .unwrap_err()
            .contains("incompatible"));
        assert!(Template::parse("{{ nosuchfunc .x }}")
            .unwrap_err()
            .contains("not defined"));
        assert!(Template::parse("{{ if .x }}y").is_err());
        assert!(Template::parse("{{.x").is_err());
    }
}
