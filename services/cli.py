"""`crm`: run a service, migrate its schema, mint a development token, run the local mesh,
and administer a running mesh through its gateway."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from meshkit.claims import USER_ROLES
from meshkit.identity import SERVICE_PREFIX, TokenIssuer
from meshkit.logs import configure_logging
from meshkit.roles import Role
from meshkit.service_keys import JWKS_FILE
from meshkit.settings import (
    KEY_SETTINGS,
    IdentitySettings,
    dev_private_key,
    keys_folder,
    make_dev_keys,
)
from services import admin

SERVICES = ("contacts", "consent", "campaigns", "gateway")
# What `crm token` gives when no --role is named: edit contacts and run campaigns.
DEFAULT_TOKEN_ROLES = (Role.CONTACT_EDITOR, Role.CAMPAIGN_MANAGER)
EXIT_SECONDS = 10.0  # how long a stopped service may take to finish exiting
log = logging.getLogger(__name__)


def _bootstrap(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"services.{name}.bootstrap")


def serve(args: argparse.Namespace) -> None:
    _ensure_dev_keys(args.service)
    _bootstrap(args.service).main()
    _exit_within(EXIT_SECONDS)


def _exit_within(seconds: float) -> None:
    """Bounds the interpreter's exit: a request thread still busy would otherwise hold it."""

    def leave() -> None:
        time.sleep(seconds)
        log.warning("threads still busy %.0fs after the stop; exiting anyway", seconds)
        logging.shutdown()
        os._exit(0)

    threading.Thread(target=leave, name="exit-watchdog", daemon=True).start()


def _exit_on_first_signal() -> None:
    """SIGTERM or SIGINT ends the process quietly (SystemExit, no traceback); later ones are
    ignored, so clean-up already under way is not interrupted. `crm serve` of a gRPC service
    replaces this with its own drain once it serves."""
    seen: list[int] = []

    def handle(signum: int, _: object) -> None:
        seen.append(signum)
        if len(seen) == 1:
            raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)


def _ensure_dev_keys(service: str) -> None:
    """On embedded defaults a first `crm serve` needs the development keys; make them once.

    When the service is given any key file setting, its token keys are deployed: none is
    made (a service must never hold a development private key that could mint user tokens).
    """
    prefix = f"{service.upper()}_"
    deployed = any(os.environ.get(prefix + name) is not None for name in KEY_SETTINGS)
    try:
        make_dev_keys(token_keys=not deployed)
    except OSError:
        pass  # a read-only CRM_HOME: keys are mounted, as in production


def migrate(args: argparse.Namespace) -> None:
    _bootstrap(args.service).migrate_only()
    log.info("the %s schema is at the latest revision", args.service)


def token(args: argparse.Namespace) -> None:
    identity = IdentitySettings(_env_prefix="CRM_")  # type: ignore[call-arg]
    if Role.SERVICE.value in (args.role or []) or args.sub.startswith(SERVICE_PREFIX):
        # Service tokens are signed by each service's own key; a user token never passes for one.
        print("crm token: development tokens cannot act as a service of the mesh", file=sys.stderr)
        sys.exit(2)
    key = dev_private_key()
    if not key.is_file():
        # Making a key here would sign tokens the running mesh rejects ("bad signature").
        print(
            f"crm token: no signing key at {key}. Set CRM_HOME to the folder `crm up` uses "
            "(./.crm of the folder where it runs), or run crm token from that folder.",
            file=sys.stderr,
        )
        sys.exit(2)
    issuer = TokenIssuer(key, identity.jwt_issuer, identity.jwt_audience)
    print(
        issuer.mint(
            args.sub,
            component=args.component,
            service=args.service,
            level=args.level,
            roles=args.role or [role.value for role in DEFAULT_TOKEN_ROLES],
            ttl_seconds=args.ttl,
            email=args.email or dev_email(args.sub, args.component),
        )
    )


def dev_email(subject: str, component: str | None) -> str:
    """A development token's own address: `alice@sciences` -> `alice@sciences.localhost`.

    Where a test send of a campaign goes; `.localhost` never leaves the machine (RFC 6761).
    """
    local = subject.split("@", 1)[0] or "someone"
    return f"{local}@{component or 'grouping'}.localhost"


def keys(args: argparse.Namespace) -> None:
    folder = (args.dir or keys_folder()).resolve()
    make_dev_keys(folder)
    print(
        f"development tokens (crm token only): {folder / 'dev-private.pem'}\n"
        f"each service's own key:              {folder / 'service-<name>-private.pem'}\n"
        f"services' public keys:               {folder / JWKS_FILE}"
    )


def up(args: argparse.Namespace) -> None:
    from services.dev.up import run_mesh

    run_mesh(mail_dir=args.mail_dir, port_base=args.port_base, verbose=args.verbose)


def mailcatcher(args: argparse.Namespace) -> None:
    from services.dev.mailcatcher import run_forever

    run_forever(args.host, args.port, args.dir)


def health(args: argparse.Namespace) -> None:
    from meshkit.tls import TlsFiles
    from services.dev.health import grpc_serving, http_ok

    if args.protocol == "grpc":
        tls = TlsFiles(args.tls_cert, args.tls_key, args.tls_ca)
        healthy = grpc_serving(args.target, tls=tls)
    else:
        healthy = http_ok(args.target)
    sys.exit(0 if healthy else 1)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="crm", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run one service in this process")
    p.add_argument("service", choices=SERVICES)
    p.set_defaults(run=serve)

    p = commands.add_parser("migrate", help="apply one service's migrations, then exit")
    p.add_argument("service", choices=[s for s in SERVICES if s != "gateway"])
    p.set_defaults(run=migrate)

    p = commands.add_parser("token", help="mint a token signed with the local development key")
    p.add_argument("--sub", required=True, help="subject, e.g. alice@sciences")
    p.add_argument("--component", help="component the caller acts for, e.g. sciences")
    p.add_argument("--service", help="service inside the component, e.g. communication")
    p.add_argument("--level", help="hierarchy level, e.g. director, manager, staff")
    p.add_argument(
        "--role",
        action="append",
        choices=sorted(USER_ROLES),
        help="repeatable, replaces the default ("
        + " and ".join(role.value for role in DEFAULT_TOKEN_ROLES)
        + "): one of "
        + ", ".join(role.value for role in Role if role.value in USER_ROLES)
        + " (never service: each service signs its own tokens)",
    )
    p.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    p.add_argument(
        "--email",
        help="the caller's own address (test sends go there); "
        "default <sub before @>@<component or grouping>.localhost",
    )
    p.set_defaults(run=token)

    p = commands.add_parser(
        "keys", help="create the key pairs and secrets (each once) in CRM_HOME/keys or --dir"
    )
    p.add_argument(
        "--dir", type=Path, default=None, help="folder to write them to (default CRM_HOME/keys)"
    )
    p.set_defaults(run=keys)

    p = commands.add_parser("up", help="run the whole mesh on embedded defaults")
    p.add_argument("--mail-dir", default=None, help="where caught mail is written")
    p.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="listen on N (gateway), N+1..N+3 (contacts, consent, campaigns), N+4 (SMTP), "
        "N+5 (consent's unsubscribe mail)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also show the libraries' INFO lines (sets CRM_LOG_THIRD_PARTY=true)",
    )
    p.set_defaults(run=up)

    p = commands.add_parser("mailcatcher", help="an SMTP server that writes each mail to a folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8025)
    p.add_argument("--dir", required=True)
    p.set_defaults(run=mailcatcher)

    p = commands.add_parser("health", help="exit 0 when a service answers healthy (for probes)")
    p.add_argument("protocol", choices=["grpc", "http"])
    p.add_argument("target", help="host:port for grpc, a URL for http")
    # A service with TLS answers TLS probes only; with client auth, probes show a certificate.
    p.add_argument("--tls-ca", type=Path, help="grpc over TLS: PEM CA verifying the server")
    p.add_argument("--tls-cert", type=Path, help="grpc over TLS: PEM client certificate")
    p.add_argument("--tls-key", type=Path, help="grpc over TLS: PEM key of --tls-cert")
    p.set_defaults(run=health)

    admin.add_parsers(commands)
    return root


def _process_name(args: argparse.Namespace) -> str:
    """The name on each log line: the service served, or the command."""
    if args.command == "serve":
        return str(args.service)
    return str(args.command)


def main(argv: list[str] | None = None) -> None:
    _exit_on_first_signal()
    args = parser().parse_args(argv)
    if args.command == "up" and args.verbose:
        os.environ["CRM_LOG_THIRD_PARTY"] = "true"
    configure_logging(_process_name(args))
    args.run(args)


if __name__ == "__main__":
    main()
