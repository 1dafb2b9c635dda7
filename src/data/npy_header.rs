//! The text of a `.npy` header, a Python dict literal: reading the one NumPy
//! writes ([`HeaderDict`], with a cursor that names where it stops), and
//! writing one before the data ([`f32_file`]).

/// A version 1.0 `.npy` file of little-endian f32 `values` of `shape` in C
/// order, its header padded to 64 bytes as NumPy pads it.
pub fn f32_file(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    with_header(&dict, &data)
}

/// A version 1.0 file of the header dict `dict` and `data`, the header padded
/// with spaces and a newline to a multiple of 64 bytes.
pub(super) fn with_header(dict: &str, data: &[u8]) -> Vec<u8> {
    let unpadded = 10 + dict.len() + 1;
    let header = format!(
        "{dict}{}\n",
        " ".repeat(unpadded.next_multiple_of(64) - unpadded)
    );
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Why a header dict cannot be read.
#[derive(Debug)]
pub(super) enum DictError {
    /// A structured dtype (a list for `descr`).
    StructuredDtype,
    /// Not the dict NumPy writes: what is wrong, and where.
    Malformed(String),
}

/// The three keys of a `.npy` header.
pub(super) struct HeaderDict {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

impl HeaderDict {
    /// Parses the dict literal NumPy writes: string keys, a string `descr`
    /// (a list, a structured dtype, is refused), `True`/`False`, a tuple of
    /// integers; trailing commas and whitespace anywhere.
    pub(super) fn parse(text: &str) -> Result<Self, DictError> {
        let mut p = Parser { rest: text.trim() };
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        p.expect('{')?;
        while !p.eat('}') {
            let key = p.string()?;
            p.expect(':')?;
            match key.as_str() {
                "descr" if p.peek() == Some('[') => {
                    return Err(DictError::StructuredDtype);
                }
                "descr" => descr = Some(p.string()?),
                "fortran_order" => fortran_order = Some(p.boolean()?),
                "shape" => shape = Some(p.tuple()?),
                other => return Err(p.error(&format!("unexpected key {other:?}"))),
            }
            if !p.eat(',') {
                p.expect('}')?;
                break;
            }
        }
        if !p.rest.is_empty() {
            return Err(p.error("text after the dict"));
        }
        let missing = |key: &str| DictError::Malformed(format!("no {key:?} key"));
        Ok(Self {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }
}

/// A cursor over header text.
struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> DictError {
        let at: String = self.rest.chars().take(20).collect();
        DictError::Malformed(format!("{what} at {at:?}"))
    }

    fn peek(&mut self) -> Option<char> {
        self.rest = self.rest.trim_start();
        self.rest.chars().next()
    }

    /// Consumes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.rest = &self.rest[c.len_utf8()..];
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), DictError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {c:?}")))
        }
    }

    /// A quoted string without escapes.
    fn string(&mut self) -> Result<String, DictError> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a string")),
        };
        let body = &self.rest[1..];
        let end = body
            .find(quote)
            .ok_or_else(|| self.error("unterminated string"))?;
        let value = body[..end].to_string();
        self.rest = &body[end + 1..];
        Ok(value)
    }

    fn boolean(&mut self) -> Result<bool, DictError> {
        self.peek();
        for (word, value) in [("True", true), ("False", false)] {
            if let Some(rest) = self.rest.strip_prefix(word) {
                self.rest = rest;
                return Ok(value);
            }
        }
        Err(self.error("expected True or False"))
    }

    /// A tuple of non-negative integers: `()`, `(5,)`, `(2, 3)`.
    fn tuple(&mut self) -> Result<Vec<u64>, DictError> {
        self.expect('(')?;
        let mut values = Vec::new();
        while !self.eat(')') {
            self.peek();
            let digits = self.rest.len()
                - self
                    .rest
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            let value = self.rest[..digits]
                .parse::<u64>()
                .map_err(|_| self.error("expected a dimension"))?;
            self.rest = &self.rest[digits..];
            // 32 dimensions at most, as NumPy allows.
            if values.len() == 32 {
                return Err(self.error("more than 32 dimensions"));
            }
            values.push(value);
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        Ok(values)
    }
}
