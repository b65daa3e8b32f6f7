//! Remote path arithmetic (SFTP paths are `/`-separated bytes).

/// `path` relative to `cwd`, `.` and `..` resolved textually.
pub fn join(cwd: &str, path: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in full.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The last component of a path.
pub fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// Splits a command line into words, honouring double quotes and backslash escapes.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut started = false;
    for c in line.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                started = true;
            }
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_words() {
        assert_eq!(join("/home/u", "a/../b/./c"), "/home/u/b/c");
        assert_eq!(join("/home/u", "/etc"), "/etc");
        assert_eq!(join("/", ".."), "/");
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(
            words(r#"put "my file" x\ y"#),
            vec!["put", "my file", "x y"]
        );
    }
}
