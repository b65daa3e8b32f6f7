//! ssh's and sftp's flags that stand for an option: `-4`/`-6` (`AddressFamily`), `-C`
//! (`Compression=yes`: zlib@openssh.com, or zlib, when the server has it), `-c` (`Ciphers`),
//! `-m` (`MACs`).

/// The flags, for `nacre ssh`, `nacre exec` and `nacre sftp`.
#[derive(clap::Args)]
pub struct Shorthands {
    /// IPv4 addresses only (AddressFamily=inet).
    #[arg(short = '4')]
    inet: bool,
    /// IPv6 addresses only (AddressFamily=inet6).
    #[arg(short = '6')]
    inet6: bool,
    /// Ask for compression (Compression=yes: zlib@openssh.com, zlib, none).
    #[arg(short = 'C')]
    compression: bool,
    /// Ciphers, as -o Ciphers=.
    #[arg(short = 'c')]
    ciphers: Option<String>,
    /// MACs, as -o MACs=.
    #[arg(short = 'm')]
    macs: Option<String>,
}

impl Shorthands {
    /// The options the flags stand for, in `Name=value` form.
    pub fn options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.inet {
            out.push("AddressFamily=inet".to_owned());
        }
        if self.inet6 {
            out.push("AddressFamily=inet6".to_owned());
        }
        if self.compression {
            out.push("Compression=yes".to_owned());
        }
        if let Some(c) = &self.ciphers {
            out.push(format!("Ciphers={c}"));
        }
        if let Some(m) = &self.macs {
            out.push(format!("MACs={m}"));
        }
        out
    }
}
