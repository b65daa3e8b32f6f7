//! ssh-agent: codec round trips and malformed frames, then a real OpenSSH `ssh-agent` started by
//! the test: keys added with `ssh-add` and through the client, listed, signed with (RSA with
//! rsa-sha2-256 and rsa-sha2-512) and verified, removed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nacre_keys::agent::codec::{
    encode_frame, frame_len, split_frame, AddIdentity, AgentMsg, Extension, Failure,
    IdentitiesAnswer, Identity, RemoveAllIdentities, RemoveIdentity, Request, RequestIdentities,
    Response, SignRequest, SignResponse, Success, MAX_MESSAGE_LEN, SSH_AGENT_RSA_SHA2_256,
    SSH_AGENT_RSA_SHA2_512,
};
use nacre_keys::agent::{AgentClient, AgentError};
use nacre_keys::{KeyError, KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_wire::{decode_exact, Decode, Encode, Reader, WireError};
use rand_core::OsRng;

/// Encodes a message, checks `encoded_len`, decodes it back and checks equality; then checks
/// that no strict prefix or one-byte extension decodes to the same message.
macro_rules! round_trip {
    ($ty:ident, $msg:expr) => {{
        let msg = $msg;
        let bytes = msg.to_bytes();
        assert_eq!(bytes.len(), msg.encoded_len(), "{msg:?}");
        let back: $ty = decode_exact(&bytes).unwrap();
        assert_eq!(back, msg);
        for cut in 0..bytes.len() {
            // Messages that end in "the rest of the bytes" decode from some prefixes, differently.
            if let Ok(v) = decode_exact::<$ty>(&bytes[..cut]) {
                assert_ne!(v, msg, "prefix {cut} of {msg:?}");
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        if let Ok(v) = decode_exact::<$ty>(&longer) {
            assert_ne!(v, msg);
        }
    }};
}

#[test]
fn codec_round_trips() {
    let key = PrivateKey::generate_ed25519(&mut OsRng);
    let blob = key.public_key().to_blob();
    round_trip!(RequestIdentities, RequestIdentities);
    round_trip!(Failure, Failure);
    round_trip!(Success, Success);
    round_trip!(RemoveAllIdentities, RemoveAllIdentities);
    round_trip!(IdentitiesAnswer, IdentitiesAnswer { identities: vec![] });
    round_trip!(
        IdentitiesAnswer,
        IdentitiesAnswer {
            identities: vec![
                Identity {
                    key_blob: &blob,
                    comment: b"first",
                },
                Identity {
                    key_blob: b"not a key",
                    comment: b"",
                },
            ],
        }
    );
    for flags in [0, SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512, u32::MAX] {
        round_trip!(
            SignRequest,
            SignRequest {
                key_blob: &blob,
                data: b"session id and request",
                flags,
            }
        );
    }
    let sig = key.sign(SignatureAlgorithm::Ed25519, b"x").unwrap();
    round_trip!(SignResponse, SignResponse { signature: &sig });
    round_trip!(RemoveIdentity, RemoveIdentity { key_blob: &blob });
    round_trip!(
        Extension,
        Extension {
            name: "query",
            contents: b"",
        }
    );
    round_trip!(
        Extension,
        Extension {
            name: "session-bind@openssh.com",
            contents: b"\0\0\0\x01abc",
        }
    );

    // ADD_IDENTITY for each key type; the fields are the same as openssh-key-v1's private
    // section, so the real agent test below proves them right.
    let mut fields = Vec::new();
    nacre_wire::put::string(&mut fields, &[1; 32]);
    nacre_wire::put::string(&mut fields, &[2; 64]);
    let add = AddIdentity {
        key_type: "ssh-ed25519",
        key_fields: &fields,
        comment: b"c",
        constraints: None,
    };
    round_trip!(AddIdentity, add);
    assert_eq!(add.to_bytes()[0], AgentMsg::ADD_IDENTITY.0);
    let constrained = AddIdentity {
        constraints: Some(b"\x01\0\0\0\x3c"),
        ..add
    };
    assert_eq!(constrained.to_bytes()[0], AgentMsg::ADD_ID_CONSTRAINED.0);
    let constrained_bytes = constrained.to_bytes();
    let back: AddIdentity = decode_exact(&constrained_bytes).unwrap();
    assert_eq!(back, constrained);
    assert!(
        !format!("{add:?}").contains("2, 2"),
        "Debug must hide key fields"
    );

    let mut ecdsa = Vec::new();
    nacre_wire::put::string(&mut ecdsa, b"nistp256");
    nacre_wire::put::string(&mut ecdsa, &[4; 65]);
    nacre_wire::put::mpint_unsigned(&mut ecdsa, &[9; 32]);
    round_trip!(
        AddIdentity,
        AddIdentity {
            key_type: "ecdsa-sha2-nistp256",
            key_fields: &ecdsa,
            comment: b"",
            constraints: None,
        }
    );
    let mut rsa = Vec::new();
    for v in [
        &[0xc1u8; 256][..],
        &[1, 0, 1],
        &[7; 256],
        &[3; 128],
        &[5; 128],
        &[6; 128],
    ] {
        nacre_wire::put::mpint_unsigned(&mut rsa, v);
    }
    round_trip!(
        AddIdentity,
        AddIdentity {
            key_type: "ssh-rsa",
            key_fields: &rsa,
            comment: b"rsa",
            constraints: None,
        }
    );
}

#[test]
fn requests_and_responses() {
    let blob = PrivateKey::generate_ed25519(&mut OsRng)
        .public_key()
        .to_blob();
    let sign = SignRequest {
        key_blob: &blob,
        data: b"d",
        flags: 4,
    };
    assert_eq!(
        Request::decode_message(&sign.to_bytes()).unwrap(),
        Request::Sign(sign)
    );
    assert_eq!(
        Request::decode_message(&[11]).unwrap(),
        Request::RequestIdentities
    );
    assert_eq!(
        Request::decode_message(&[19]).unwrap(),
        Request::RemoveAllIdentities
    );
    assert_eq!(
        Request::decode_message(&[22, 0, 0, 0, 0]).unwrap(),
        Request::Other(AgentMsg::LOCK, &[0, 0, 0, 0])
    );
    assert!(Request::decode_message(&[11, 0]).is_err());
    assert!(Request::decode_message(&[]).is_err());

    assert_eq!(Response::decode_message(&[6]).unwrap(), Response::Success);
    // Extension replies may carry contents after SUCCESS.
    assert_eq!(
        Response::decode_message(&[6, 1, 2]).unwrap(),
        Response::Success
    );
    assert_eq!(Response::decode_message(&[5]).unwrap(), Response::Failure);
    assert_eq!(
        Response::decode_message(&[5, 0]),
        Err(WireError::TrailingData { len: 1 })
    );
    assert_eq!(
        Response::decode_message(&[28]).unwrap(),
        Response::ExtensionFailure
    );
    assert_eq!(
        Response::decode_message(&[99, 1]).unwrap(),
        Response::Other(AgentMsg(99), &[1])
    );
    assert_eq!(format!("{:?}", AgentMsg(99)), "AgentMsg(99)");
    assert_eq!(format!("{:?}", AgentMsg::SIGN_REQUEST), "SIGN_REQUEST");
}

#[test]
fn malformed_messages() {
    // nkeys far beyond what the bytes could hold: refused before allocating.
    let mut huge = vec![12];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(&[0; 16]);
    assert!(matches!(
        decode_exact::<IdentitiesAnswer>(&huge),
        Err(WireError::TooLong {
            what: "agent nkeys",
            ..
        })
    ));
    // A string length beyond the message.
    let bad_sign = [13, 0, 0, 0, 200, 1, 2, 3];
    assert!(matches!(
        decode_exact::<SignRequest>(&bad_sign),
        Err(WireError::Truncated { .. })
    ));
    // Wrong message number.
    assert_eq!(
        decode_exact::<SignResponse>(&[13, 0, 0, 0, 0]),
        Err(WireError::UnexpectedMessage {
            expected: 14,
            found: 13
        })
    );
    // ADD_IDENTITY of a type whose fields cannot be delimited.
    let mut unknown = vec![17];
    nacre_wire::put::string(&mut unknown, b"ssh-ed25519-cert-v01@openssh.com");
    unknown.extend_from_slice(&[0; 40]);
    assert_eq!(
        decode_exact::<AddIdentity>(&unknown),
        Err(WireError::InvalidValue("key type of ADD_IDENTITY"))
    );
    // Random bytes never panic, for every message type.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 48) as usize;
        let mut bytes: Vec<u8> = (0..len)
            .map(|i| (seed.rotate_left(i as u32 * 7) & 0xff) as u8)
            .collect();
        if let Some(b) = bytes.first_mut() {
            *b = [5, 6, 11, 12, 13, 14, 17, 18, 19, 25, 27, 28][(seed >> 40) as usize % 12];
        }
        let _ = Request::decode_message(&bytes);
        let _ = Response::decode_message(&bytes);
        let _ = AddIdentity::decode(&mut Reader::new(&bytes));
    }
}

#[test]
fn frames() {
    let mut out = Vec::new();
    encode_frame(&RequestIdentities, &mut out);
    assert_eq!(out, [0, 0, 0, 1, 11]);
    encode_frame(&Success, &mut out);
    let (first, rest) = split_frame(&out).unwrap().unwrap();
    assert_eq!(first, [11]);
    let (second, rest) = split_frame(rest).unwrap().unwrap();
    assert_eq!(second, [6]);
    assert!(rest.is_empty());
    // Incomplete headers and bodies need more bytes.
    for cut in 0..5 {
        assert_eq!(split_frame(&out[..cut]).unwrap(), None, "cut {cut}");
    }
    // Empty and oversized frames are refused from the header alone.
    assert_eq!(
        frame_len([0, 0, 0, 0]),
        Err(WireError::InvalidValue("empty agent message"))
    );
    assert_eq!(
        frame_len((MAX_MESSAGE_LEN as u32).to_be_bytes()),
        Ok(MAX_MESSAGE_LEN)
    );
    assert_eq!(
        split_frame(&((MAX_MESSAGE_LEN + 1) as u32).to_be_bytes()),
        Err(WireError::TooLong {
            what: "agent message",
            len: MAX_MESSAGE_LEN + 1,
            max: MAX_MESSAGE_LEN
        })
    );
    assert!(split_frame(&[0xff, 0xff, 0xff, 0xff]).is_err());
}

/// A scripted fake agent on a socket pair: the client refuses oversized replies, replies of
/// the wrong kind, and signatures made with another algorithm than asked.
#[test]
fn client_against_misbehaving_agent() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn serve(replies: Vec<Vec<u8>>) -> (AgentClient, std::thread::JoinHandle<()>) {
        let (a, mut b) = UnixStream::pair().unwrap();
        let handle = std::thread::spawn(move || {
            for reply in replies {
                let mut header = [0u8; 4];
                if b.read_exact(&mut header).is_err() {
                    return;
                }
                let mut body = vec![0; u32::from_be_bytes(header) as usize];
                b.read_exact(&mut body).unwrap();
                b.write_all(&reply).unwrap();
            }
        });
        let client = AgentClient::from_stream(a);
        client.set_timeout(Some(Duration::from_secs(10))).unwrap();
        (client, handle)
    }

    let key = PrivateKey::generate_ed25519(&mut OsRng);
    let public = key.public_key();
    let framed = |msg: &dyn Fn(&mut Vec<u8>)| {
        let mut body = Vec::new();
        msg(&mut body);
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    };
    let sig = key.sign(SignatureAlgorithm::Ed25519, b"data").unwrap();
    let good = framed(&|o| SignResponse { signature: &sig }.encode(o));
    let other_alg = nacre_keys::encode_signature_blob(SignatureAlgorithm::EcdsaNistP256, b"x");
    let wrong_alg = framed(&|o| {
        SignResponse {
            signature: &other_alg,
        }
        .encode(o)
    });
    let (mut client, h) = serve(vec![
        good,
        wrong_alg,
        vec![0, 0, 0, 1, 5],
        vec![0, 0, 0, 1, 6],
        vec![0xff, 0xff, 0xff, 0xff],
    ]);
    let blob = client
        .sign(&public, b"data", SignatureAlgorithm::Ed25519)
        .unwrap();
    public
        .verify(SignatureAlgorithm::Ed25519, b"data", &blob)
        .unwrap();
    assert!(matches!(
        client.sign(&public, b"data", SignatureAlgorithm::Ed25519),
        Err(AgentError::Key(KeyError::SignatureAlgorithmMismatch { .. }))
    ));
    assert!(matches!(
        client.sign(&public, b"data", SignatureAlgorithm::Ed25519),
        Err(AgentError::Refused)
    ));
    assert!(matches!(
        client.identities(),
        Err(AgentError::UnexpectedReply(AgentMsg::SUCCESS))
    ));
    assert!(matches!(
        client.identities(),
        Err(AgentError::Wire(WireError::TooLong { .. }))
    ));
    // An algorithm the key cannot make is refused before anything is sent.
    assert!(matches!(
        client.sign(&public, b"data", SignatureAlgorithm::RsaSha256),
        Err(AgentError::Key(KeyError::IncompatibleAlgorithm { .. }))
    ));
    drop(client);
    h.join().unwrap();

    // A request over the message limit is refused locally.
    let (mut client, h) = serve(vec![]);
    let big = vec![0u8; MAX_MESSAGE_LEN];
    assert!(matches!(
        client.sign(&public, &big, SignatureAlgorithm::Ed25519),
        Err(AgentError::RequestTooLong(_))
    ));
    drop(client);
    h.join().unwrap();

    // A silent agent times out instead of hanging.
    let (a, _b) = UnixStream::pair().unwrap();
    let mut client = AgentClient::from_stream(a);
    client
        .set_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    assert!(matches!(client.identities(), Err(AgentError::Io(_))));
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// An `ssh-agent -D -a SOCK` child, killed (by its own PID) when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Option<Self> {
        let socket = dir.join("agent.sock");
        let child = match Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ssh-agent not available ({e}): skipping the OpenSSH agent test");
                return None;
            }
        };
        let agent = Self { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !agent.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "ssh-agent did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(agent)
    }

    fn ssh_add(&self, args: &[&std::ffi::OsStr]) {
        let out = Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-add {args:?}: {out:?}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, PublicKey) {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, PublicKey::from_openssh_line(&line).unwrap().0)
}

fn sign_and_verify(client: &mut AgentClient, key: &PublicKey, alg: SignatureAlgorithm) {
    let data = format!("data signed with {alg}").into_bytes();
    let blob = client.sign(key, &data, alg).unwrap();
    key.verify(alg, &data, &blob)
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
    assert!(key.verify(alg, b"other data", &blob).is_err());
}

#[test]
fn openssh_agent() {
    let dir = tempfile::tempdir().unwrap();
    let Some(agent) = Agent::start(dir.path()) else {
        return;
    };
    let mut client = AgentClient::connect(&agent.socket).unwrap();
    assert!(client.identities().unwrap().is_empty());

    // Keys added with ssh-add.
    let (ed_path, ed) = keygen(dir.path(), "ed25519", &["-t", "ed25519"]);
    let (ec_path, ec) = keygen(dir.path(), "ecdsa", &["-t", "ecdsa", "-b", "256"]);
    let (rsa_path, rsa) = keygen(dir.path(), "rsa", &["-t", "rsa", "-b", "3072"]);
    agent.ssh_add(&[
        ed_path.as_os_str(),
        ec_path.as_os_str(),
        rsa_path.as_os_str(),
    ]);

    let ids = client.identities().unwrap();
    assert_eq!(
        ids,
        vec![
            (ed.clone(), "ed25519".to_owned()),
            (ec.clone(), "ecdsa".to_owned()),
            (rsa.clone(), "rsa".to_owned()),
        ]
    );
    assert_eq!(client.identity_blobs().unwrap().len(), 3);
    sign_and_verify(&mut client, &ed, SignatureAlgorithm::Ed25519);
    sign_and_verify(&mut client, &ec, SignatureAlgorithm::EcdsaNistP256);
    sign_and_verify(&mut client, &rsa, SignatureAlgorithm::RsaSha256);
    sign_and_verify(&mut client, &rsa, SignatureAlgorithm::RsaSha512);
    sign_and_verify(&mut client, &rsa, SignatureAlgorithm::SshRsa);

    // A key the agent does not hold.
    let stranger = PrivateKey::generate_ed25519(&mut OsRng).public_key();
    assert!(matches!(
        client.sign(&stranger, b"x", SignatureAlgorithm::Ed25519),
        Err(AgentError::Refused)
    ));
    assert!(matches!(
        client.remove_identity(&stranger),
        Err(AgentError::Refused)
    ));

    // The agent named by SSH_AUTH_SOCK (this is the only test that touches the variable).
    std::env::set_var("SSH_AUTH_SOCK", &agent.socket);
    let mut from_env = AgentClient::from_env().unwrap();
    assert_eq!(from_env.identities().unwrap().len(), 3);
    std::env::remove_var("SSH_AUTH_SOCK");
    assert!(matches!(AgentClient::from_env(), Err(AgentError::NoAgent)));

    // Removal.
    client.remove_identity(&ec).unwrap();
    let keys: Vec<PublicKey> = client
        .identities()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![ed.clone(), rsa.clone()]);
    client.remove_all().unwrap();
    assert!(client.identities().unwrap().is_empty());

    // Keys added through the client: generated here, and ssh-keygen's RSA key read by nacre.
    let mut added = vec![
        PrivateKey::generate_ed25519(&mut OsRng),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut OsRng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut OsRng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut OsRng).unwrap(),
    ];
    added.push(PrivateKey::from_openssh(&std::fs::read(&rsa_path).unwrap()).unwrap());
    for (i, key) in added.iter().enumerate() {
        client.add_identity(key, &format!("nacre {i}")).unwrap();
    }
    let ids = client.identities().unwrap();
    assert_eq!(ids.len(), added.len());
    for (i, key) in added.iter().enumerate() {
        let public = key.public_key();
        assert!(
            ids.contains(&(public.clone(), format!("nacre {i}"))),
            "key {i}"
        );
        for &alg in public.key_type().signature_algorithms() {
            sign_and_verify(&mut client, &public, alg);
        }
    }
    // ssh-add -l agrees with what we added.
    let out = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &agent.socket)
        .output()
        .unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    for key in &added {
        assert!(
            listing.contains(&key.public_key().fingerprint_sha256()),
            "{listing}"
        );
    }

    // The agent's "query" extension, if supported, answers SUCCESS with a list.
    match client.extension("query", b"") {
        Ok(_) | Err(AgentError::Refused) | Err(AgentError::ExtensionRefused) => {}
        Err(e) => panic!("query: {e}"),
    }
    client.remove_all().unwrap();
    drop(agent);
}
