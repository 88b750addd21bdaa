//! The bits of Python that authentik's blueprint tags lean on, over YAML
//! values: truthiness (`!If`, `!Condition`, entry `conditions`), `str()` and
//! `repr()` (what `!Format` prints and error messages quote), `%`
//! formatting (`!Format`), `deepmerge`'s `always_merger` (the context
//! and identifiers merged into attributes), and the UUIDs Django reads for
//! a UUID field (references and lookups).

use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

/// `bool(value)`: `None`, `False`, zero, and empty text, lists and mappings
/// are false; everything else is true.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Sequence(items) => !items.is_empty(),
        Value::Mapping(map) => !map.is_empty(),
        Value::Tagged(tagged) => truthy(&tagged.value),
    }
}

/// `str(value)`.
pub(crate) fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// `repr(value)`, as Python prints lists and dicts.
pub(crate) fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => float_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => quote(s),
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Mapping(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", repr(k), repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Tagged(tagged) => format!("!{} {}", tagged.tag, repr(&tagged.value)),
    }
}

/// A string as Python's `repr` quotes it: single quotes unless the text
/// holds one and no double quote.
fn quote(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// `repr(float)`: the shortest text that reads back the same, with Python's
/// choice between plain and exponent notation.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Rust: `1.5e20`, `1e-5`; Python: `1.5e+20`, `1e-05`.
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = format!("{f}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// Why `%` formatting failed, with Python's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormatError(pub String);

/// `template % tuple(args)`: `%s`, `%r`, `%a`, `%d`, `%i`, `%u`, `%x`,
/// `%X`, `%o`, `%f`, `%F`, `%e`, `%E` and `%%`, with flags (`-`, `0`, `+`,
/// space), a width and a precision.
pub(crate) fn percent_format(template: &str, args: &[Value]) -> Result<String, FormatError> {
    let mut out = String::with_capacity(template.len());
    let mut next = 0usize;
    let chars: Vec<char> = template.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if chars.get(i) == Some(&'(') {
            return Err(FormatError("format requires a mapping".into()));
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.get(i) {
            match f {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            i += 1;
        }
        spec.width = digits(&chars, &mut i);
        if chars.get(i) == Some(&'*') {
            return Err(FormatError("* wants int".into()));
        }
        if chars.get(i) == Some(&'.') {
            i += 1;
            spec.precision = Some(digits(&chars, &mut i).unwrap_or(0));
        }
        // Length modifiers are accepted and ignored, as in Python.
        while matches!(chars.get(i), Some('h' | 'l' | 'L')) {
            i += 1;
        }
        let Some(&conv) = chars.get(i) else {
            return Err(FormatError("incomplete format".into()));
        };
        i += 1;
        if conv == '%' {
            out.push('%');
            continue;
        }
        if !"sradiuxXofFeE".contains(conv) {
            return Err(FormatError(format!(
                "unsupported format character '{conv}' (0x{:x}) at index {}",
                conv as u32,
                i - 1
            )));
        }
        let Some(arg) = args.get(next) else {
            return Err(FormatError("not enough arguments for format string".into()));
        };
        next += 1;
        out.push_str(&spec.apply(conv, arg)?);
    }
    if next < args.len() {
        return Err(FormatError(
            "not all arguments converted during string formatting".into(),
        ));
    }
    Ok(out)
}

fn digits(chars: &[char], i: &mut usize) -> Option<usize> {
    let begin = *i;
    while chars.get(*i).is_some_and(char::is_ascii_digit) {
        *i += 1;
    }
    if *i == begin {
        return None;
    }
    // Absurd widths would only allocate; Python refuses them too.
    chars[begin..*i]
        .iter()
        .collect::<String>()
        .parse::<usize>()
        .ok()
        .map(|w| w.min(10_000))
}

#[derive(Debug, Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

impl Spec {
    fn apply(&self, conv: char, arg: &Value) -> Result<String, FormatError> {
        let (body, numeric) = match conv {
            's' => {
                let mut s = str_of(arg);
                if let Some(p) = self.precision {
                    s = s.chars().take(p).collect();
                }
                (s, false)
            }
            'r' | 'a' => {
                let mut s = repr(arg);
                if let Some(p) = self.precision {
                    s = s.chars().take(p).collect();
                }
                (s, false)
            }
            'd' | 'i' | 'u' | 'x' | 'X' | 'o' => {
                let n = integer(conv, arg)?;
                let digits = match conv {
                    'x' => format!("{:x}", n.unsigned_abs()),
                    'X' => format!("{:X}", n.unsigned_abs()),
                    'o' => format!("{:o}", n.unsigned_abs()),
                    _ => n.unsigned_abs().to_string(),
                };
                let digits = match self.precision {
                    Some(p) if digits.len() < p => format!("{digits:0>p$}"),
                    _ => digits,
                };
                (self.sign(n < 0) + &digits, true)
            }
            _ => {
                let f = real(conv, arg)?;
                let p = self.precision.unwrap_or(6).min(1000);
                let body = match conv {
                    'e' | 'E' => {
                        let text = format!("{:.p$e}", f.abs());
                        let (m, e) = text.split_once('e').unwrap_or((&text, "0"));
                        let (sign, d) = match e.strip_prefix('-') {
                            Some(d) => ('-', d),
                            None => ('+', e),
                        };
                        let t = format!("{m}e{sign}{d:0>2}");
                        if conv == 'E' { t.to_uppercase() } else { t }
                    }
                    _ if f.is_nan() => "nan".into(),
                    _ if f.is_infinite() => "inf".into(),
                    _ => format!("{:.p$}", f.abs()),
                };
                (self.sign(f.is_sign_negative() && f != 0.0) + &body, true)
            }
        };
        let width = self.width.unwrap_or(0);
        let len = body.chars().count();
        if len >= width {
            return Ok(body);
        }
        let pad = width - len;
        Ok(if self.left {
            format!("{body}{}", " ".repeat(pad))
        } else if self.zero && numeric {
            let sign_len = usize::from(body.starts_with(['-', '+', ' ']));
            let (sign, rest) = body.split_at(sign_len);
            format!("{sign}{}{rest}", "0".repeat(pad))
        } else {
            format!("{}{body}", " ".repeat(pad))
        })
    }

    fn sign(&self, negative: bool) -> String {
        if negative {
            "-".into()
        } else if self.plus {
            "+".into()
        } else if self.space {
            " ".into()
        } else {
            String::new()
        }
    }
}

/// The argument of `%d` and its kin: an int, a bool or a float (truncated).
fn integer(conv: char, arg: &Value) -> Result<i128, FormatError> {
    match arg {
        Value::Bool(b) => Ok(i128::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else if matches!(conv, 'x' | 'X' | 'o') {
                Err(FormatError(format!(
                    "%{conv} format: an integer is required, not float"
                )))
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f.is_finite() {
                    Ok(f.trunc() as i128)
                } else {
                    Err(FormatError(
                        "cannot convert float infinity to integer".into(),
                    ))
                }
            }
        }
        other => Err(FormatError(if matches!(conv, 'x' | 'X' | 'o') {
            format!(
                "%{conv} format: an integer is required, not {}",
                type_name(other)
            )
        } else {
            format!(
                "%{conv} format: a real number is required, not {}",
                type_name(other)
            )
        })),
    }
}

fn real(conv: char, arg: &Value) -> Result<f64, FormatError> {
    match arg {
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        other => Err(FormatError(format!(
            "%{conv} format: a real number is required, not {}",
            type_name(other)
        ))),
    }
}

fn type_name(value: &Value) -> &'static str {
    super::values::type_name(value)
}

/// Django's `UUIDField.to_python`: an int (a bool among them) is
/// `uuid.UUID(int=value)`, anything else `uuid.UUID(hex=value)`, which only
/// text survives. `None` where Django raises its "is not a valid UUID".
pub(crate) fn django_uuid(value: &Value) -> Option<Uuid> {
    match value {
        Value::String(text) => uuid_from_hex(text),
        Value::Bool(b) => Some(Uuid::from_u128(u128::from(*b))),
        // Negative ints are out of range; floats have no `replace`.
        Value::Number(n) => n.as_u64().map(|n| Uuid::from_u128(u128::from(n))),
        _ => None,
    }
}

/// `uuid.UUID(hex=text)`: `urn:`, `uuid:`, surrounding braces and every
/// hyphen removed, 32 characters left, read by `int(text, 16)`.
fn uuid_from_hex(text: &str) -> Option<Uuid> {
    let hex = text.replace("urn:", "").replace("uuid:", "");
    let hex = hex.trim_matches(['{', '}']).replace('-', "");
    if hex.chars().count() != 32 {
        return None;
    }
    int_base16(&hex).map(Uuid::from_u128)
}

/// `int(text, 16)` for text without `-` (the caller removed them):
/// surrounding whitespace, a `+`, a `0x` prefix and single underscores
/// between digits are allowed.
fn int_base16(text: &str) -> Option<u128> {
    let text = text.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
    let text = text.strip_prefix('+').unwrap_or(text);
    let digits = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(rest) => rest.strip_prefix('_').unwrap_or(rest),
        None => text,
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    digits
        .chars()
        .filter(|c| *c != '_')
        .try_fold(0u128, |n, c| {
            n.checked_mul(16)?.checked_add(u128::from(c.to_digit(16)?))
        })
}

/// `always_merger.merge(base, extra)`: mappings merge key by key, lists are
/// appended, anything else is replaced by `extra`.
pub(crate) fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Mapping(base), Value::Mapping(extra)) => merge_maps(base, extra),
        (Value::Sequence(base), Value::Sequence(extra)) => base.extend(extra),
        (base, extra) => *base = extra,
    }
}

pub(crate) fn merge_maps(base: &mut Mapping, extra: Mapping) {
    for (key, value) in extra {
        match base.get_mut(&key) {
            Some(slot) => merge(slot, value),
            None => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests;
