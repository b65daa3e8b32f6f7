//! Pass two: each payload as a message name and fields, in capture order across both
//! directions, with what the context says about numbers 30–49 (the negotiated kex method) and
//! 60–79 (the authentication method last requested). Channel numbers are followed so that the
//! data of a session channel running the `sftp` subsystem is decoded as SFTP packets.

use nacre_transport::kex::KexKind;
use nacre_wire::{ChannelOpenFailureReason, DisconnectReason, MsgNumber, Reader, WireError};
use serde_json::{json, Value};

use super::kex::{KexRecord, C2S};
use super::keylog::hex;
use super::sftp::Channels;

/// A message's fields, in order.
pub type Fields = Vec<(&'static str, Value)>;

/// One rendered item: a message name and its fields.
#[derive(Debug)]
pub struct Item {
    /// The name (`KEXINIT`, `USERAUTH_REQUEST`, `SFTP_OPEN`, ...).
    pub name: String,
    /// Its fields.
    pub fields: Fields,
}

/// Per-stream rendering state.
pub struct Renderer<'a> {
    records: &'a [KexRecord],
    /// The method of the client's last USERAUTH_REQUEST.
    auth_method: String,
    channels: Channels,
    /// Kex method messages seen per (exchange, direction), to flag an ignored guess.
    kex_seen: std::collections::HashMap<(usize, usize), usize>,
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// The algorithm name that starts a key or signature blob.
fn blob_type(blob: &[u8]) -> Value {
    Reader::new(blob).string().map_or(Value::Null, text)
}

impl<'a> Renderer<'a> {
    /// A renderer over a stream's key exchanges.
    pub fn new(records: &'a [KexRecord]) -> Self {
        Renderer {
            records,
            auth_method: String::new(),
            channels: Channels::default(),
            kex_seen: std::collections::HashMap::new(),
        }
    }

    /// The message, then any SFTP packets its channel data completed.
    pub fn render(&mut self, dir: usize, payload: &[u8], kex: usize) -> Vec<Item> {
        let number = payload.first().copied().unwrap_or(0);
        let mut r = Reader::new(payload.get(1..).unwrap_or_default());
        let mut extra = Vec::new();
        let (name, result) = match number {
            1..=8 => transport(number, &mut r),
            20 => ("KEXINIT".into(), kexinit(&mut r)),
            21 => ("NEWKEYS".into(), Ok(Vec::new())),
            30..=49 => self.kex_item(dir, number, &mut r, kex),
            50..=79 => self.auth(dir, number, &mut r),
            80..=82 => global(number, &mut r),
            90..=100 => {
                let (name, result) = channel(number, &mut r);
                if result.is_ok() {
                    let body = payload.get(1..).unwrap_or_default();
                    extra = self.channels.observe(dir, number, body);
                }
                (name, result)
            }
            _ => (
                format!("UNKNOWN_{number}"),
                Ok(vec![("length", json!(payload.len()))]),
            ),
        };
        let fields = result.unwrap_or_else(|e| vec![("decode_error", json!(e.to_string()))]);
        let mut items = vec![Item { name, fields }];
        items.extend(extra);
        items
    }

    /// A kex method message, flagged when it is a wrong guess the peer ignores.
    fn kex_item(
        &mut self,
        dir: usize,
        number: u8,
        r: &mut Reader<'_>,
        kex: usize,
    ) -> (String, Result<Fields, WireError>) {
        let seen = self.kex_seen.entry((kex, dir)).or_insert(0);
        let first = *seen == 0;
        *seen += 1;
        let (name, mut result) = self.kex(number, r, kex);
        let guess = self
            .records
            .get(kex)
            .is_some_and(|rec| rec.ignored_guess(dir));
        if let (true, true, Ok(fields)) = (first, guess, &mut result) {
            fields.push(("ignored_wrong_guess", json!(true)));
        }
        (name, result)
    }

    fn kex(
        &self,
        number: u8,
        r: &mut Reader<'_>,
        kex: usize,
    ) -> (String, Result<Fields, WireError>) {
        let record = self.records.get(kex);
        let Some(neg) = record.and_then(KexRecord::negotiated) else {
            return (format!("KEX_{number}"), Ok(Vec::new()));
        };
        let verified = match record.and_then(|r| r.outcome.as_ref()) {
            Some(Ok(o)) => json!(o.signature_ok),
            _ => Value::Null,
        };
        let method = json!(neg.kex.name());
        let reply = |r: &mut Reader<'_>, mpint: bool| -> Result<Fields, WireError> {
            let k_s = r.string()?;
            let value_len = if mpint {
                r.mpint()?.as_bytes().len()
            } else {
                r.string()?.len()
            };
            let sig = r.string()?;
            Ok(vec![
                ("method", method.clone()),
                ("host_key_type", blob_type(k_s)),
                (
                    if mpint { "f_bytes" } else { "q_s_bytes" },
                    json!(value_len),
                ),
                ("signature_type", blob_type(sig)),
                ("signature_verified", verified.clone()),
            ])
        };
        match (neg.kex.kind(), number) {
            (KexKind::Ecdh(_) | KexKind::Hybrid(_), 30) => (
                "KEX_ECDH_INIT".into(),
                r.string()
                    .map(|q| vec![("method", method.clone()), ("q_c_bytes", json!(q.len()))]),
            ),
            (KexKind::Ecdh(_) | KexKind::Hybrid(_), 31) => {
                ("KEX_ECDH_REPLY".into(), reply(r, false))
            }
            (KexKind::Dh(_), 30) | (KexKind::Gex, 32) => (
                (if number == 30 {
                    "KEXDH_INIT"
                } else {
                    "KEX_DH_GEX_INIT"
                })
                .into(),
                r.mpint().map(|e| {
                    vec![
                        ("method", method.clone()),
                        ("e_bytes", json!(e.as_bytes().len())),
                    ]
                }),
            ),
            (KexKind::Dh(_), 31) => ("KEXDH_REPLY".into(), reply(r, true)),
            (KexKind::Gex, 33) => ("KEX_DH_GEX_REPLY".into(), reply(r, true)),
            (KexKind::Gex, 34) => ("KEX_DH_GEX_REQUEST".into(), gex_request(r)),
            (KexKind::Gex, 31) => ("KEX_DH_GEX_GROUP".into(), gex_group(r)),
            _ => (format!("KEX_{number}"), Ok(Vec::new())),
        }
    }

    fn auth(
        &mut self,
        dir: usize,
        number: u8,
        r: &mut Reader<'_>,
    ) -> (String, Result<Fields, WireError>) {
        match number {
            50 => ("USERAUTH_REQUEST".into(), self.userauth_request(r)),
            51 => (
                "USERAUTH_FAILURE".into(),
                (|| -> Result<Fields, WireError> {
                    Ok(vec![
                        ("methods", json!(r.name_list()?.as_str())),
                        ("partial_success", json!(r.bool()?)),
                    ])
                })(),
            ),
            52 => ("USERAUTH_SUCCESS".into(), Ok(Vec::new())),
            53 => (
                "USERAUTH_BANNER".into(),
                r.string().map(|m| vec![("message", text(m))]),
            ),
            60 => match self.auth_method.as_str() {
                "publickey" => (
                    "USERAUTH_PK_OK".into(),
                    r.utf8().map(|a| vec![("algorithm", json!(a))]),
                ),
                "password" => (
                    "USERAUTH_PASSWD_CHANGEREQ".into(),
                    r.string().map(|p| vec![("prompt", text(p))]),
                ),
                "keyboard-interactive" if dir != C2S => {
                    ("USERAUTH_INFO_REQUEST".into(), info_request(r))
                }
                _ => ("USERAUTH_60".into(), Ok(Vec::new())),
            },
            61 if self.auth_method == "keyboard-interactive" => (
                "USERAUTH_INFO_RESPONSE".into(),
                r.u32()
                    .map(|n| vec![("responses", json!(n)), ("values", json!("(masked)"))]),
            ),
            _ => (format!("USERAUTH_{number}"), Ok(Vec::new())),
        }
    }

    fn userauth_request(&mut self, r: &mut Reader<'_>) -> Result<Fields, WireError> {
        let user = r.string()?;
        let service = r.string()?;
        let method = r.utf8()?;
        self.auth_method = method.to_owned();
        let mut f = vec![
            ("user", text(user)),
            ("service", text(service)),
            ("method", json!(method)),
        ];
        match method {
            "password" => {
                let change = r.bool()?;
                r.string()?;
                f.push(("change", json!(change)));
                f.push(("password", json!("(masked)")));
            }
            "publickey" => {
                let signed = r.bool()?;
                f.push(("algorithm", text(r.string()?)));
                f.push(("key_type", blob_type(r.string()?)));
                f.push(("has_signature", json!(signed)));
            }
            "keyboard-interactive" => {
                r.string()?;
                f.push(("submethods", text(r.string()?)));
            }
            _ => {}
        }
        Ok(f)
    }
}

fn transport(number: u8, r: &mut Reader<'_>) -> (String, Result<Fields, WireError>) {
    let name = MsgNumber(number)
        .name()
        .map_or(format!("MSG_{number}"), str::to_owned);
    let fields = (|| -> Result<Fields, WireError> {
        Ok(match number {
            1 => {
                let reason = DisconnectReason(r.u32()?);
                vec![
                    ("reason", json!(format!("{reason:?}"))),
                    ("description", text(r.string()?)),
                ]
            }
            2 => vec![("data_bytes", json!(r.string()?.len()))],
            3 => vec![("seq", json!(r.u32()?))],
            4 => vec![
                ("always_display", json!(r.bool()?)),
                ("message", text(r.string()?)),
            ],
            5 | 6 => vec![("service", text(r.string()?))],
            7 => {
                let n = r.u32()?;
                let mut names = Vec::new();
                for _ in 0..n {
                    let name = r.string()?;
                    let value = r.string()?;
                    names.push(if name == b"server-sig-algs" {
                        format!("server-sig-algs={}", String::from_utf8_lossy(value))
                    } else {
                        String::from_utf8_lossy(name).into_owned()
                    });
                }
                vec![("extensions", json!(names))]
            }
            _ => Vec::new(),
        })
    })();
    (name, fields)
}

fn kexinit(r: &mut Reader<'_>) -> Result<Fields, WireError> {
    let cookie = r.array::<16>()?;
    let mut f = vec![("cookie", json!(hex(&cookie)))];
    for name in [
        "kex_algorithms",
        "server_host_key_algorithms",
        "encryption_c2s",
        "encryption_s2c",
        "mac_c2s",
        "mac_s2c",
        "compression_c2s",
        "compression_s2c",
        "languages_c2s",
        "languages_s2c",
    ] {
        f.push((name, json!(r.name_list()?.as_str())));
    }
    f.push(("first_kex_packet_follows", json!(r.bool()?)));
    f.push(("reserved", json!(r.u32()?)));
    Ok(f)
}

fn gex_request(r: &mut Reader<'_>) -> Result<Fields, WireError> {
    Ok(vec![
        ("min", json!(r.u32()?)),
        ("n", json!(r.u32()?)),
        ("max", json!(r.u32()?)),
    ])
}

fn gex_group(r: &mut Reader<'_>) -> Result<Fields, WireError> {
    let p = r.mpint()?.unsigned_magnitude()?;
    let g = r.mpint()?.unsigned_magnitude()?;
    Ok(vec![("p_bits", json!(p.len() * 8)), ("g", json!(hex(g)))])
}

fn info_request(r: &mut Reader<'_>) -> Result<Fields, WireError> {
    let name = r.string()?;
    let instruction = r.string()?;
    r.string()?;
    Ok(vec![
        ("name", text(name)),
        ("instruction", text(instruction)),
        ("prompts", json!(r.u32()?)),
    ])
}

fn global(number: u8, r: &mut Reader<'_>) -> (String, Result<Fields, WireError>) {
    let name = MsgNumber(number).name().unwrap_or("GLOBAL").to_owned();
    if number != 80 {
        return (name, Ok(Vec::new()));
    }
    let fields = (|| -> Result<Fields, WireError> {
        Ok(vec![
            ("request", text(r.string()?)),
            ("want_reply", json!(r.bool()?)),
        ])
    })();
    (name, fields)
}

fn channel(number: u8, r: &mut Reader<'_>) -> (String, Result<Fields, WireError>) {
    let name = MsgNumber(number).name().unwrap_or("CHANNEL").to_owned();
    let fields = (|| -> Result<Fields, WireError> {
        if number == 90 {
            return Ok(vec![
                ("type", text(r.string()?)),
                ("sender", json!(r.u32()?)),
                ("window", json!(r.u32()?)),
                ("max_packet", json!(r.u32()?)),
            ]);
        }
        let mut f = vec![("recipient", json!(r.u32()?))];
        match number {
            91 => {
                f.push(("sender", json!(r.u32()?)));
                f.push(("window", json!(r.u32()?)));
                f.push(("max_packet", json!(r.u32()?)));
            }
            92 => {
                let reason = ChannelOpenFailureReason(r.u32()?);
                f.push(("reason", json!(format!("{reason:?}"))));
                f.push(("description", text(r.string()?)));
            }
            93 => f.push(("bytes", json!(r.u32()?))),
            94 => f.push(("length", json!(r.string()?.len()))),
            95 => {
                f.push(("data_type", json!(r.u32()?)));
                f.push(("length", json!(r.string()?.len())));
            }
            98 => channel_request(r, &mut f)?,
            _ => {}
        }
        Ok(f)
    })();
    (name, fields)
}

fn channel_request(r: &mut Reader<'_>, f: &mut Fields) -> Result<(), WireError> {
    let kind = r.utf8()?;
    f.push(("request", json!(kind)));
    f.push(("want_reply", json!(r.bool()?)));
    match kind {
        "subsystem" => f.push(("subsystem", text(r.string()?))),
        "exec" => f.push(("command", text(r.string()?))),
        "env" => f.push(("name", text(r.string()?))),
        "pty-req" => f.push(("term", text(r.string()?))),
        "exit-status" => f.push(("status", json!(r.u32()?))),
        "exit-signal" => f.push(("signal", text(r.string()?))),
        _ => {}
    }
    Ok(())
}
