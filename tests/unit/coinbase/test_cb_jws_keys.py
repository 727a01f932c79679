"""The JWT signing keys on the process's OpenSSL (ctypes) agree with `cryptography`, refuse what they must,
and keep `cryptography` out of the live bot (its import alone is ~8 MB of RSS)."""

import subprocess
import sys

import cb_keys as keys
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from gpt_trader.features.brokerages.coinbase.jws_keys import (
    Backend,
    KeyMaterialError,
    OpenSslKey,
    key_from_ed25519_seed,
    key_from_pem,
    libcrypto,
)

BACKENDS: list[Backend] = ["openssl", "cryptography"]


def test_openssl_3_libcrypto_is_found_and_is_the_default() -> None:
    assert libcrypto() is not None
    assert isinstance(key_from_pem(keys.EC_SEC1_PEM.encode()), OpenSslKey)


@pytest.mark.parametrize("backend", BACKENDS)
def test_es256_signature_is_raw_r_s_verifiable_and_fresh(backend: Backend) -> None:
    key = key_from_pem(keys.EC_PKCS8_PEM.encode(), backend)
    public = load_der_public_key(key.public_key_der())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    data = b"header.claims"
    first, second = key.sign(data), key.sign(data)
    assert len(first) == len(second) == 64
    assert first != second  # a fresh ECDSA nonce each time
    for raw in (first, second):
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, data, ec.ECDSA(hashes.SHA256()))
        with pytest.raises(InvalidSignature):
            public.verify(der, data + b"x", ec.ECDSA(hashes.SHA256()))


def test_ed25519_backends_give_the_same_signature_and_public_key() -> None:
    seed = bytes.fromhex(keys.ED25519_SEED_HEX)
    ours, theirs = (key_from_ed25519_seed(seed, b) for b in BACKENDS)
    assert ours.algorithm == theirs.algorithm == "EdDSA"
    assert ours.public_key_der() == theirs.public_key_der()
    assert ours.sign(b"payload") == theirs.sign(b"payload")
    public = load_der_public_key(ours.public_key_der())
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(ours.sign(b"payload"), b"payload")


def _pem(key: object, encryption: serialization.KeySerializationEncryption) -> bytes:
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: keys.EC_P384_PEM.encode(), "is an EC key on secp384r1; only P-256"),
        (
            lambda: _pem(rsa.generate_private_key(65537, 1024), serialization.NoEncryption()),
            "unsupported key type; allowed: EC P-256, Ed25519",
        ),
        (
            lambda: _pem(ec.generate_private_key(ec.SECP256R1()), serialization.BestAvailableEncryption(b"pw")),
            "not a readable unencrypted PEM",
        ),
        (lambda: keys.EC_SEC1_PEM[:-40].encode(), "not a readable unencrypted PEM"),
    ],
    ids=["p384", "rsa", "encrypted", "truncated"],
)
def test_unusable_keys_are_refused_with_the_reason(backend: Backend, make: object, reason: str) -> None:
    assert callable(make)
    with pytest.raises(KeyMaterialError, match=reason):
        key_from_pem(make(), backend)


def test_ed25519_seed_must_be_32_bytes() -> None:
    with pytest.raises(KeyMaterialError, match="is 31 bytes; an Ed25519 seed is 32 bytes"):
        key_from_ed25519_seed(b"\x01" * 31)


def test_encrypted_pem_never_prompts_on_the_terminal() -> None:
    """OpenSSL's default password callback reads the TTY; ours refuses, so a child with no stdin ends fast."""
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.BestAvailableEncryption(b"pw"))
    code = (
        "import sys\n"
        "from gpt_trader.features.brokerages.coinbase.jws_keys import KeyMaterialError, key_from_pem\n"
        "try:\n"
        "    key_from_pem(sys.argv[1].encode(), 'openssl')\n"
        "except KeyMaterialError:\n"
        "    print('refused')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, pem.decode()], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == "refused", out.stderr


def test_live_signer_does_not_import_cryptography() -> None:
    code = (
        "import sys\n"
        "import cb_keys\n"
        "from gpt_trader.features.brokerages.coinbase.auth import CdpJwtSigner\n"
        "token = CdpJwtSigner(cb_keys.KEY_NAME, cb_keys.EC_SEC1_PEM).build_jwt('GET h/p')\n"
        "assert token.count('.') == 2\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography'))\n"
    )
    here = __file__.rsplit("/", 1)[0]
    out = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_without_a_visible_openssl_3_the_key_falls_back_to_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpt_trader.features.brokerages.coinbase import jws_keys

    monkeypatch.setattr(jws_keys, "_LIB", [None])  # as on macOS or with a statically linked _ssl
    key = key_from_pem(keys.EC_SEC1_PEM.encode())
    assert isinstance(key, jws_keys.CryptographyKey) and key.algorithm == "ES256"
    with pytest.raises(RuntimeError, match="no OpenSSL 3 libcrypto"):
        key_from_pem(keys.EC_SEC1_PEM.encode(), "openssl")
