"""A stand-in for HashiCorp Vault's transit engine (no Vault server can be installed here):
POST or PUT /v1/<engine>/encrypt/<key> and /v1/<engine>/decrypt/<key>, answered as Vault answers
them. Keys exist only if named on the command line; every request needs the token, and the
namespace if one is given. Ciphertexts are `vault:v1:` + base64(nonce || AES-256-GCM), bound to
the engine and key name. The real sops 3.11 runs through it in both directions in
tests/sops_vault.rs, which is what shows it honest.

Usage: vault_transit.py PORT TOKEN NAMESPACE|- ENGINE/KEY...
With VAULT_STANDIN_CERT and VAULT_STANDIN_KEY (PEM files) it serves HTTPS.
"""
import base64
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PORT, TOKEN, NAMESPACE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
KEYS = {k: AESGCM.generate_key(bit_length=256) for k in sys.argv[4:]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.answer(400, {"errors": ["failed to parse JSON input"]})
        if self.headers.get("X-Vault-Token") != TOKEN:
            return self.answer(403, {"errors": ["permission denied"]})
        if NAMESPACE != "-" and self.headers.get("X-Vault-Namespace") != NAMESPACE:
            return self.answer(403, {"errors": ["permission denied"]})
        parts = self.path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "v1" or parts[-2] not in ("encrypt", "decrypt"):
            return self.answer(404, {"errors": ["no handler for route"]})
        engine, op, name = "/".join(parts[1:-2]), parts[-2], parts[-1]
        key = KEYS.get(f"{engine}/{name}")
        aad = f"{engine}/{name}".encode()
        if op == "encrypt":
            if key is None:
                return self.answer(400, {"errors": ["encryption key not found"]})
            try:
                plain = base64.b64decode(req.get("plaintext", ""), validate=True)
            except ValueError:
                return self.answer(400, {"errors": ["failed to base64-decode plaintext"]})
            nonce = os.urandom(12)
            ct = base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, aad)).decode()
            return self.answer(200, {"data": {"ciphertext": f"vault:v1:{ct}", "key_version": 1}})
        if key is None:
            return self.answer(400, {"errors": ["encryption key not found"]})
        text = req.get("ciphertext", "")
        if not text.startswith("vault:v1:"):
            return self.answer(400, {"errors": ["invalid ciphertext: no prefix"]})
        try:
            raw = base64.b64decode(text[len("vault:v1:"):], validate=True)
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], aad)
        except Exception:
            return self.answer(400, {"errors": ["cipher: message authentication failed"]})
        return self.answer(200, {"data": {"plaintext": base64.b64encode(plain).decode()}})

    # Vault takes writes as POST or PUT (its Go client, and so sops, uses PUT).
    do_PUT = do_POST


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if os.environ.get("VAULT_STANDIN_CERT"):
    import ssl

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(os.environ["VAULT_STANDIN_CERT"], os.environ["VAULT_STANDIN_KEY"])
    server.socket = tls.wrap_socket(server.socket, server_side=True)
server.serve_forever()
