"""Throw-away signing keys and tokens for tests: a user key, and each service's own key."""

from __future__ import annotations

from pathlib import Path

from meshkit.identity import ServiceIdentity, TokenIssuer, TokenVerifier, generate_dev_keys
from meshkit.service_keys import JWKS_FILE, SERVICE_NAMES, make_service_keys, private_key_file

ISSUER = "crm-test"
AUDIENCE = "crm-mesh"
# The mesh's services, plus the callers tests play ("test", consent's inbound mail).
TEST_SERVICE_NAMES = (*SERVICE_NAMES, "test", "inbound", "events")


class TestKeys:
    """A user key pair, a key per service and their JWKS on disk; an issuer and a verifier."""

    __test__ = False

    def __init__(self, folder: Path):
        self.folder = folder
        self.private_file = folder / "private.pem"
        self.public_file = folder / "public.pem"
        generate_dev_keys(self.private_file, self.public_file)
        make_service_keys(folder, TEST_SERVICE_NAMES)
        self.service_keys_file = folder / JWKS_FILE
        self.issuer = TokenIssuer(self.private_file, ISSUER, AUDIENCE)
        self.verifier = TokenVerifier(
            ISSUER,
            AUDIENCE,
            public_key_file=self.public_file,
            service_keys_file=self.service_keys_file,
        )

    def env(self, prefix: str) -> dict[str, str]:
        """Identity settings of the service `prefix` names (e.g. "CONTACTS_"), with its own key."""
        name = prefix.rstrip("_").lower()
        return {
            f"{prefix}JWT_ISSUER": ISSUER,
            f"{prefix}JWT_AUDIENCE": AUDIENCE,
            f"{prefix}JWT_PUBLIC_KEY_FILE": str(self.public_file),
            f"{prefix}SERVICE_KEYS_FILE": str(self.service_keys_file),
            f"{prefix}SERVICE_PRIVATE_KEY_FILE": str(self.service_private_file(name)),
        }

    def service_private_file(self, name: str) -> Path:
        """The private key of service `name` (one of TEST_SERVICE_NAMES)."""
        path = private_key_file(self.folder, name)
        if not path.exists():
            raise ValueError(f"no test key for service {name!r}: add it to TEST_SERVICE_NAMES")
        return path

    def service_issuer(self, name: str) -> TokenIssuer:
        """Signs with service `name`'s own key."""
        return TokenIssuer(self.service_private_file(name), ISSUER, AUDIENCE)

    def identity(self, name: str) -> ServiceIdentity:
        """Service `name`'s identity for outbound calls, as its bootstrap builds it."""
        return ServiceIdentity(self.service_issuer(name), name)

    def manager(self, component: str, subject: str | None = None, **claims: str) -> str:
        return self.issuer.mint(
            subject or f"manager@{component}",
            component=component,
            roles=["campaign_manager", "contact_editor"],
            **claims,  # type: ignore[arg-type]
        )

    def admin(self) -> str:
        return self.issuer.mint("admin@grouping", roles=["admin"])

    def service(self, name: str = "test") -> str:
        """A service token of `name`, signed with that service's own key."""
        return self.service_issuer(name).mint(f"service:{name}", roles=["service"])
