//! Outcomes of conformance checks and their three renderings: a human table, JSON, JUnit XML.

use serde::Serialize;

use super::OutputArgs;

/// What a check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The server did what the clause asks.
    Pass,
    /// The server did not.
    Fail,
    /// The clause leaves a choice (the behaviour is reported), or the check could not run.
    Info,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Info => "INFO",
        }
    }
}

/// The result of one check.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// `family.check`, stable across versions (tests and docs/CONFORMANCE.md use it).
    pub name: String,
    /// The clause tested, e.g. `RFC 4253 §4.2`.
    pub clause: &'static str,
    /// The conclusion.
    pub verdict: Verdict,
    /// What was sent.
    pub sent: String,
    /// What came back.
    pub received: String,
    /// Why the verdict, in a few words.
    pub note: String,
}

impl Outcome {
    /// An outcome with everything given.
    pub fn new(
        name: impl Into<String>,
        clause: &'static str,
        verdict: Verdict,
        sent: impl Into<String>,
        received: impl Into<String>,
        note: impl Into<String>,
    ) -> Outcome {
        Outcome {
            name: name.into(),
            clause,
            verdict,
            sent: sent.into(),
            received: received.into(),
            note: note.into(),
        }
    }

    /// An INFO outcome for a check that could not run (`why`).
    pub fn skipped(
        name: impl Into<String>,
        clause: &'static str,
        why: impl Into<String>,
    ) -> Outcome {
        Outcome::new(name, clause, Verdict::Info, "", "", why)
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    target: &'a str,
    pass: usize,
    fail: usize,
    info: usize,
    checks: &'a [Outcome],
}

fn count(outcomes: &[Outcome], v: Verdict) -> usize {
    outcomes.iter().filter(|o| o.verdict == v).count()
}

/// Prints the outcomes (table or JSON), writes JUnit XML when asked, and fails the command with
/// `--strict` when a check failed.
pub fn emit(target: &str, outcomes: &[Outcome], output: &OutputArgs) -> anyhow::Result<()> {
    if output.json {
        let report = JsonReport {
            target,
            pass: count(outcomes, Verdict::Pass),
            fail: count(outcomes, Verdict::Fail),
            info: count(outcomes, Verdict::Info),
            checks: outcomes,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(target, outcomes));
    }
    if let Some(path) = &output.junit {
        std::fs::write(path, junit(target, outcomes))?;
    }
    if output.strict && count(outcomes, Verdict::Fail) > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The human table: one block per check, then the counts.
pub fn table(target: &str, outcomes: &[Outcome]) -> String {
    let mut s = format!("conformance of {target}\n\n");
    let width = outcomes.iter().map(|o| o.name.len()).max().unwrap_or(0);
    for o in outcomes {
        let note = crate::visible::visible_text(&o.note, false);
        s.push_str(&format!(
            "{}  {:width$}  {}  {}\n",
            o.verdict.label(),
            o.name,
            o.clause,
            note
        ));
        if !o.sent.is_empty() {
            let sent = crate::visible::visible_text(&o.sent, false);
            s.push_str(&format!("      {:width$}  sent: {sent}\n", ""));
        }
        if !o.received.is_empty() {
            let got = crate::visible::visible_text(&o.received, false);
            s.push_str(&format!("      {:width$}  got:  {got}\n", ""));
        }
    }
    s.push_str(&format!(
        "\n{} passed, {} failed, {} info\n",
        count(outcomes, Verdict::Pass),
        count(outcomes, Verdict::Fail),
        count(outcomes, Verdict::Info)
    ));
    s
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            c if c.is_control() && c != '\n' && c != '\t' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one testsuite, one testcase per check; FAIL is a `<failure>`, INFO a `<skipped>`
/// with the behaviour as message (so CI dashboards show it without counting it as a failure).
pub fn junit(target: &str, outcomes: &[Outcome]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuite name=\"nacre conform {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
        xml(target),
        outcomes.len(),
        count(outcomes, Verdict::Fail),
        count(outcomes, Verdict::Info)
    ));
    for o in outcomes {
        s.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\">\n",
            xml(o.clause),
            xml(&o.name)
        ));
        let detail = format!("{}\nsent: {}\ngot: {}", o.note, o.sent, o.received);
        match o.verdict {
            Verdict::Pass => {}
            Verdict::Fail => s.push_str(&format!(
                "    <failure message=\"{}\">{}</failure>\n",
                xml(&o.note),
                xml(&detail)
            )),
            Verdict::Info => s.push_str(&format!("    <skipped message=\"{}\"/>\n", xml(&o.note))),
        }
        s.push_str(&format!("    <system-out>{}</system-out>\n", xml(&detail)));
        s.push_str("  </testcase>\n");
    }
    s.push_str("</testsuite>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_and_counts() {
        let o = vec![
            Outcome::new(
                "a.b",
                "RFC 1 §2",
                Verdict::Fail,
                "<x>",
                "\u{1}",
                "bad & worse",
            ),
            Outcome::new("a.c", "RFC 1 §3", Verdict::Pass, "", "", "ok"),
        ];
        let x = junit("h:22", &o);
        assert!(x.contains("failures=\"1\""));
        assert!(x.contains("&lt;x&gt;"));
        assert!(x.contains("bad &amp; worse"));
        assert!(!x.contains('\u{1}'));
        let t = table("h:22", &o);
        assert!(t.contains("FAIL  a.b"));
        assert!(t.contains("1 passed, 1 failed, 0 info"));
    }
}
