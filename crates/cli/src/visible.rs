//! Remote strings made safe to show: every string a server chooses (file names, long names,
//! status messages, error texts that quote them) goes through [`visible`] before it reaches a
//! terminal, so escape sequences cannot retitle the window, clear the screen or recolour it.
//!
//! As OpenSSH's `strvisx`-style output (`utf8.c`'s `vasnmprintf`, which its sftp uses for
//! listings): printable characters stay, valid UTF-8 included; control characters (C0, DEL,
//! C1), Unicode format controls that reorder text (bidirectional overrides and isolates, which
//! can make a name look like another), and bytes that are not UTF-8 become `\ooo` octal escapes
//! of their bytes. The library keeps raw bytes; only the program escapes.

/// `bytes` as text safe to print on a terminal.
pub fn visible(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if hidden(c) {
                let mut buf = [0u8; 4];
                octal(c.encode_utf8(&mut buf).as_bytes(), &mut out);
            } else {
                out.push(c);
            }
        }
        octal(chunk.invalid(), &mut out);
    }
    out
}

/// [`visible`] for a `str` (an error message that may quote a server's words), keeping line
/// breaks when `keep_newlines` (our own multi-line messages).
pub fn visible_text(text: &str, keep_newlines: bool) -> String {
    if keep_newlines {
        return text
            .split('\n')
            .map(|line| visible(line.as_bytes()))
            .collect::<Vec<_>>()
            .join("\n");
    }
    visible(text.as_bytes())
}

fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200e}' | '\u{200f}'            // left-to-right / right-to-left marks
            | '\u{202a}'..='\u{202e}'          // embeddings and overrides
            | '\u{2066}'..='\u{2069}'          // isolates
            | '\u{061c}'                       // Arabic letter mark
        )
}

fn octal(bytes: &[u8], out: &mut String) {
    for b in bytes {
        out.push_str(&format!("\\{b:03o}"));
    }
}

#[cfg(test)]
mod tests {
    use super::{visible, visible_text};

    #[test]
    fn controls_and_invalid_bytes_are_escaped_printable_text_is_kept() {
        assert_eq!(visible(b"plain name.txt"), "plain name.txt");
        assert_eq!(visible("café ü 日本".as_bytes()), "café ü 日本");
        // Set the window title, clear the screen, colour.
        assert_eq!(visible(b"\x1b]0;pwned\x07"), "\\033]0;pwned\\007");
        assert_eq!(visible(b"\x1b[2J\x1b[31m"), "\\033[2J\\033[31m");
        assert_eq!(visible(b"a\nb\rc\td"), "a\\012b\\015c\\011d");
        assert_eq!(visible(b"\x7f"), "\\177");
        // C1 control (U+009B, the 8-bit CSI) and a lone 0x9b byte (not UTF-8).
        assert_eq!(visible("\u{9b}2J".as_bytes()), "\\302\\2332J");
        assert_eq!(visible(b"\x9b2J"), "\\2332J");
        // A right-to-left override that makes "exe.txt" look like "txt.exe".
        assert_eq!(
            visible("evil\u{202e}txt.exe".as_bytes()),
            "evil\\342\\200\\256txt.exe"
        );
        assert_eq!(visible_text("one\ntwo\x1b[0m", true), "one\ntwo\\033[0m");
        assert_eq!(visible_text("one\ntwo", false), "one\\012two");
    }
}
