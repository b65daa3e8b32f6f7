"""Streamlined NTRU Prime 761 (sntrup761) in plain Python, for scripts/gen-vectors.

Written for nacre from the NTRU Prime round-3 specification ("NTRU Prime: round 3", 2020-10-07, §3 and
the reference implementation's algorithm description), not from any Rust code: it is the independent side of
nacre's sntrup761x25519-sha512 known answers. It favours clarity over speed and is NOT constant time: use it
for test vectors only.

    p = 761, q = 4591, w = 286
    R  = Z[x]/(x^p - x - 1), R/3 and R/q its quotients
    KeyGen:  g small and invertible in R/3, f short (weight w); h = g / (3f) in R/q
             pk = Rq_encode(h)
             sk = Small_encode(f) || Small_encode(1/g in R/3) || pk || rho || Hash_prefix(4, pk)
    Encap:   r short; c0 = Round(h r); C = Rounded_encode(c0) || HashConfirm(r_enc, cache)
             K = Hash_prefix(1, Hash_prefix(3, r_enc) || C)
    Decap:   e = 3 f c0 in R/q, lifted to R/3; r' = e / g in R/3 (w ones if r' has the wrong weight);
             re-encrypt and compare: K = Hash_prefix(1, ...) if equal, else Hash_prefix(0, Hash_prefix(3, rho) || C)
    Hash_prefix(b, s) = first 32 bytes of SHA-512(b || s)

Randomness is passed in (`urandom32`: a callable giving uint32 values; `randombytes`: n -> bytes), so the
generator can derive everything from a fixed seed.
"""

import hashlib

P = 761
Q = 4591
W = 286
Q12 = (Q - 1) // 2

SMALL_BYTES = (P + 3) // 4  # 191
RQ_BYTES = 1158
ROUNDED_BYTES = 1007
HASH_BYTES = 32
PUBLICKEY_BYTES = RQ_BYTES
SECRETKEY_BYTES = 2 * SMALL_BYTES + PUBLICKEY_BYTES + SMALL_BYTES + HASH_BYTES  # 1763
CIPHERTEXT_BYTES = ROUNDED_BYTES + HASH_BYTES  # 1039


# ----------------------------------------------------------------------------------------------------------
# Arithmetic
# ----------------------------------------------------------------------------------------------------------

def centered(x: int, m: int) -> int:
    """x mod m in [-(m-1)/2, (m-1)/2] (m odd)."""
    x %= m
    return x - m if x > (m - 1) // 2 else x


def mult(a, b, m):
    """a * b in Z_m[x]/(x^p - x - 1), centered coefficients. Schoolbook product by Kronecker substitution."""
    shift = 48
    mask = (1 << shift) - 1
    ai = sum((x % m) << (shift * i) for i, x in enumerate(a))
    bi = sum((x % m) << (shift * i) for i, x in enumerate(b))
    prod_int = ai * bi
    prod = [(prod_int >> (shift * i)) & mask for i in range(2 * P - 1)]
    # x^p = x + 1
    for i in range(2 * P - 2, P - 1, -1):
        c = prod[i]
        prod[i - P] += c
        prod[i - P + 1] += c
    return [centered(x, m) for x in prod[:P]]


def _trim(a):
    while a and a[-1] == 0:
        a.pop()
    return a


def _poly_sub_scaled(a, b, c, shift, m):
    """a - c * x^shift * b over Z_m (lists, lowest degree first)."""
    out = a + [0] * max(0, len(b) + shift - len(a))
    for i, bi in enumerate(b):
        out[i + shift] = (out[i + shift] - c * bi) % m
    return _trim(out)


def reciprocal(a, m):
    """1/a in Z_m[x]/(x^p - x - 1) for prime m, centered; None if a is not invertible."""
    modulus = [m - 1, m - 1] + [0] * (P - 2) + [1]  # x^p - x - 1
    r0, r1 = modulus, _trim([x % m for x in a])
    s0, s1 = [], [1]  # s_i * a = r_i (mod x^p - x - 1)
    while r1:
        inv_lead = pow(r1[-1], m - 2, m)
        quot = [0] * max(0, len(r0) - len(r1) + 1)
        rem = list(r0)
        while len(rem) >= len(r1):
            c = rem[-1] * inv_lead % m
            shift = len(rem) - len(r1)
            quot[shift] = c
            rem = _poly_sub_scaled(rem, r1, c, shift, m)
        # s0 - quot * s1
        s_next = list(s0)
        for shift, c in enumerate(quot):
            if c:
                s_next = _poly_sub_scaled(s_next, s1, c, shift, m)
        r0, r1 = r1, rem
        s0, s1 = s1, s_next
    if len(r0) != 1:
        return None  # gcd is not a constant
    inv = pow(r0[0], m - 2, m)
    s0 = s0 + [0] * (P - len(s0))
    assert len(s0) == P
    result = [centered(x * inv, m) for x in s0]
    assert mult(result, a, m) == [1] + [0] * (P - 1)
    return result


def weight(a) -> int:
    return sum(1 for x in a if x != 0)


# ----------------------------------------------------------------------------------------------------------
# Encodings
# ----------------------------------------------------------------------------------------------------------

def encode(r, m) -> bytes:
    """The round-3 Encode: 0 <= r[i] < m[i] <= 16384, pairs merged until one value is left."""
    out = bytearray()
    if len(r) == 1:
        x, n = r[0], m[0]
        while n > 1:
            out.append(x & 0xFF)
            x >>= 8
            n = (n + 255) >> 8
        return bytes(out)
    r2, m2 = [], []
    for i in range(0, len(r) - 1, 2):
        m0 = m[i]
        x = r[i] + r[i + 1] * m0
        n = m[i + 1] * m0
        while n >= 16384:
            out.append(x & 0xFF)
            x >>= 8
            n = (n + 255) >> 8
        r2.append(x)
        m2.append(n)
    if len(r) % 2:
        r2.append(r[-1])
        m2.append(m[-1])
    return bytes(out) + encode(r2, m2)


def decode(s: bytes, m):
    """Inverse of encode (the round-3 Decode, including its reduction of out-of-range inputs)."""
    if len(m) == 1:
        if m[0] == 1:
            return [0]
        if m[0] <= 256:
            return [s[0] % m[0]]
        return [(s[0] + (s[1] << 8)) % m[0]]
    pos = 0
    bottom_r, bottom_t, m2 = [], [], []
    for i in range(0, len(m) - 1, 2):
        n = m[i] * m[i + 1]
        if n > 256 * 16383:
            bottom_t.append(256 * 256)
            bottom_r.append(s[pos] + 256 * s[pos + 1])
            pos += 2
            m2.append((((n + 255) >> 8) + 255) >> 8)
        elif n >= 16384:
            bottom_t.append(256)
            bottom_r.append(s[pos])
            pos += 1
            m2.append((n + 255) >> 8)
        else:
            bottom_t.append(1)
            bottom_r.append(0)
            m2.append(n)
    if len(m) % 2:
        m2.append(m[-1])
    r2 = decode(s[pos:], m2)
    out = []
    for i in range(0, len(m) - 1, 2):
        x = bottom_r[i // 2] + bottom_t[i // 2] * r2[i // 2]
        out.append(x % m[i])
        out.append((x // m[i]) % m[i + 1])
    if len(m) % 2:
        out.append(r2[-1])
    return out


def rq_encode(h) -> bytes:
    return encode([x + Q12 for x in h], [Q] * P)


def rq_decode(s: bytes):
    return [x - Q12 for x in decode(s, [Q] * P)]


def rounded_encode(c) -> bytes:
    return encode([((x + Q12) * 10923) >> 15 for x in c], [(Q + 2) // 3] * P)


def rounded_decode(s: bytes):
    return [x * 3 - Q12 for x in decode(s, [(Q + 2) // 3] * P)]


def small_encode(f) -> bytes:
    out = bytearray()
    for i in range(0, P - 1, 4):
        out.append((f[i] + 1) + ((f[i + 1] + 1) << 2) + ((f[i + 2] + 1) << 4) + ((f[i + 3] + 1) << 6))
    out.append(f[P - 1] + 1)
    return bytes(out)


def small_decode(s: bytes):
    f = []
    for byte in s[: P // 4]:
        for k in range(4):
            f.append(((byte >> (2 * k)) & 3) - 1)
    f.append((s[P // 4] & 3) - 1)
    return f


# ----------------------------------------------------------------------------------------------------------
# Random polynomials
# ----------------------------------------------------------------------------------------------------------

def small_random(urandom32):
    """Coefficients in {-1, 0, 1}: ((u & 0x3fffffff) * 3) >> 30, minus 1."""
    return [(((urandom32() & 0x3FFFFFFF) * 3) >> 30) - 1 for _ in range(P)]


def short_random(urandom32):
    """Weight w, coefficients in {-1, 0, 1}: w values with the low bits 0 or 2, the rest 1, sorted."""
    values = [urandom32() for _ in range(P)]
    items = [v & 0xFFFFFFFE for v in values[:W]] + [(v & 0xFFFFFFFD) | 1 for v in values[W:]]
    items.sort()
    out = [(v & 3) - 1 for v in items]
    assert weight(out) == W
    return out


# ----------------------------------------------------------------------------------------------------------
# The KEM
# ----------------------------------------------------------------------------------------------------------

def hash_prefix(b: int, s: bytes) -> bytes:
    return hashlib.sha512(bytes([b]) + s).digest()[:HASH_BYTES]


def keypair(urandom32, randombytes):
    """(pk, sk) as the reference implementation lays them out."""
    while True:
        g = small_random(urandom32)
        ginv = reciprocal(g, 3)
        if ginv is not None:
            break
    f = short_random(urandom32)
    finv3 = reciprocal([3 * x for x in f], Q)  # 1/(3f) in R/q: always exists for short f
    h = mult(finv3, g, Q)
    pk = rq_encode(h)
    assert rq_decode(pk) == h
    rho = randombytes(SMALL_BYTES)
    sk = small_encode(f) + small_encode(ginv) + pk + rho + hash_prefix(4, pk)
    assert len(pk) == PUBLICKEY_BYTES and len(sk) == SECRETKEY_BYTES
    return pk, sk


def _round(a):
    return [x - centered(x, 3) for x in a]


def _hide(r, pk: bytes, cache: bytes):
    h = rq_decode(pk)
    c0 = _round(mult(h, r, Q))
    r_enc = small_encode(r)
    c = rounded_encode(c0) + hash_prefix(2, hash_prefix(3, r_enc) + cache)
    return c, r_enc


def encapsulate(pk: bytes, urandom32):
    """(ciphertext, session key)."""
    r = short_random(urandom32)
    c, r_enc = _hide(r, pk, hash_prefix(4, pk))
    assert len(c) == CIPHERTEXT_BYTES
    return c, hash_prefix(1, hash_prefix(3, r_enc) + c)


def decapsulate(c: bytes, sk: bytes) -> bytes:
    f = small_decode(sk[:SMALL_BYTES])
    ginv = small_decode(sk[SMALL_BYTES:2 * SMALL_BYTES])
    pk = sk[2 * SMALL_BYTES:2 * SMALL_BYTES + PUBLICKEY_BYTES]
    rho = sk[2 * SMALL_BYTES + PUBLICKEY_BYTES:2 * SMALL_BYTES + PUBLICKEY_BYTES + SMALL_BYTES]
    cache = sk[2 * SMALL_BYTES + PUBLICKEY_BYTES + SMALL_BYTES:]
    c0 = rounded_decode(c[:ROUNDED_BYTES])
    cf3 = [centered(3 * x, Q) for x in mult(c0, f, Q)]
    e = [centered(x, 3) for x in cf3]
    ev = mult(e, ginv, 3)
    r = ev if weight(ev) == W else [1] * W + [0] * (P - W)
    cnew, r_enc = _hide(r, pk, cache)
    if cnew == c:
        return hash_prefix(1, hash_prefix(3, r_enc) + c)
    return hash_prefix(0, hash_prefix(3, rho) + c)


def self_test(urandom32, randombytes):
    """Round trips of the encodings and of the KEM, and implicit rejection of a changed ciphertext."""
    for values, m in (([0], [1]), ([200], [256]), ([4590, 1, 4000], [Q] * 3), ([1530] * 7, [1531] * 7)):
        assert decode(encode(values, m), m) == values
    pk, sk = keypair(urandom32, randombytes)
    c, k = encapsulate(pk, urandom32)
    assert decapsulate(c, sk) == k
    bad = bytes([c[0] ^ 1]) + c[1:]
    assert decapsulate(bad, sk) != k
