"""Who is calling: principals, and the JWTs that carry them.

Tokens carry subject, component, service, hierarchy level and roles. The
gateway verifies them and forwards them; every service verifies them again.
People's tokens come from an OIDC provider (meshkit.oidc, claims mapped by
meshkit.claims) or the development key (`crm token`). Services calling services
mint short-lived tokens with the `service` role, each with its own key
(meshkit.service_keys), accepted only as that very service.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import fcntl
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshkit.claims import ClaimsError, map_claims
from meshkit.errors import PermissionDenied, Unauthenticated
from meshkit.jwks import KeySet, file_loader
from meshkit.oidc import IssuerVerifier, OidcIssuer, UnknownKey
from meshkit.roles import Role, missing_role_message

# The development key's algorithms (never `none` nor HS*).
ALGORITHMS = ["ES256", "RS256"]
# Aliases kept for existing callers: they are the enum's members.
ROLE_ADMIN = Role.ADMIN
ROLE_MANAGER = Role.CAMPAIGN_MANAGER
ROLE_SERVICE = Role.SERVICE


@dataclass(frozen=True)
class Principal:
    """The verified identity behind a request."""

    subject: str
    component: str | None = None
    service: str | None = None
    level: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    # Set only by the organisation check (never from a token): the placement and roles
    # above are the tree's, so a later step of the same request need not read it again.
    placed: bool = field(default=False, compare=False)
    # The caller's own address (the `email` claim), e.g. where a test send goes. Personal
    # data: never logged, never quoted in an error.
    email: str | None = field(default=None, repr=False)

    def has_role(self, role: Role) -> bool:
        """True when the token carries `role`."""
        return role.value in self.roles

    def require_role(self, role: Role) -> None:
        """PermissionDenied naming the missing role (and nothing about the caller)."""
        if not self.has_role(role):
            raise PermissionDenied(missing_role_message(role))

    @property
    def is_service(self) -> bool:
        return self.has_role(Role.SERVICE)

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)

    def require_component(self) -> str:
        """The caller's component, or PermissionDenied when it has none."""
        if not self.component:
            raise PermissionDenied("this operation needs a token bound to a component")
        return self.component

    def require_service(self) -> None:
        if not self.is_service:
            raise PermissionDenied("this operation is reserved to services of the mesh")

    def require_admin(self) -> None:
        self.require_role(Role.ADMIN)


_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def current_principal() -> Principal:
    """The principal of the request being served (set by the auth interceptor)."""
    try:
        return _current.get()
    except LookupError:
        raise Unauthenticated("no verified identity on this call") from None


def bind_principal(principal: Principal) -> contextvars.Token[Principal]:
    return _current.set(principal)


def unbind_principal(token: contextvars.Token[Principal]) -> None:
    _current.reset(token)


class TokenVerifier:
    """Checks a token against the key that signed it and that key's rules; returns the principal.

    Three kinds of signers are trusted, each for its own kind of token:
    - the development key (`public_key_file`; none: no development tokens): user tokens
      with the mesh's own claims, issuer `issuer`;
    - each service's own key (`service_keys_file`, a JWKS naming each key's service):
      only that very service's tokens (subject `service:<name>`, roles exactly `service`,
      no placement), issuer `issuer`;
    - OIDC issuers (`oidc_issuers`): user tokens, claims mapped per issuer.
    A user token (development key or OIDC) carrying the `service` role, or a subject of the
    form `service:<name>`, is refused.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        public_key_file: Path | None = None,
        *,
        service_keys_file: Path | None = None,
        oidc_issuers: Iterable[OidcIssuer] = (),
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._dev_key = load_public_key(public_key_file) if public_key_file else None
        self._dev_kid = key_id(self._dev_key) if self._dev_key is not None else None
        self._service_keys = (
            KeySet(
                file_loader(service_keys_file),
                name="service keys",
                min_refresh_seconds=SERVICE_KEYS_REFRESH_SECONDS,
                clock=clock,
            )
            if service_keys_file
            else None
        )
        self._oidc: dict[str, IssuerVerifier] = {}
        for config in oidc_issuers:
            if config.issuer == issuer or config.issuer in self._oidc:
                raise ValueError("each OIDC issuer must differ from the others and the mesh's own")
            self._oidc[config.issuer] = IssuerVerifier(
                config, leeway_seconds=leeway_seconds, clock=clock
            )

    def verify(self, token: str) -> Principal:
        try:
            header, unverified = _unverified_parts(token)
            issuer = unverified.get("iss")
            if issuer == self._issuer:
                return self._mesh_token(token, header)
            if isinstance(issuer, str) and issuer in self._oidc:
                return self._oidc_token(self._oidc[issuer], token, header)
            raise jwt.InvalidIssuerError("unknown issuer")
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthenticated(f"invalid token: {_reason(exc)}") from None

    def verify_header(self, authorization: str | None) -> Principal:
        """Verifies an `Authorization: Bearer <jwt>` header value."""
        if not authorization:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("expected an Authorization header of the form 'Bearer <token>'")
        return self.verify(token.strip())

    def _mesh_token(self, token: str, header: dict[str, Any]) -> Principal:
        kid = header.get("kid")
        if self._dev_key is not None and kid in (None, self._dev_kid):
            return _user(principal_from_claims(self._decode(token, self._dev_key, ALGORITHMS)))
        found = self._service_keys.find(kid) if self._service_keys and kid else None
        if found is None:
            raise UnknownKey("unknown key")
        return service_principal(self._decode(token, found.key, found.algorithms), found.service)

    def _decode(self, token: str, key: Any, algorithms: Iterable[str]) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        return claims

    def _oidc_token(self, issuer: IssuerVerifier, token: str, header: dict[str, Any]) -> Principal:
        mapped = map_claims(issuer.decode(token, header), issuer.config.claims)
        return _user(
            Principal(
                subject=mapped.subject,
                component=mapped.component,
                service=mapped.service,
                level=mapped.level,
                roles=mapped.roles,
                email=mapped.email,
            )
        )


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified: only to choose the key that will verify the token.

    Parsed here once, plainly, because PyJWT's own parsing is costly; jwt.decode then checks
    the whole token again with the chosen key.
    """
    try:
        header, payload, _ = token.split(".")
        parts = [
            json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in (header, payload)
        ]
    except (ValueError, binascii.Error):
        raise jwt.DecodeError("malformed") from None
    if not all(isinstance(part, dict) for part in parts):
        raise jwt.DecodeError("malformed")
    return parts[0], parts[1]


# A service key file changes only when keys are rotated: read it again at most this often.
SERVICE_KEYS_REFRESH_SECONDS = 10.0
SERVICE_PREFIX = "service:"


def _user(principal: Principal) -> Principal:
    """A user's principal, refused when it would pass for a service of the mesh."""
    if principal.is_service or principal.subject.startswith(SERVICE_PREFIX):
        raise ClaimsError("a user token cannot act as a service of the mesh")
    return principal


def service_principal(claims: dict[str, Any], service: str | None) -> Principal:
    """The principal of a token signed by `service`'s own key: that service and nothing more."""
    if service is None or claims.get("sub") != service_subject(service):
        raise ClaimsError("a service key signs only its own service's tokens")
    if claims.get("roles") != [Role.SERVICE.value]:
        raise ClaimsError("a service key signs only tokens with the service role alone")
    if any(claims.get(name) for name in ("component", "service", "level", "email")):
        raise ClaimsError("a service token carries no placement")
    return Principal(service_subject(service), roles=frozenset({Role.SERVICE.value}))


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClaimsError):
        return str(exc)
    if isinstance(exc, UnknownKey):
        return "unknown key"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm not allowed"
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "missing claim"
    return "malformed"


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal of a development token: the mesh's own claims, as they are."""
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("invalid token: roles must be a list of strings")

    def text(name: str) -> str | None:
        value = claims.get(name)
        if value is not None and not isinstance(value, str):
            raise Unauthenticated(f"invalid token: {name} must be a string")
        return value or None

    return Principal(
        subject=str(claims["sub"]),
        component=text("component"),
        service=text("service"),
        level=text("level"),
        roles=frozenset(roles),
        email=text("email"),
    )


class TokenIssuer:
    """Signs tokens with a private key: the development key (`crm token`), or one service's
    own key (its ServiceIdentity)."""

    def __init__(self, private_key_file: Path, issuer: str, audience: str):
        self._key = serialization.load_pem_private_key(private_key_file.read_bytes(), None)
        self._issuer = issuer
        self._audience = audience
        self.key_id = key_id(self._key.public_key())

    def mint(
        self,
        subject: str,
        *,
        component: str | None = None,
        service: str | None = None,
        level: str | None = None,
        roles: Iterable[str] = (),
        ttl_seconds: int = 3600,
        email: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + ttl_seconds,
            "roles": sorted(roles),
        }
        named = (("component", component), ("service", service), ("level", level))
        for name, value in (*named, ("email", email)):
            if value:
                claims[name] = value
        return jwt.encode(
            claims,
            self._key,  # type: ignore[arg-type]
            algorithm="ES256",
            headers={"kid": self.key_id},
        )


def service_subject(name: str) -> str:
    """The subject of a mesh service's own tokens, e.g. "service:consent"."""
    return f"service:{name}"


class ServiceIdentity:
    """A service's own token for outbound calls, renewed before it expires."""

    def __init__(self, issuer: TokenIssuer, name: str, ttl_seconds: int = 300):
        self._issuer = issuer
        self._name = name
        self._ttl = ttl_seconds
        self._token = ""
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                self._token = self._issuer.mint(
                    service_subject(self._name), roles=[ROLE_SERVICE], ttl_seconds=self._ttl
                )
                self._renew_at = time.monotonic() + self._ttl / 2
            return self._token


def key_id(public_key: Any) -> str:
    """A stable `kid` for a public key, so a JWKS can hold several keys during a rotation."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def load_public_key(path: Path) -> Any:
    return serialization.load_pem_public_key(path.read_bytes())


def generate_dev_keys(private_file: Path, public_file: Path) -> None:
    """Creates an EC P-256 key pair for local development, unless it exists."""
    with keys_lock(private_file.parent):
        if private_file.exists() and public_file.exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        write_private_key(private_file, key)
        public_file.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


@contextlib.contextmanager
def keys_lock(folder: Path) -> Iterator[None]:
    """Held while keys are made in `folder`: several processes may start at once on a fresh
    machine, and one of them writes each key."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".keys.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_private_key(path: Path, key: Any) -> None:
    """Writes a private key as unencrypted PKCS#8 PEM, readable by its owner only."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
