"""Private keys that sign the CDP JWT (ES256 on P-256, EdDSA on Ed25519), on the OpenSSL the process already has.

Why not `cryptography` in the bot: importing it maps its 14 MB Rust extension and its own statically linked
OpenSSL, +9.6 MB RSS measured in the live bot (7.8 MB import, 1.8 MB first signature), a fifth of the
50 MB budget. Python's `ssl` module has already loaded the system `libcrypto` (TLS to Coinbase needs it),
so `OpenSslKey` calls that same library's EVP API through ctypes: the same constant-time OpenSSL
ECDSA/Ed25519 code, no second copy in memory. Only the binding is ours, and it is small: load (PEM or raw
Ed25519 seed), sign, export the public key. Where that libcrypto is not OpenSSL 3 or is not a shared
library we can see (not Linux, or `_ssl` linked statically), the key falls back to `cryptography`
(`CryptographyKey`), which the tests also cross-check against.

Errors raise `KeyMaterialError` with a reason that never contains key material; the caller adds where
the key came from.
"""

from __future__ import annotations

import ctypes
import sys
import weakref
from typing import Literal, Protocol

Backend = Literal["openssl", "cryptography"]

_EVP_PKEY_EC = 408  # NID_X9_62_id_ecPublicKey
_EVP_PKEY_ED25519 = 1087  # NID_ED25519
_P256_NAMES = frozenset({"prime256v1", "P-256", "secp256r1"})
_OPENSSL_3 = 0x30000000


class KeyMaterialError(ValueError):
    """Key material that cannot be used; the message says why and never repeats the material."""


class SigningKey(Protocol):
    """A loaded private key: its JWS algorithm, a JWS signature over bytes, the public key (SPKI DER)."""

    algorithm: str

    def sign(self, data: bytes) -> bytes: ...

    def public_key_der(self) -> bytes: ...


# --------------------------------------------------------------------------------------- OpenSSL
_vp = ctypes.c_void_p
_PEM_PASSWORD_CB = ctypes.CFUNCTYPE(ctypes.c_int, _vp, ctypes.c_int, ctypes.c_int, _vp)


def _no_password(buf: int | None, size: int, rwflag: int, userdata: int | None) -> int:
    """Refuse to prompt: an encrypted PEM fails to load instead of OpenSSL reading the terminal."""
    return 0


_NO_PASSWORD = _PEM_PASSWORD_CB(_no_password)

# name -> (restype, argtypes). Every pointer is c_void_p so no address is truncated to a C int.
_PROTOTYPES: dict[str, tuple[object, list[object]]] = {
    "OpenSSL_version_num": (ctypes.c_ulong, []),
    "ERR_clear_error": (None, []),
    "BIO_new_mem_buf": (_vp, [ctypes.c_char_p, ctypes.c_int]),
    "BIO_free": (ctypes.c_int, [_vp]),
    "PEM_read_bio_PrivateKey": (_vp, [_vp, _vp, _PEM_PASSWORD_CB, _vp]),
    "EVP_PKEY_new_raw_private_key": (_vp, [ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_size_t]),
    "EVP_PKEY_get_base_id": (ctypes.c_int, [_vp]),
    "EVP_PKEY_get_group_name": (ctypes.c_int, [_vp, ctypes.c_char_p, ctypes.c_size_t, _vp]),
    "EVP_PKEY_free": (None, [_vp]),
    "EVP_MD_CTX_new": (_vp, []),
    "EVP_MD_CTX_free": (None, [_vp]),
    "EVP_sha256": (_vp, []),
    "EVP_DigestSignInit": (ctypes.c_int, [_vp, _vp, _vp, _vp, _vp]),
    "EVP_DigestSign": (ctypes.c_int, [_vp, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t]),
    "d2i_ECDSA_SIG": (_vp, [_vp, _vp, ctypes.c_long]),
    "ECDSA_SIG_get0_r": (_vp, [_vp]),
    "ECDSA_SIG_get0_s": (_vp, [_vp]),
    "ECDSA_SIG_free": (None, [_vp]),
    "BN_bn2binpad": (ctypes.c_int, [_vp, _vp, ctypes.c_int]),
    "i2d_PUBKEY": (ctypes.c_int, [_vp, _vp]),
}

_LIB: list[ctypes.CDLL | None] = []  # memo: [] not looked up yet, [None] unavailable


def _libcrypto_path() -> str | None:
    """The shared libcrypto that Python's `ssl` module loaded, so no second OpenSSL is mapped. Only where
    /proc/self/maps says so (Linux): elsewhere None, and `cryptography` signs (dlopen of an arbitrary
    libcrypto is unsafe, e.g. macOS aborts a process that loads its system one)."""
    import _ssl  # noqa: F401  # loads libcrypto into the process (TLS needs it anyway)

    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                if "/libcrypto" in path:
                    return path
    except OSError:
        pass
    return None


def libcrypto() -> ctypes.CDLL | None:
    """The process's OpenSSL 3 libcrypto with the prototypes declared, or None (then `cryptography` is used)."""
    if not _LIB:
        lib: ctypes.CDLL | None = None
        path = _libcrypto_path()
        if path:
            try:
                lib = ctypes.CDLL(path)
                for name, (restype, argtypes) in _PROTOTYPES.items():
                    fn = getattr(lib, name)
                    fn.restype = restype
                    fn.argtypes = argtypes
                if lib.OpenSSL_version_num() < _OPENSSL_3:
                    lib = None
            except (OSError, AttributeError):
                lib = None
        _LIB.append(lib)
    return _LIB[0]


class OpenSslKey:
    """An EVP_PKEY in the process's libcrypto (freed with this object); signs ES256 or EdDSA."""

    def __init__(self, lib: ctypes.CDLL, pkey: int) -> None:
        self._lib = lib
        self._pkey = pkey
        weakref.finalize(self, lib.EVP_PKEY_free, pkey)
        base = lib.EVP_PKEY_get_base_id(pkey)
        if base == _EVP_PKEY_ED25519:
            self.algorithm = "EdDSA"
        elif base == _EVP_PKEY_EC:
            name = ctypes.create_string_buffer(64)
            size = ctypes.c_size_t(0)
            if lib.EVP_PKEY_get_group_name(pkey, name, len(name), ctypes.byref(size)) != 1:
                lib.ERR_clear_error()
                raise KeyMaterialError("is an EC key whose curve cannot be read; only P-256 (secp256r1) is allowed")
            curve = name.value.decode(errors="replace")
            if curve not in _P256_NAMES:
                raise KeyMaterialError(f"is an EC key on {curve}; only P-256 (secp256r1) is allowed")
            self.algorithm = "ES256"
        else:
            raise KeyMaterialError("has an unsupported key type; allowed: EC P-256, Ed25519")

    @classmethod
    def from_pem(cls, lib: ctypes.CDLL, pem: bytes) -> OpenSslKey:
        bio = lib.BIO_new_mem_buf(pem, len(pem))
        if not bio:
            raise MemoryError("OpenSSL could not allocate a memory BIO")
        try:
            pkey = lib.PEM_read_bio_PrivateKey(bio, None, _NO_PASSWORD, None)
        finally:
            lib.BIO_free(bio)
        if not pkey:
            lib.ERR_clear_error()
            raise KeyMaterialError("is not a readable unencrypted PEM private key (EC P-256 or Ed25519)")
        return cls(lib, pkey)

    @classmethod
    def from_ed25519_seed(cls, lib: ctypes.CDLL, seed: bytes) -> OpenSslKey:
        pkey = lib.EVP_PKEY_new_raw_private_key(_EVP_PKEY_ED25519, None, seed, len(seed))
        if not pkey:
            lib.ERR_clear_error()
            raise KeyMaterialError("is not a usable Ed25519 seed")
        return cls(lib, pkey)

    def _digest_sign(self, data: bytes) -> bytes:
        lib = self._lib
        ctx = lib.EVP_MD_CTX_new()
        if not ctx:
            raise MemoryError("OpenSSL could not allocate a digest context")
        try:
            md = lib.EVP_sha256() if self.algorithm == "ES256" else None  # Ed25519 hashes internally
            size = ctypes.c_size_t(0)
            if (
                lib.EVP_DigestSignInit(ctx, None, md, None, self._pkey) != 1
                or lib.EVP_DigestSign(ctx, None, ctypes.byref(size), data, len(data)) != 1
            ):
                lib.ERR_clear_error()
                raise RuntimeError("OpenSSL refused to start a signature")
            out = ctypes.create_string_buffer(size.value)
            if lib.EVP_DigestSign(ctx, out, ctypes.byref(size), data, len(data)) != 1:
                lib.ERR_clear_error()
                raise RuntimeError("OpenSSL failed to sign")
            return out.raw[: size.value]
        finally:
            lib.EVP_MD_CTX_free(ctx)

    def sign(self, data: bytes) -> bytes:
        """The JWS signature (RFC 7518 §3.4 / RFC 8037): ES256 as the raw 64-byte r||s, EdDSA as 64 bytes."""
        signature = self._digest_sign(data)
        if self.algorithm == "EdDSA":
            return signature
        lib = self._lib
        der = ctypes.create_string_buffer(signature, len(signature))
        cursor = _vp(ctypes.addressof(der))
        sig = lib.d2i_ECDSA_SIG(None, ctypes.byref(cursor), len(signature))
        if not sig:
            lib.ERR_clear_error()
            raise RuntimeError("OpenSSL produced an unreadable ECDSA signature")
        try:
            raw = ctypes.create_string_buffer(64)
            base = ctypes.addressof(raw)
            if (
                lib.BN_bn2binpad(lib.ECDSA_SIG_get0_r(sig), base, 32) != 32
                or lib.BN_bn2binpad(lib.ECDSA_SIG_get0_s(sig), base + 32, 32) != 32
            ):
                raise RuntimeError("OpenSSL produced an ECDSA signature wider than P-256")
            return raw.raw
        finally:
            lib.ECDSA_SIG_free(sig)

    def public_key_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo."""
        size = self._lib.i2d_PUBKEY(self._pkey, None)
        if size <= 0:
            self._lib.ERR_clear_error()
            raise RuntimeError("OpenSSL could not encode the public key")
        out = ctypes.create_string_buffer(size)
        cursor = _vp(ctypes.addressof(out))
        self._lib.i2d_PUBKEY(self._pkey, ctypes.byref(cursor))
        return out.raw


# ---------------------------------------------------------------------------------- cryptography
class CryptographyKey:
    """The same key on the `cryptography` package: the fallback where no OpenSSL 3 libcrypto is loaded."""

    def __init__(self, key: object) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        if isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise KeyMaterialError(f"is an EC key on {key.curve.name}; only P-256 (secp256r1) is allowed")
            self.algorithm = "ES256"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = "EdDSA"
        else:
            raise KeyMaterialError("has an unsupported key type; allowed: EC P-256, Ed25519")
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes) -> CryptographyKey:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise KeyMaterialError("is not a readable unencrypted PEM private key (EC P-256 or Ed25519)") from None
        return cls(key)

    @classmethod
    def from_ed25519_seed(cls, seed: bytes) -> CryptographyKey:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert isinstance(self._key, ed25519.Ed25519PrivateKey)
        return self._key.sign(data)

    def public_key_der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        assert hasattr(self._key, "public_key")
        return bytes(
            self._key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


# ------------------------------------------------------------------------------------------ load
def _backend(backend: Backend | None) -> ctypes.CDLL | None:
    if backend == "cryptography":
        return None
    lib = libcrypto()
    if lib is None and backend == "openssl":
        raise RuntimeError("no OpenSSL 3 libcrypto is loaded in this process")
    return lib


def key_from_pem(pem: bytes, backend: Backend | None = None) -> SigningKey:
    """A P-256 or Ed25519 private key from unencrypted PEM (SEC1 or PKCS#8); `backend` None = OpenSSL if present."""
    lib = _backend(backend)
    return OpenSslKey.from_pem(lib, pem) if lib is not None else CryptographyKey.from_pem(pem)


def key_from_ed25519_seed(seed: bytes, backend: Backend | None = None) -> SigningKey:
    """An Ed25519 private key from its 32-byte seed (RFC 8032)."""
    if len(seed) != 32:
        raise KeyMaterialError(f"is {len(seed)} bytes; an Ed25519 seed is 32 bytes")
    lib = _backend(backend)
    return OpenSslKey.from_ed25519_seed(lib, seed) if lib is not None else CryptographyKey.from_ed25519_seed(seed)
