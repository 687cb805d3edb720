"""A throw-away signing key and tokens for tests."""

from __future__ import annotations

from pathlib import Path

from meshkit.identity import TokenIssuer, TokenVerifier, generate_dev_keys

ISSUER = "crm-test"
AUDIENCE = "crm-mesh"


class TestKeys:
    """A key pair on disk, an issuer and a verifier that trust it."""

    __test__ = False

    def __init__(self, folder: Path):
        self.private_file = folder / "private.pem"
        self.public_file = folder / "public.pem"
        generate_dev_keys(self.private_file, self.public_file)
        self.issuer = TokenIssuer(self.private_file, ISSUER, AUDIENCE)
        self.verifier = TokenVerifier(ISSUER, AUDIENCE, public_key_file=self.public_file)

    def env(self, prefix: str) -> dict[str, str]:
        """Identity settings of a service started with this key pair."""
        return {
            f"{prefix}JWT_ISSUER": ISSUER,
            f"{prefix}JWT_AUDIENCE": AUDIENCE,
            f"{prefix}JWT_PUBLIC_KEY_FILE": str(self.public_file),
            f"{prefix}SERVICE_PRIVATE_KEY_FILE": str(self.private_file),
        }

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
        return self.issuer.mint(f"service:{name}", roles=["service"])
