//! Channels of one connection, followed by number on both sides, and the SFTP packets (decoded
//! with nacre-sftp-codec) carried by the channels that started the `sftp` subsystem.

use nacre_sftp_codec::{FileAttributes, Frame, FrameDecoder, PacketType, Request, Response};
use nacre_wire::Reader;
use serde_json::{json, Value};

use super::kex::C2S;
use super::keylog::hex;
use super::render::{Fields, Item};

/// One channel: each side's number for it, and SFTP decoders when it runs SFTP.
struct Channel {
    /// The client's and the server's channel numbers.
    ids: [Option<u32>; 2],
    /// Per direction, once the `sftp` subsystem was requested.
    sftp: Option<[FrameDecoder; 2]>,
    /// The channel number the client uses for it (for the SFTP items).
    number: u32,
}

/// The channels of a connection.
#[derive(Default)]
pub struct Channels {
    list: Vec<Channel>,
}

impl Channels {
    /// The latest channel whose number on the receiving side of a message from `dir` is `id`.
    fn find(&mut self, dir: usize, id: u32) -> Option<&mut Channel> {
        let receiver = 1 - dir.min(1);
        self.list
            .iter_mut()
            .rev()
            .find(|c| c.ids.get(receiver).copied().flatten() == Some(id))
    }

    /// Updates the table from a channel message (numbers 90–100) sent in direction `dir`;
    /// returns the SFTP packets its data completed. `body` is the payload after its number.
    pub fn observe(&mut self, dir: usize, number: u8, body: &[u8]) -> Vec<Item> {
        let mut r = Reader::new(body);
        match number {
            90 => {
                if let (Ok(_), Ok(sender)) = (r.string(), r.u32()) {
                    let mut ids = [None, None];
                    if let Some(slot) = ids.get_mut(dir) {
                        *slot = Some(sender);
                    }
                    self.list.push(Channel {
                        ids,
                        sftp: None,
                        number: sender,
                    });
                }
            }
            91 => {
                if let (Ok(recipient), Ok(sender)) = (r.u32(), r.u32()) {
                    if let Some(c) = self.find(dir, recipient) {
                        if let Some(slot) = c.ids.get_mut(dir) {
                            *slot = Some(sender);
                        }
                        if dir == C2S {
                            c.number = sender;
                        }
                    }
                }
            }
            98 => self.subsystem(dir, &mut r),
            94 => return self.data(dir, &mut r),
            _ => {}
        }
        Vec::new()
    }

    fn subsystem(&mut self, dir: usize, r: &mut Reader<'_>) {
        let (Ok(recipient), Ok(kind), Ok(_), Ok(name)) =
            (r.u32(), r.string(), r.bool(), r.string())
        else {
            return;
        };
        if kind == b"subsystem" && name == b"sftp" {
            if let Some(c) = self.find(dir, recipient) {
                c.sftp = Some([FrameDecoder::new(), FrameDecoder::new()]);
            }
        }
    }

    fn data(&mut self, dir: usize, r: &mut Reader<'_>) -> Vec<Item> {
        let (Ok(recipient), Ok(data)) = (r.u32(), r.string()) else {
            return Vec::new();
        };
        let Some(c) = self.find(dir, recipient) else {
            return Vec::new();
        };
        let number = c.number;
        let Some(dec) = c.sftp.as_mut().and_then(|d| d.get_mut(dir)) else {
            return Vec::new();
        };
        let mut items = Vec::new();
        if let Err(e) = dec.push(data) {
            items.push(error_item(number, &e.to_string()));
            return items;
        }
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => items.push(sftp_item(number, dir, &frame)),
                Ok(None) => break,
                Err(e) => {
                    items.push(error_item(number, &e.to_string()));
                    break;
                }
            }
        }
        items
    }
}

fn error_item(channel: u32, error: &str) -> Item {
    Item {
        name: "SFTP_ERROR".into(),
        fields: vec![("channel", json!(channel)), ("decode_error", json!(error))],
    }
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn sftp_item(channel: u32, dir: usize, frame: &Frame<'_>) -> Item {
    let name = format!("SFTP_{:?}", frame.packet_type());
    let mut fields = vec![("channel", json!(channel))];
    if let Some(id) = frame.request_id() {
        fields.push(("id", json!(id)));
    }
    if frame.packet_type() == PacketType::EXTENDED {
        let mut r = Reader::new(frame.body().get(4..).unwrap_or_default());
        if let Ok(name) = r.string() {
            fields.push(("request", text(name)));
        }
    }
    let more = if dir == C2S {
        frame.decode_request().map(|r| request_fields(&r))
    } else {
        frame.decode_response().map(|r| response_fields(&r))
    };
    match more {
        Ok(more) => fields.extend(more),
        Err(e) => fields.push(("decode_error", json!(e.to_string()))),
    }
    Item { name, fields }
}

fn attrs(a: &FileAttributes<'_>) -> Value {
    json!({
        "size": a.size,
        "permissions": a.permissions.map(|p| format!("{p:o}")),
    })
}

fn request_fields(req: &Request<'_>) -> Fields {
    match req {
        Request::Init(i) => vec![("version", json!(i.version))],
        Request::Open(o) => vec![
            ("filename", text(o.filename)),
            ("pflags", json!(format!("{:#x}", o.pflags.0))),
            ("attrs", attrs(&o.attrs)),
        ],
        Request::Close(c) => vec![("handle", json!(hex(c.handle)))],
        Request::Read(r) => vec![
            ("handle", json!(hex(r.handle))),
            ("offset", json!(r.offset)),
            ("len", json!(r.len)),
        ],
        Request::Write(w) => vec![
            ("handle", json!(hex(w.handle))),
            ("offset", json!(w.offset)),
            ("length", json!(w.data.len())),
        ],
        Request::Fstat(f) => vec![("handle", json!(hex(f.handle)))],
        Request::Fsetstat(f) => vec![("handle", json!(hex(f.handle))), ("attrs", attrs(&f.attrs))],
        Request::Opendir(o) => vec![("path", text(o.path))],
        Request::Readdir(r) => vec![("handle", json!(hex(r.handle)))],
        Request::Remove(r) => vec![("filename", text(r.filename))],
        Request::Mkdir(m) => vec![("path", text(m.path))],
        Request::Rmdir(m) => vec![("path", text(m.path))],
        Request::Realpath(p) => vec![("path", text(p.path))],
        Request::Stat(p) => vec![("path", text(p.path))],
        Request::Lstat(p) => vec![("path", text(p.path))],
        Request::Setstat(p) => vec![("path", text(p.path)), ("attrs", attrs(&p.attrs))],
        Request::Rename(p) => vec![("oldpath", text(p.oldpath)), ("newpath", text(p.newpath))],
        _ => Vec::new(),
    }
}

fn response_fields(resp: &Response<'_>) -> Fields {
    match resp {
        Response::Version(v) => vec![
            ("version", json!(v.version)),
            (
                "extensions",
                json!(v
                    .extensions
                    .iter()
                    .map(|e| String::from_utf8_lossy(e.name).into_owned())
                    .collect::<Vec<_>>()),
            ),
        ],
        Response::Status(s) => vec![
            ("code", json!(format!("{:?}", s.code))),
            ("message", json!(s.message)),
        ],
        Response::Handle(h) => vec![("handle", json!(hex(h.handle)))],
        Response::Data(d) => vec![("length", json!(d.data.len()))],
        Response::Name(n) => vec![
            ("count", json!(n.entries.len())),
            (
                "names",
                json!(n
                    .entries
                    .iter()
                    .map(|e| String::from_utf8_lossy(e.filename).into_owned())
                    .collect::<Vec<_>>()),
            ),
        ],
        Response::Attrs(a) => vec![("attrs", attrs(&a.attrs))],
        Response::ExtendedReply(e) => vec![("length", json!(e.data.len()))],
        Response::Unknown(_) => Vec::new(),
    }
}
