//! Splits the body of `googleAds:searchStream` into its elements as the
//! bytes arrive.
//!
//! The REST `searchStream` answers one JSON array of
//! `{results, fieldMask, requestId}` objects, each up to 10,000 rows, for the
//! whole query: a year of campaign days for a large account is hundreds of
//! megabytes. Parsing it whole would hold the stream in memory; this hands
//! over one element at a time, so memory stays at one batch.

/// Where the splitter is in the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `[`.
    Start,
    /// After `[`: an element or `]`.
    First,
    /// After `,`: an element.
    Next,
    /// Inside an element.
    Element,
    /// After an element: `,` or `]`.
    After,
    /// After `]`.
    Done,
}

/// Cuts a JSON array of objects into the objects' bytes.
#[derive(Debug)]
pub(crate) struct ArraySplitter {
    state: State,
    depth: u32,
    in_string: bool,
    escaped: bool,
    current: Vec<u8>,
    /// Bytes consumed, for error messages.
    offset: usize,
}

impl ArraySplitter {
    pub(crate) fn new() -> Self {
        ArraySplitter {
            state: State::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            current: Vec::new(),
            offset: 0,
        }
    }

    /// Feeds `chunk`; every element it completes is appended to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), String> {
        for &b in chunk {
            self.offset += 1;
            match self.state {
                State::Element => self.element_byte(b, out),
                _ if b.is_ascii_whitespace() => {}
                State::Start if b == b'[' => self.state = State::First,
                State::First if b == b']' => self.state = State::Done,
                State::First | State::Next if b == b'{' => {
                    self.state = State::Element;
                    self.element_byte(b, out);
                }
                State::After if b == b',' => self.state = State::Next,
                State::After if b == b']' => self.state = State::Done,
                state => {
                    let expected = match state {
                        State::Start => "`[` (the body is not a JSON array)",
                        State::First => "an object or `]`",
                        State::Next => "an object",
                        State::After => "`,` or `]`",
                        State::Done => "nothing after the closing `]`",
                        State::Element => unreachable!("handled above"),
                    };
                    return Err(format!(
                        "expected {expected} at byte {}, found {:?}",
                        self.offset,
                        char::from(b)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks that the array was closed: a body cut short by a dropped
    /// connection must fail the read, not end it quietly with fewer rows.
    pub(crate) fn finish(&self) -> Result<(), String> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(format!(
                "the body ended after {} bytes, before the array was closed (truncated response)",
                self.offset
            )),
        }
    }

    fn element_byte(&mut self, b: u8, out: &mut Vec<Vec<u8>>) {
        self.current.push(b);
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                if self.depth == 0 {
                    out.push(std::mem::take(&mut self.current));
                    self.state = State::After;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn split_in_pieces(body: &[u8], piece: usize) -> Result<Vec<Value>, String> {
        let mut s = ArraySplitter::new();
        let mut out = Vec::new();
        for chunk in body.chunks(piece) {
            s.push(chunk, &mut out)?;
        }
        s.finish()?;
        Ok(out
            .iter()
            .map(|e| serde_json::from_slice(e).unwrap())
            .collect())
    }

    #[test]
    fn elements_come_out_whole_whatever_the_chunking() {
        let body = json!([
            {"results": [{"campaign": {"name": "Brand \"ES\" {x} [y] \\"}}], "fieldMask": "campaign.name"},
            {"results": [], "requestId": "r-1"},
            {"fieldMask": "x", "queryResourceConsumption": "12"}
        ]);
        let text = serde_json::to_string_pretty(&body).unwrap();
        for piece in [1, 2, 3, 7, 64, text.len()] {
            let got = split_in_pieces(text.as_bytes(), piece).unwrap();
            assert_eq!(Value::Array(got), body, "piece size {piece}");
        }
        assert!(split_in_pieces(b" [ ] ", 1).unwrap().is_empty());
    }

    #[test]
    fn truncated_and_malformed_bodies_fail() {
        let e = split_in_pieces(br#"[{"results": [{"a": 1}]}, {"results": ["#, 5).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = split_in_pieces(br#"[{"a": 1}"#, 5).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = split_in_pieces(br#"{"error": {}}"#, 5).unwrap_err();
        assert!(e.contains("not a JSON array"), "{e}");
        let e = split_in_pieces(br#"[{"a": 1} {"b": 2}]"#, 5).unwrap_err();
        assert!(e.contains("expected `,` or `]` at byte 11"), "{e}");
        let e = split_in_pieces(br#"[{"a": 1}] x"#, 5).unwrap_err();
        assert!(e.contains("nothing after"), "{e}");
        let e = split_in_pieces(b"[1]", 5).unwrap_err();
        assert!(e.contains("expected an object or `]`"), "{e}");
    }
}
