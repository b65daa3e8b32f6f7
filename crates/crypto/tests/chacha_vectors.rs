//! chacha20-poly1305@openssh.com known answers (ring's test file, in ../shared/vectors) through
//! `PacketKey`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_crypto::{CipherAlg, CryptoError, DirectionKeys, PacketKey, Zeroizing};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/chacha20-poly1305-openssh.txt"
);

struct Case {
    key: Vec<u8>,
    seq: u32,
    input: Vec<u8>,
    ct: Vec<u8>,
    tag: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(FILE).expect("shared vectors present");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut fields = std::collections::HashMap::new();
        for line in block.lines() {
            let line = line.trim_end_matches('\r');
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once(" = ").expect("key = value");
            fields.insert(k.to_string(), v.to_string());
        }
        if fields.is_empty() {
            continue;
        }
        let hex = |k: &str| hex::decode(&fields[k]).unwrap();
        out.push(Case {
            key: hex("KEY"),
            seq: fields["SEQUENCE_NUMBER"].parse().unwrap(),
            input: hex("IN"),
            ct: hex("CT"),
            tag: hex("TAG"),
        });
    }
    out
}

fn key(material: &[u8]) -> PacketKey {
    PacketKey::new(&DirectionKeys {
        cipher: CipherAlg::Chacha20Poly1305,
        mac: None,
        enc_key: Zeroizing::new(material.to_vec()),
        iv: Zeroizing::new(Vec::new()),
        mac_key: Zeroizing::new(Vec::new()),
    })
    .unwrap()
}

#[test]
fn all_47_known_answers() {
    let cases = cases();
    assert_eq!(cases.len(), 47);
    for (i, c) in cases.iter().enumerate() {
        // seal: IN -> CT || TAG
        let mut sealer = key(&c.key);
        assert_eq!(sealer.tag_len(), 16);
        let mut buf = c.input.clone();
        buf.resize(c.input.len() + 16, 0);
        sealer.seal(c.seq, &mut buf).unwrap();
        assert_eq!(&buf[..c.ct.len()], &c.ct[..], "case {i}: ciphertext");
        assert_eq!(&buf[c.ct.len()..], &c.tag[..], "case {i}: tag");

        // open: CT || TAG -> IN, length decrypted from the prefix first
        let mut opener = key(&c.key);
        let mut wire = [c.ct.clone(), c.tag.clone()].concat();
        assert_eq!(opener.length_prefix_len(), 4);
        let len = opener.decrypt_length(c.seq, &mut wire[..4]).unwrap();
        assert_eq!(&wire[..4], &c.ct[..4], "case {i}: prefix left encrypted");
        assert_eq!(len as usize + 4, c.input.len(), "case {i}: length");
        opener.open(c.seq, &mut wire).unwrap();
        assert_eq!(&wire[..c.input.len()], &c.input[..], "case {i}: plaintext");

        // every bit of every byte flipped in turn: the tag catches it
        for pos in 0..c.ct.len() + c.tag.len() {
            for bit in [0u8, 3, 7] {
                let mut bad = [c.ct.clone(), c.tag.clone()].concat();
                bad[pos] ^= 1 << bit;
                assert_eq!(
                    key(&c.key).open(c.seq, &mut bad),
                    Err(CryptoError::MacMismatch),
                    "case {i}: flip byte {pos} bit {bit}"
                );
            }
        }
        // a wrong sequence number fails too
        let mut wire = [c.ct.clone(), c.tag.clone()].concat();
        assert_eq!(
            key(&c.key).open(c.seq.wrapping_add(1), &mut wire),
            Err(CryptoError::MacMismatch)
        );
    }
}
