#!/usr/bin/env python3
"""age-plugin-sigiltest: a small but real age plugin (the C2SP age-plugin protocol, recipient-v1
and identity-v1) for the tests: X25519 recipients `age1sigiltest1…`, identities
`AGE-PLUGIN-SIGILTEST-1…`, file keys wrapped with X25519 + HKDF-SHA256 + ChaCha20-Poly1305 in
`sigiltest` stanzas. `--generate` prints a new identity and its recipient.
"""
import base64
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NAME = "sigiltest"
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def hrp_expand(hrp):
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def convertbits(data, frombits, tobits, pad):
    acc, bits, ret, maxv = 0, 0, [], (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad and bits:
        ret.append((acc << (tobits - bits)) & maxv)
    elif not pad and (bits >= frombits or ((acc << (tobits - bits)) & maxv)):
        raise ValueError("bad padding")
    return ret


def bech32_encode(hrp, data):
    d = convertbits(data, 8, 5, True)
    chk = polymod(hrp_expand(hrp) + d + [0] * 6) ^ 1
    return hrp + "1" + "".join(CHARSET[x] for x in d + [(chk >> 5 * (5 - i)) & 31 for i in range(6)])


def bech32_decode(s):
    s = s.lower()
    pos = s.rfind("1")
    hrp, data = s[:pos], [CHARSET.find(c) for c in s[pos + 1:]]
    if -1 in data or polymod(hrp_expand(hrp) + data) != 1:
        raise ValueError("bad bech32")
    return hrp, bytes(convertbits(data[:-6], 5, 8, False))


def b64(data):
    return base64.b64encode(data).decode().rstrip("=")


def unb64(text):
    return base64.b64decode(text + "=" * (-len(text) % 4))


def read_stanza(inp):
    line = inp.readline()
    if not line:
        sys.exit(0)
    parts = line.rstrip("\n").split(" ")
    assert parts[0] == "->", line
    body = ""
    while True:
        chunk = inp.readline().rstrip("\n")
        body += chunk
        if len(chunk) < 64:
            break
    return parts[1], parts[2:], unb64(body)


def write_stanza(out, tag, args, body=b""):
    out.write(" ".join(["->", tag] + list(args)) + "\n")
    enc = b64(body)
    lines = [enc[i:i + 64] for i in range(0, len(enc), 64)] or [""]
    if len(lines[-1]) == 64:
        lines.append("")
    out.write("\n".join(lines) + "\n")
    out.flush()


def raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def wrap_key(shared, eph, rcpt):
    return HKDF(hashes.SHA256(), 32, eph + rcpt, b"age-plugin-sigiltest").derive(shared)


def recipient_v1(inp, out):
    recipients, keys = [], []
    while True:
        tag, args, body = read_stanza(inp)
        if tag == "add-recipient":
            recipients.append(bech32_decode(args[0])[1])
        elif tag == "wrap-file-key":
            keys.append(body)
        elif tag == "done":
            break
    for index, file_key in enumerate(keys):
        for rcpt in recipients:
            eph = X25519PrivateKey.generate()
            shared = eph.exchange(X25519PublicKey.from_public_bytes(rcpt))
            k = wrap_key(shared, raw(eph.public_key()), rcpt)
            sealed = ChaCha20Poly1305(k).encrypt(b"\0" * 12, file_key, None)
            write_stanza(out, "recipient-stanza", [str(index), NAME, b64(raw(eph.public_key()))], sealed)
            read_stanza(inp)
    write_stanza(out, "done", [])


def identity_v1(inp, out):
    identities, stanzas = [], []
    while True:
        tag, args, body = read_stanza(inp)
        if tag == "add-identity":
            identities.append(X25519PrivateKey.from_private_bytes(bech32_decode(args[0])[1]))
        elif tag == "recipient-stanza":
            stanzas.append((int(args[0]), args[1], args[2:], body))
        elif tag == "done":
            break
    done = set()
    for index, kind, args, body in stanzas:
        if kind != NAME or index in done or len(args) != 1:
            continue
        eph = unb64(args[0])
        for ident in identities:
            shared = ident.exchange(X25519PublicKey.from_public_bytes(eph))
            k = wrap_key(shared, eph, raw(ident.public_key()))
            try:
                file_key = ChaCha20Poly1305(k).decrypt(b"\0" * 12, body, None)
            except Exception:
                continue
            write_stanza(out, "file-key", [str(index)], file_key)
            read_stanza(inp)
            done.add(index)
            break
    write_stanza(out, "done", [])


def main():
    arg = sys.argv[1] if len(sys.argv) > 1 else ""
    if arg == "--generate":
        key = X25519PrivateKey.generate()
        secret = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        print(bech32_encode(f"age-plugin-{NAME}-", secret).upper())
        print(bech32_encode(f"age1{NAME}", raw(key.public_key())))
    elif arg == "--age-plugin=recipient-v1":
        recipient_v1(sys.stdin, sys.stdout)
    elif arg == "--age-plugin=identity-v1":
        identity_v1(sys.stdin, sys.stdout)
    else:
        sys.exit("usage: age-plugin-sigiltest --generate | --age-plugin=recipient-v1|identity-v1")


main()
