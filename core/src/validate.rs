//! Input rules (docs/design.md, Data model and Limits), checked before anything is sent, so bad
//! input never reaches a backend and is never half-written.

use serde_json::Value;

use crate::error::{Error, Result};

/// Longest key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Default and ceiling for a value's serialized size.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most checks plus operations in one transaction (etcd's `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;
/// The most keys one `get_many` (or a session's `load_many`) reads: the same for every store, and
/// within what an interlock server takes in one request (1024 reads and keys).
pub const MAX_READ_KEYS: usize = 1000;
/// Shortest lease TTL.
pub const MIN_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Keys starting with this are interlock's own records (lock queues, ...).
pub const RESERVED_PREFIX: char = '@';

/// Checks the shape of a key: 1..=512 bytes of UTF-8 with no control characters.
pub fn key_shape(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        let shown: String = key.chars().take(40).collect();
        return Err(Error::invalid(format!(
            "key '{shown}…' is {} bytes; keys are at most {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        // Shown with each control character as U+XXXX: no language's escape syntax.
        let shown: String = key
            .chars()
            .map(|c| match c.is_control() {
                true => format!("<U+{:04X}>", c as u32),
                false => c.to_string(),
            })
            .collect();
        return Err(Error::invalid(format!(
            "key '{shown}' contains the control character U+{:04X}; keys may not contain NUL or other control characters",
            c as u32
        )));
    }
    Ok(())
}

/// Checks a key the user wants to write: its shape, and that it is not reserved.
pub fn writable_key(key: &str) -> Result<()> {
    key_shape(key)?;
    if key.starts_with(RESERVED_PREFIX) {
        return Err(Error::invalid(format!(
            "key '{key}' is reserved: keys starting with '@' hold interlock's own records and cannot be written directly"
        )));
    }
    Ok(())
}

/// Checks a prefix for `list` and `watch`: empty is allowed (everything but reserved keys).
pub fn prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    key_shape(prefix).map_err(|e| e.prefix("invalid prefix"))
}

/// The deepest nesting of arrays and objects a value may have (`[[1]]` nests 2 deep): well
/// within what every JSON reader of the stores and packages parses back (serde_json's 128).
pub const MAX_VALUE_DEPTH: usize = 100;

/// How deep `value` nests arrays and objects, counted up to `MAX_VALUE_DEPTH + 1`.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((v, above)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(members) => Box::new(members.values()),
            _ => continue,
        };
        deepest = deepest.max(above + 1);
        if deepest > MAX_VALUE_DEPTH {
            break;
        }
        stack.extend(children.map(|c| (c, above + 1)));
    }
    deepest
}

/// Serializes a value and checks its size against the store's limit, and its nesting.
pub fn value(key: &str, value: &Value, max_bytes: usize) -> Result<()> {
    if depth(value) > MAX_VALUE_DEPTH {
        return Err(Error::invalid(format!(
            "value for key '{key}' nests arrays or objects more than {MAX_VALUE_DEPTH} levels deep; the limit is {MAX_VALUE_DEPTH}"
        )));
    }
    let size = serialized_len(value);
    if size > max_bytes {
        return Err(Error::invalid(format!(
            "value for key '{key}' is {size} bytes serialized; the limit is {max_bytes} bytes"
        )));
    }
    Ok(())
}

fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    // Writing a Value to an infallible sink cannot fail.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

/// The first integer literal of the JSON `text` (outside strings) that fits neither `i64` nor
/// `u64`, if any: JSON readers (serde_json among them) keep such a number only approximately, as
/// a float, so a reader of text from a user refuses it rather than store another number.
pub fn inexact_integer(text: &str) -> Option<&str> {
    number_literals(text).map(|r| &text[r]).find(|literal| {
        let integer = !literal.contains(['.', 'e', 'E']);
        integer && literal.parse::<i64>().is_err() && literal.parse::<u64>().is_err()
    })
}

/// The JSON `text` with every integer literal `-0` (outside strings) made `0`, a space taking
/// the minus sign's place so that every other character keeps its position (for a message
/// naming one). JSON readers (serde_json among them) read `-0` as the float -0.0, but a number
/// written without a fraction or an exponent is an integer, and the integer -0 is 0; `-0.0`
/// stays the float it is.
pub fn negative_zero_integers_as_zero(text: &str) -> std::borrow::Cow<'_, str> {
    let zeros: Vec<usize> = number_literals(text)
        .filter(|r| &text[r.clone()] == "-0")
        .map(|r| r.start)
        .collect();
    if zeros.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for at in zeros {
        out.replace_range(at..at + 1, " ");
    }
    std::borrow::Cow::Owned(out)
}

/// The byte ranges of the number literals of the JSON `text`, outside strings.
fn number_literals(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let bytes = text.as_bytes();
    let (mut i, mut in_string) = (0, false);
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            if in_string {
                match b {
                    b'\\' => i += 1,
                    b'"' => in_string = false,
                    _ => {}
                }
                i += 1;
            } else if b == b'"' {
                in_string = true;
                i += 1;
            } else if b == b'-' || b.is_ascii_digit() {
                let start = i;
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                return Some(start..i);
            } else {
                i += 1;
            }
        }
        None
    })
}

/// Longest lease TTL (and longest duration any binding takes): about 285 years.
pub const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(9_000_000_000);

/// A duration as a person writes it in a message: seconds with at most three decimals and no
/// trailing zeros (`0.5 s`, `20 s`, `0.001 s`), `0 s` for zero, and below a millisecond in
/// microseconds or nanoseconds (`0.25 ms` would read as a typo; `250 µs` does not).
pub fn seconds(d: std::time::Duration) -> String {
    if !d.is_zero() && d < std::time::Duration::from_millis(1) {
        return if d.as_nanos() % 1000 == 0 {
            format!("{} µs", d.as_micros())
        } else {
            format!("{} ns", d.as_nanos())
        };
    }
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// Checks a lease TTL: from 1 s to [`MAX_TTL`].
pub fn ttl(ttl: std::time::Duration) -> Result<()> {
    if ttl < MIN_TTL {
        return Err(Error::invalid(format!(
            "ttl {} is too short: a lease TTL is at least 1 s",
            seconds(ttl)
        )));
    }
    if ttl > MAX_TTL {
        return Err(Error::invalid(format!(
            "ttl {} is too long: a lease TTL is at most 9000000000 s (about 285 years)",
            seconds(ttl)
        )));
    }
    Ok(())
}

/// The smallest string greater than every string starting with `prefix`, or `None` when no such
/// string exists (the prefix is empty or all U+10FFFF). UTF-8 byte order equals code point order,
/// so this bound works for byte-ordered stores (SQLite's BINARY collation, etcd, BTreeMap).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            0x10FFFF => None,
            n => char::from_u32(n + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Checks the number of keys of one read ([`MAX_READ_KEYS`]).
pub fn read_keys(count: usize) -> Result<()> {
    if count > MAX_READ_KEYS {
        return Err(Error::invalid(format!(
            "a read of {count} keys is too many: at most {MAX_READ_KEYS} keys in one call (split the keys into several calls)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(Value::from(1), |v, i| match i % 2 {
            0 => Value::Array(vec![v]),
            _ => serde_json::json!({ "k": v }),
        })
    }

    #[test]
    fn a_value_nests_at_most_max_value_depth_levels_and_reads_back() {
        assert_eq!(depth(&Value::from(1)), 0);
        assert_eq!(depth(&serde_json::json!([[1], {"a": {"b": []}}])), 4);
        let deepest = nested(MAX_VALUE_DEPTH);
        assert!(value("k", &deepest, usize::MAX).is_ok());
        // What is accepted reads back, also inside a reply's envelope.
        let text = serde_json::json!({ "value": { "entry": deepest } }).to_string();
        assert!(serde_json::from_str::<Value>(&text).is_ok());
        let err = value("k", &nested(MAX_VALUE_DEPTH + 1), usize::MAX).unwrap_err();
        assert!(
            err.to_string().contains("more than 100 levels deep"),
            "{err}"
        );
    }

    #[test]
    fn negative_zero_integers_become_zero_and_floats_stay() {
        assert_eq!(negative_zero_integers_as_zero("-0"), " 0");
        assert_eq!(
            negative_zero_integers_as_zero(r#"{"a":[-0,-0.0,-0e0,-01,"-0",-10,0]}"#),
            r#"{"a":[ 0,-0.0,-0e0,-01,"-0",-10,0]}"#
        );
        assert!(matches!(
            negative_zero_integers_as_zero("[1.5,-2]"),
            std::borrow::Cow::Borrowed(_)
        ));
        let v: Value = serde_json::from_str(&negative_zero_integers_as_zero("[-0,-0.0]")).unwrap();
        assert!(v[0].is_u64() && v[0] == 0, "{v}");
        assert!(
            v[1].as_f64()
                .is_some_and(|f| f == 0.0 && f.is_sign_negative()),
            "{v}"
        );
    }

    #[test]
    fn inexact_integers_are_found_outside_strings_only() {
        assert_eq!(
            inexact_integer("123456789012345678901"),
            Some("123456789012345678901")
        );
        assert_eq!(
            inexact_integer(r#"{"a":[1,"99999999999999999999",-99999999999999999999]}"#),
            Some("-99999999999999999999")
        );
        assert_eq!(
            inexact_integer(r#"[18446744073709551615,-9223372036854775808,1e400,1.5]"#),
            None
        );
        assert_eq!(inexact_integer(r#""\"12345678901234567890123""#), None);
    }

    #[test]
    fn read_keys_limit() {
        assert!(read_keys(MAX_READ_KEYS).is_ok());
        let e = read_keys(MAX_READ_KEYS + 1).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(e.message().contains("1001 keys"), "{}", e.message());
        assert!(e.message().contains("at most 1000 keys"), "{}", e.message());
    }

    #[test]
    fn key_rules() {
        assert!(key_shape("a").is_ok());
        assert!(key_shape(&"k".repeat(512)).is_ok());
        assert!(key_shape(&"k".repeat(513)).is_err());
        assert!(key_shape("").is_err());
        assert!(key_shape("a\0b").is_err());
        assert!(key_shape("a\nb").is_err());
        assert!(key_shape("é/ü/🙂").is_ok());
        assert!(writable_key("@lock/x").is_err());
        assert!(writable_key("x@y").is_ok());
    }

    #[test]
    fn prefix_end_bounds_prefix() {
        assert_eq!(prefix_end("a/"), Some("a0".to_string()));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".to_string()));
        assert_eq!(prefix_end("\u{D7FF}"), Some("\u{E000}".to_string()));
        let end = prefix_end("ab").unwrap();
        assert!("ab\u{10FFFF}zz" < end.as_str());
        assert!("ac" >= end.as_str());
    }

    #[test]
    fn durations_read_as_written() {
        use std::time::Duration;
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
        assert_eq!(seconds(Duration::from_secs(20)), "20 s");
        assert_eq!(seconds(Duration::ZERO), "0 s");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.25 s");
        assert_eq!(seconds(Duration::from_micros(250)), "250 µs");
        assert_eq!(seconds(Duration::from_nanos(3)), "3 ns");
        let e = ttl(Duration::ZERO).unwrap_err().to_string();
        assert!(e.contains("ttl 0 s is too short"), "{e}");
        assert!(e.contains("at least 1 s"), "{e}");
        let e = ttl(Duration::from_millis(500)).unwrap_err().to_string();
        assert!(e.contains("ttl 0.5 s"), "{e}");
        assert!(!e.contains("ms") && !e.contains("ns"), "{e}");
    }

    #[test]
    fn value_size_limit() {
        let v = Value::String("x".repeat(100));
        assert!(value("k", &v, 102).is_ok());
        let e = value("k", &v, 101).unwrap_err();
        assert!(e.to_string().contains("'k'"));
        assert!(e.to_string().contains("102 bytes"));
    }
}
