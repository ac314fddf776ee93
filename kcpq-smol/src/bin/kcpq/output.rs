//! How received messages are printed: one readable line (optionally with the headers), the
//! bare payload, or one JSON object per message.

use std::io::{self, Write};

use base64::Engine as _;
use kcpq_smol::Message;
use serde_json::{Map, Value, json};

use crate::args::OutputArgs;

/// The shape of what is printed for each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One readable line (control characters escaped), then the headers when asked.
    Line {
        /// Print the headers, one per line, indented.
        headers: bool,
    },
    /// The payload byte for byte, then a newline.
    Raw,
    /// One JSON object per line.
    Json,
}

impl From<&OutputArgs> for Format {
    fn from(args: &OutputArgs) -> Self {
        if args.json {
            Format::Json
        } else if args.raw {
            Format::Raw
        } else {
            Format::Line {
                headers: args.headers,
            }
        }
    }
}

impl Format {
    /// Prints a status line: on standard output in the readable format, on standard error
    /// otherwise, so that scripts read only messages.
    pub(crate) fn notice(self, text: &str) {
        match self {
            Format::Line { .. } => println!("{text}"),
            Format::Raw | Format::Json => eprintln!("{text}"),
        }
    }

    /// Prints `message`; `number` (the `[#n] subject:` prefix) is given for subscriptions.
    /// A closed standard output (`kcpq sub ... | head -1`) is an error of kind `BrokenPipe`.
    pub(crate) fn print(self, message: &Message, number: Option<u64>) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match self {
            Format::Line { headers } => {
                let text = printable(&message.payload);
                match (number, &message.reply) {
                    (Some(n), Some(reply)) => {
                        writeln!(out, "[#{n}] {} (reply to {reply}): {text}", message.subject)?;
                    }
                    (Some(n), None) => writeln!(out, "[#{n}] {}: {text}", message.subject)?,
                    (None, _) => writeln!(out, "{text}")?,
                }
                if headers {
                    for (name, value) in message.headers().iter().flat_map(|h| h.iter()) {
                        writeln!(out, "  {name}: {}", printable(value.as_bytes()))?;
                    }
                }
            }
            Format::Raw => {
                out.write_all(&message.payload)?;
                out.write_all(b"\n")?;
            }
            Format::Json => writeln!(out, "{}", to_json(message))?,
        }
        out.flush()
    }
}

/// The JSON object printed for `message`.
pub(crate) fn to_json(message: &Message) -> Value {
    let mut headers = Map::new();
    for (name, value) in message.headers().iter().flat_map(|h| h.iter()) {
        let values = headers
            .entry(name.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = values {
            values.push(json!(value));
        }
    }
    let mut object = Map::new();
    object.insert("subject".into(), json!(message.subject.as_str()));
    object.insert("reply".into(), json!(message.reply));
    object.insert("headers".into(), Value::Object(headers));
    match std::str::from_utf8(&message.payload) {
        Ok(text) => object.insert("payload".into(), json!(text)),
        Err(_) => object.insert(
            "payload_b64".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(&message.payload)),
        ),
    };
    Value::Object(object)
}

/// `bytes` as text on one line: invalid UTF-8 replaced, control characters escaped.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() {
            text.extend(c.escape_default());
        } else {
            text.push(c);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_quotes_kept() {
        assert_eq!(printable(b"a \"b\"\n\t\x01"), "a \"b\"\\n\\t\\u{1}");
        assert_eq!(printable(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
    }
}
