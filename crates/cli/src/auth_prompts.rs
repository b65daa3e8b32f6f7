//! The person at the terminal answers for the client, as with ssh: key passphrases
//! (`Enter passphrase for key '...': `, asked again after a wrong one, an empty answer skips the
//! key) and keyboard-interactive prompts (the server's name and instruction shown, each prompt
//! as `(user@host) Prompt: `, echoed or not as the server says). The server's words go through
//! [`crate::visible`]: it chose every byte. Never with `BatchMode=yes` or without a terminal.

use std::path::Path;
use std::sync::Arc;

use nacre::keys::{KeyError, PrivateKey};

use crate::prompt;

/// Reads the identity `file`, asking for its passphrase on the terminal when it is encrypted
/// and `ask` (up to `tries` times). `Ok(None)`: encrypted and no passphrase given.
pub fn load_identity(file: &Path, ask: bool, tries: u32) -> anyhow::Result<Option<PrivateKey>> {
    let bytes = std::fs::read(file)?;
    match PrivateKey::from_file_bytes(&bytes, None) {
        Ok(k) => return Ok(Some(k)),
        Err(KeyError::Encrypted) if ask => {}
        Err(e) => return Err(e.into()),
    }
    let question = format!("Enter passphrase for key '{}': ", file.display());
    for _ in 0..tries.max(1) {
        let Some(pass) = prompt::secret(&question) else {
            return Ok(None);
        };
        if pass.is_empty() {
            return Ok(None);
        }
        match PrivateKey::from_file_bytes(&bytes, Some(pass.as_bytes())) {
            Ok(k) => return Ok(Some(k)),
            Err(KeyError::BadPassphrase) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// A keyboard-interactive responder that asks the person at the terminal.
pub fn keyboard_interactive(user: &str, host: &str) -> nacre::PromptResponder {
    let who = format!("({user}@{host}) ");
    Arc::new(move |req| {
        for text in [&req.name, &req.instruction] {
            if !text.is_empty() {
                prompt::say(&crate::visible::visible_text(text.trim_end(), true));
            }
        }
        req.prompts
            .iter()
            .map(|p| {
                let question = format!("{who}{}", crate::visible::visible(p.prompt.as_bytes()));
                let answer = if p.echo {
                    prompt::line(&question)
                } else {
                    prompt::secret(&question).map(|s| s.to_string())
                };
                answer.unwrap_or_default()
            })
            .collect()
    })
}
