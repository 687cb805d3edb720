"""The organisation tree as every service checks tokens against it.

Contacts holds the tree (components, their services, the hierarchy levels and
the people). A token naming a component, service or level the tree does not
know is refused; a token whose subject is a person of the tree acts with that
person's place and roles (the tree is authoritative), whatever the token says.
Tokens of the mesh's own services (`service` role) are exempt.

`Organisation` is the small cached client the gateway, consent and campaigns
use: the tree fetched with the service's own identity, kept for a few seconds,
fetched again on an unknown name before refusing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from meshkit import access
from meshkit.errors import DomainError, PermissionDenied, Unavailable
from meshkit.identity import Principal

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Person:
    """A person of the tree: where they sit and the roles they hold."""

    subject: str
    component: str | None = None
    service: str | None = None
    level: str | None = None
    roles: frozenset[str] = frozenset()


class UnknownInOrganisation(PermissionDenied):
    """A token names a component, service or level the tree does not know."""


@dataclass(frozen=True)
class Tree:
    """Components, services (component, service), levels lowest first, people by subject."""

    components: frozenset[str] = frozenset()
    services: frozenset[tuple[str, str]] = frozenset()
    levels: tuple[str, ...] = ()
    people: Mapping[str, Person] = field(default_factory=lambda: MappingProxyType({}))

    def unknown_claims(self, principal: Principal) -> list[str]:
        """Which of the token's claims (by name, never by value) the tree does not know."""
        unknown = []
        if principal.component and principal.component not in self.components:
            unknown.append("component")
        if principal.service and (principal.component, principal.service) not in self.services:
            unknown.append("service")
        if principal.level and principal.level not in self.levels:
            unknown.append("level")
        return unknown

    def effective(self, principal: Principal) -> Principal:
        """The principal as the tree sees it; UnknownInOrganisation for an unknown name."""
        if principal.is_service:
            return principal
        person = self.people.get(principal.subject)
        if person is not None:
            # The token's own claims that the tree does not hold (its email) are kept.
            return replace(
                principal,
                component=person.component,
                service=person.service,
                level=person.level,
                roles=person.roles,
                placed=True,
            )
        unknown = self.unknown_claims(principal)
        if unknown:
            raise UnknownInOrganisation(
                f"the token names a {' and a '.join(unknown)} the organisation does not know"
            )
        return replace(principal, placed=True)


class Organisation:
    """The tree, fetched by `fetch` and kept `ttl_seconds`; refreshed once on an unknown name.

    Concurrent requests share one fetch. When a fetch fails, the last tree fetched is
    used (and a warning logged); with none yet, the call is refused as Unavailable.
    """

    def __init__(
        self,
        fetch: Callable[[], Tree],
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._tree: Tree | None = None
        self._fetched_at = float("-inf")

    def tree(self, fetched_after: float | None = None) -> Tree:
        """The cached tree, fetched again when expired or older than `fetched_after`."""
        with self._lock:
            now = self._clock()
            fresh_enough = now - self._fetched_at < self._ttl
            if fetched_after is not None:
                fresh_enough = fresh_enough and self._fetched_at > fetched_after
            if self._tree is None or not fresh_enough:
                self._refresh(now)
            assert self._tree is not None
            return self._tree

    def _refresh(self, now: float) -> None:
        try:
            tree = self._fetch()
        except DomainError as error:
            if self._tree is None:
                raise Unavailable("the organisation tree cannot be read now") from error
            log.warning("the organisation tree cannot be read now; using the last one fetched")
            return
        self._tree = tree
        self._fetched_at = now

    def effective(self, principal: Principal) -> Principal:
        """The principal as the tree sees it; refused when it names what the tree ignores."""
        if principal.is_service:
            return principal  # the mesh's own services: no tree to fetch
        asked_at = self._clock()
        try:
            return self.tree().effective(principal)
        except UnknownInOrganisation:
            return self.tree(fetched_after=asked_at).effective(principal)

    def check(self, method: str, principal: Principal) -> Principal:
        """The gRPC principal check: the effective principal, holding the role `method` needs."""
        effective = self.effective(principal)
        access.require(method, effective)
        return effective


def grpc_fetch(channel: object) -> Callable[[], Tree]:
    """Fetches the tree from contacts' GetOrganisation over `channel` (a service identity)."""
    import grpc

    from meshkit.grpc_client import domain_error
    from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc

    stub = contacts_pb2_grpc.ContactsServiceStub(channel)

    def fetch() -> Tree:
        try:
            reply = stub.GetOrganisation(contacts_pb2.GetOrganisationRequest())
        except grpc.RpcError as error:
            raise domain_error(error) from None
        return Tree(
            components=frozenset(c.id for c in reply.components),
            services=frozenset((s.component_id, s.id) for s in reply.services),
            levels=tuple(reply.levels),
            people=MappingProxyType(
                {
                    p.subject: Person(
                        p.subject,
                        p.component_id or None,
                        p.service_id or None,
                        p.level or None,
                        frozenset(p.roles),
                    )
                    for p in reply.people
                }
            ),
        )

    return fetch
