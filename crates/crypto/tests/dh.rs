//! Finite-field DH: RFC 3526 groups, public value checks, agreement, moduli files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_crypto::{
    builtin_group, check_dh_public, choose_group, parse_moduli, BigUint, CryptoError, DhGroup,
    DhPrivateKey, SeededRng,
};

/// floor(pi * 2^bits), by Machin's formula pi = 16 atan(1/5) - 4 atan(1/239).
fn pi_scaled(bits: u64) -> BigUint {
    let guard = 64;
    let one = BigUint::from(1u32) << (bits + guard);
    let atan_inv = |x: u32| {
        let x2 = BigUint::from(x * x);
        let mut term = &one / x;
        let (mut pos, mut neg) = (term.clone(), BigUint::default());
        let mut n = 1u32;
        while term > BigUint::default() {
            term /= &x2;
            let t = &term / (2 * n + 1);
            if n % 2 == 1 {
                neg += t
            } else {
                pos += t
            }
            n += 1;
        }
        pos - neg
    };
    let pi = atan_inv(5) * 16u32 - atan_inv(239) * 4u32;
    pi >> guard
}

#[test]
fn rfc3526_groups_match_their_definition() {
    // p = 2^N - 2^(N-64) - 1 + 2^64 * ( floor(2^(N-130) pi) + k ), RFC 3526 §3..§7.
    let pi = pi_scaled(8192 - 130);
    let one = || BigUint::from(1u32);
    for (group, n, k) in [
        (DhGroup::group14(), 2048u64, 124_476u32),
        (DhGroup::group15(), 3072, 1_690_314),
        (DhGroup::group16(), 4096, 240_904),
        (DhGroup::group17(), 6144, 929_484),
        (DhGroup::group18(), 8192, 4_743_158),
    ] {
        let frac = &pi >> (8192 - n);
        let p = (one() << n) - (one() << (n - 64)) - one() + ((frac + k) << 64u32);
        assert_eq!(group.p, p, "{n}-bit group");
        assert_eq!(group.bits(), n as usize);
        assert_eq!(group.g, BigUint::from(2u32));
        // and it is accepted as a peer's group
        assert_eq!(
            DhGroup::from_be_bytes(&p.to_bytes_be(), &[2]).unwrap(),
            group
        );
    }
}

#[test]
fn peer_values_outside_2_to_p_minus_2_are_refused() {
    let g = DhGroup::group14();
    let me = DhPrivateKey::generate(&g, &mut SeededRng::new(9), 512);
    let p = g.p.clone();
    let one = BigUint::from(1u32);
    for bad in [
        BigUint::default(),
        one.clone(),
        &p - &one,
        p.clone(),
        &p + &one,
    ] {
        assert!(matches!(
            check_dh_public(&g, &bad),
            Err(CryptoError::InvalidPublicKey(_))
        ));
        assert!(matches!(
            me.agree(&bad),
            Err(CryptoError::InvalidPublicKey(_))
        ));
    }
    check_dh_public(&g, &BigUint::from(2u32)).unwrap();
    check_dh_public(&g, &(&p - 2u32)).unwrap();
}

#[test]
fn generated_keys_agree() {
    let mut rng = SeededRng::new(5);
    for g in [DhGroup::group14(), DhGroup::group16()] {
        let a = DhPrivateKey::generate(&g, &mut rng, 512);
        let b = DhPrivateKey::generate(&g, &mut rng, 512);
        let (ea, eb) = (a.public_key(), b.public_key());
        check_dh_public(&g, &ea).unwrap();
        assert_ne!(ea, eb);
        let (ka, kb) = (a.agree(&eb).unwrap(), b.agree(&ea).unwrap());
        assert_eq!(ka.as_bytes(), kb.as_bytes());
        assert!(ka.as_bytes().len() > g.bits() / 8 - 8);
    }
    // a known exponent: g^x mod p by hand
    let g = DhGroup::group14();
    let k = DhPrivateKey::from_exponent(&g, &[0x01, 0x00]);
    assert_eq!(
        k.public_key(),
        BigUint::from(2u32).modpow(&BigUint::from(256u32), &g.p)
    );
    assert_eq!(k.public_key(), BigUint::from(1u32) << 256u32);
    assert!(!format!("{k:?}").contains("256"));
}

#[test]
fn short_exponents_have_the_requested_size() {
    let g = DhGroup::group14();
    let mut rng = SeededRng::new(11);
    // The exponent is not observable, but g^x for x < 2^bits is reproducible through
    // from_exponent with the same random bytes.
    for bits in [256usize, 300, 512, 4000] {
        let k = DhPrivateKey::generate(&g, &mut SeededRng::new(bits as u64), bits);
        let want_bits = bits.min(g.bits() - 1);
        let mut bytes = vec![0u8; want_bits.div_ceil(8)];
        nacre_crypto::Rng::fill(&mut SeededRng::new(bits as u64), &mut bytes);
        bytes[0] &= 0xff >> (bytes.len() * 8 - want_bits);
        assert_eq!(
            k.public_key(),
            DhPrivateKey::from_exponent(&g, &bytes).public_key(),
            "{bits}"
        );
    }
    // too-small requests are raised to 256 bits
    let _ = DhPrivateKey::generate(&g, &mut rng, 1).public_key();
}

#[test]
fn peer_groups_are_validated() {
    let p14 = DhGroup::group14().p.to_bytes_be();
    DhGroup::from_be_bytes(&[&[0u8][..], &p14].concat(), &[0, 5]).unwrap();
    let even = {
        let mut e = p14.clone();
        *e.last_mut().unwrap() ^= 1;
        e
    };
    assert!(matches!(
        DhGroup::from_be_bytes(&even, &[2]),
        Err(CryptoError::InvalidGroup(_))
    ));
    assert!(matches!(
        DhGroup::from_be_bytes(&p14[..100], &[2]),
        Err(CryptoError::InvalidGroup(_))
    ));
    assert!(matches!(
        DhGroup::from_be_bytes(&[0xff; 1025], &[2]),
        Err(CryptoError::InvalidGroup(_))
    ));
    for g in [vec![], vec![1], (DhGroup::group14().p - 1u32).to_bytes_be()] {
        assert!(matches!(
            DhGroup::from_be_bytes(&p14, &g),
            Err(CryptoError::InvalidGroup(_))
        ));
    }
}

fn moduli_line(ts: &str, kind: u32, tests: u32, size_field: usize, g: &str, p: &BigUint) -> String {
    format!(
        "{ts} {kind} {tests} 100 {size_field} {g} {}\n",
        p.to_str_radix(16).to_uppercase()
    )
}

#[test]
fn moduli_file_parsing_and_choice() {
    let (g14, g15, g16, g18) = (
        DhGroup::group14(),
        DhGroup::group15(),
        DhGroup::group16(),
        DhGroup::group18(),
    );
    let mut text = String::from(
        "#    $OpenBSD: moduli,v 1.0 $\n# Time Type Tests Tries Size Generator Modulus\n\n",
    );
    text += &moduli_line("20240101000000", 2, 6, 2047, "2", &g14.p);
    text += &moduli_line("20240101000001", 2, 6, 3071, "5", &g15.p);
    text += &moduli_line("20240101000002", 2, 6, 4095, "2", &g16.p);
    text += &moduli_line("20240101000003", 2, 6, 8191, "2", &g18.p);
    // skipped: wrong type, composite flag, no Miller-Rabin, size mismatch, bad hex, short line
    text += &moduli_line("20240101000004", 1, 6, 2047, "2", &g14.p);
    text += &moduli_line("20240101000005", 2, 7, 2047, "2", &g14.p);
    text += &moduli_line("20240101000006", 2, 2, 2047, "2", &g14.p);
    text += &moduli_line("20240101000007", 2, 6, 2048, "2", &g14.p);
    text += "20240101000008 2 6 100 2047 2 FFFFZZ\n";
    text += "20240101000009 2 6 100 2047 2\n";
    text += "garbage\n";
    let entries = parse_moduli(&text);
    let bits: Vec<usize> = entries.iter().map(|e| e.bits).collect();
    assert_eq!(bits, [2048, 3072, 4096, 8192]);
    assert_eq!(entries[1].group.g, BigUint::from(5u32));
    assert_eq!(entries[0].group, g14);

    let pick = |min, n, max| choose_group(&entries, min, n, max).map(|g| g.bits());
    assert_eq!(pick(2048, 2048, 8192), Some(2048));
    assert_eq!(pick(2048, 3000, 8192), Some(3072));
    assert_eq!(pick(2048, 5000, 8192), Some(8192));
    assert_eq!(
        pick(2048, 5000, 6144),
        Some(4096),
        "largest below n when nothing above fits"
    );
    assert_eq!(pick(1024, 8192, 8192), Some(8192));
    assert_eq!(pick(5000, 6000, 7000), None);
    assert_eq!(choose_group(&[], 1024, 2048, 8192), None);
}

#[test]
fn builtin_groups_choice() {
    let pick = |min, n, max| builtin_group(min, n, max).map(|g| g.bits());
    assert_eq!(pick(2048, 2048, 8192), Some(2048));
    assert_eq!(pick(1024, 3000, 8192), Some(3072));
    assert_eq!(pick(2048, 7000, 8192), Some(8192));
    assert_eq!(pick(2048, 8192, 6144), Some(6144));
    assert_eq!(pick(1024, 1024, 2047), None);
    assert_eq!(pick(3000, 5000, 4096), Some(4096));
    assert_eq!(builtin_group(2048, 4096, 8192), Some(DhGroup::group16()));
}
