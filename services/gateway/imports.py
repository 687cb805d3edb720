"""Contact import: a CSV upload, streamed to the contacts service in batches of 1000 rows.

The upload is `multipart/form-data` with a `file` part (and the options as
form fields or query parameters), or a bare `text/csv` body with the options
as query parameters. It is never held in memory: it is copied chunk by chunk
into a temporary file while its size, its encoding (UTF-8, with or without
BOM) and its text-ness are checked, so a bad upload is refused before any
row is written wherever the bad byte is. The file is then read back line by
line with `csv`, and each batch goes to ImportContacts while the next one is
parsed. The per-row reports are written to a second temporary file and the
answer is streamed from it, so the gateway's memory does not grow with the
file.

The header names fields by catalogue id (`email`, `first_name`,
`sciences.taxe_apprentissage`); the delimiter (`;` or `,`) is read from it.
If contacts fails midway, the answer is a problem saying which lines were
applied and how to resume: send the same file again with the same import_id.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import grpc
from flask import Blueprint, Response, current_app, request
from pydantic import ValidationError
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from meshkit.errors import FieldViolation, InvalidArgument
from meshkit.fields import CORE, DISPLAY_NAME, EMAIL_FIELDS, FieldType, split_attribute
from meshkit.grpc_client import domain_error
from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway import inputs, responses, schemas
from services.gateway.api import Access, Reply, Routes, json_response
from services.gateway.clients import upstream
from services.gateway.problems import PROBLEM_JSON, problem_type

blueprint = Blueprint("imports", __name__)
routes = Routes(blueprint, "contacts")

MAX_BYTES = "CRM_IMPORT_MAX_BYTES"  # app.config key: the upload limit (GatewaySettings)
BATCH_ROWS = 1000
BATCH_CHARS = 1_000_000  # a batch is also cut at about this much text (gRPC message size)
CHUNK = 64 * 1024
MAX_FIELD_BYTES = 1024  # a form field (kind, import_id, dry_run)
MAX_COLUMNS = 100
REACHABLE = tuple(n for n, f in CORE.items() if f.type in (FieldType.EMAIL, FieldType.PHONE))
KINDS = {"person": pb.CONTACT_KIND_PERSON, "company": pb.CONTACT_KIND_COMPANY}
OUTCOMES = {
    pb.ROW_OUTCOME_CREATED: "created",
    pb.ROW_OUTCOME_JOINED: "joined",
    pb.ROW_OUTCOME_UPDATED: "updated",
    pb.ROW_OUTCOME_UNCHANGED: "unchanged",
    pb.ROW_OUTCOME_REJECTED: "rejected",
}
CSV_MEDIA_TYPES = ("text/csv", "application/csv", "text/plain")


@routes.route(
    "POST",
    "/v1/contacts/imports",
    summary="Import contacts from a CSV file (multipart `file` part, or a text/csv body).",
    access=Access.COMPONENT,
    role=Role.CONTACT_EDITOR,
    query=schemas.ContactImportQuery,
    upload=True,
    replies=(
        Reply(
            200,
            "The per-row report with totals (CSV with `Accept: text/csv`).",
            responses.ImportReport,
        ),
    ),
)
def import_contacts(query: schemas.ContactImportQuery) -> Response:
    """POST /v1/contacts/imports."""
    request.max_content_length = current_app.config[MAX_BYTES]
    upload = tempfile.TemporaryFile()
    report = tempfile.TemporaryFile()
    try:
        options = _options(query, _spool(upload))
        upload.seek(0)
        text = io.TextIOWrapper(upload, encoding="utf-8-sig", newline="")
        run = _Run(options, report)
        run.apply(text)
    except BaseException:
        upload.close()
        report.close()
        raise
    upload.close()
    response = run.answer(_wants_csv())
    response.call_on_close(report.close)
    return response


@routes.route(
    "GET",
    "/v1/contacts/imports/<import_id>",
    summary="How far an import of the caller's component got: last line applied, counts.",
    access=Access.COMPONENT,
    role=Role.CONTACT_EDITOR,
    replies=(Reply(200, "The import's status.", responses.ImportStatus),),
)
def get_import(import_id: str) -> responses.ImportStatus:
    """GET /v1/contacts/imports/<import_id>."""
    status = upstream().contacts.GetImport(pb.GetImportRequest(import_id=import_id))
    return responses.ImportStatus(
        import_id=status.import_id, last_line=status.last_line, counts=dict(status.counts)
    )


# --- Reading the upload ------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    kind: str
    import_id: str
    dry_run: bool


def _spool(target: IO[bytes]) -> dict[str, str]:
    """Copies the CSV of the upload into `target`, checked; returns the upload's form fields."""
    checker = _TextCheck()
    if request.mimetype == "multipart/form-data":
        fields, found = _spool_multipart(target, checker)
        if not found:
            raise invalid("file", "the upload has no `file` part")
    elif request.mimetype in CSV_MEDIA_TYPES:
        fields = {}
        for chunk in iter(lambda: request.stream.read(CHUNK), b""):
            checker.feed(chunk)
            target.write(chunk)
    else:
        raise UnsupportedMediaType(
            "send multipart/form-data with a `file` part, or a text/csv body"
        )
    checker.finish()
    return fields


def _spool_multipart(target: IO[bytes], checker: _TextCheck) -> tuple[dict[str, str], bool]:
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        raise invalid("body", "multipart/form-data without a boundary")
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=CHUNK * 4)
    fields: dict[str, str] = {}
    part: str | None = None  # the field being read; "" while reading the file
    value = bytearray()
    found = False
    done = False
    while not done:
        chunk = request.stream.read(CHUNK)
        decoder.receive_data(chunk or None)
        while True:
            try:
                event = decoder.next_event()
            except ValueError:
                raise invalid("body", "the multipart body is malformed") from None
            if isinstance(event, NeedData):
                break
            if isinstance(event, File) and event.name == "file" and not found:
                part, found = "", True
            elif isinstance(event, File | Field):
                part, value = event.name, bytearray()
            elif isinstance(event, Data) and part == "":
                checker.feed(event.data)
                target.write(event.data)
            elif isinstance(event, Data) and part is not None:
                value += event.data
                if len(value) > MAX_FIELD_BYTES:
                    raise invalid(part[:40], f"at most {MAX_FIELD_BYTES} bytes")
                if not event.more_data:
                    fields[part] = value.decode("utf-8", errors="replace")
            elif isinstance(event, Epilogue):
                done = True
                break
        if not chunk and not done:
            raise invalid("body", "the multipart body ends before its closing boundary")
    return fields, found


class _TextCheck:
    """Checks, chunk by chunk, that an upload is UTF-8 text (never keeps it)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if b"\x00" in chunk:
            raise invalid("file", "is binary, not a CSV text file")
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            raise invalid("file", "is not UTF-8 text: save it as CSV UTF-8") from None

    def finish(self) -> None:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise invalid("file", "is not UTF-8 text: save it as CSV UTF-8") from None
        if self.size == 0:
            raise invalid("file", "is empty: a header line naming the fields is expected")


def _options(query: schemas.ContactImportQuery, fields: dict[str, str]) -> Options:
    """The upload's options: the query's, completed by the multipart form fields."""
    known = {"kind", "import_id", "dry_run"}
    unknown = sorted(set(fields) - known - {"file"})
    if unknown:
        raise invalid("body", "unknown form fields: only file, kind, import_id and dry_run")
    merged = {**query.model_dump(exclude_none=True, exclude_defaults=True), **fields}
    try:
        options = schemas.ContactImportQuery.model_validate(merged)
    except ValidationError as error:
        raise inputs.invalid_input(error) from None
    if options.kind is None:
        raise invalid("kind", "is required: person or company")
    return Options(options.kind, options.import_id or uuid.uuid4().hex, options.dry_run)


def _wants_csv() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv"


# --- Applying it -------------------------------------------------------------------------


class _Run:
    """One upload being applied: batches out, reports into a temporary file."""

    def __init__(self, options: Options, report: IO[bytes]):
        self.options = options
        self.report = report
        self.totals: Counter[str] = Counter()
        self.rows = 0
        self.applied_through = 0  # the last line of the last batch contacts answered
        self.last_line = 1

    def apply(self, text: io.TextIOWrapper) -> None:
        header_line = text.readline()
        delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
        header = next(csv.reader([header_line], delimiter=delimiter), [])
        columns = _columns(header, self.options.kind)
        batches = self._batches(csv.reader(text, delimiter=delimiter), columns)
        in_flight: tuple[Any, list[pb.ImportRow], list[dict[str, Any]]] | None = None
        first = True
        for batch, refused in batches:
            if in_flight is not None:
                self._finish(*in_flight)
            if first and batch and any(split_attribute(c) for c in columns):
                _check_attributes(batch, columns, self.options)
            first = False
            future = None
            if batch:
                future = upstream().contacts.ImportContacts.future(
                    pb.ImportContactsRequest(
                        import_id=self.options.import_id,
                        first_line=batch[0].line,
                        rows=batch,
                        dry_run=self.options.dry_run,
                    )
                )
            in_flight = (future, batch, refused)
        if in_flight is not None:
            self._finish(*in_flight)

    def _batches(
        self, reader: Iterator[list[str]], columns: list[str]
    ) -> Iterator[tuple[list[pb.ImportRow], list[dict[str, Any]]]]:
        """Batches of rows to send, with the rows refused here (wrong number of cells)."""
        kind = KINDS[self.options.kind]
        batch: list[pb.ImportRow] = []
        refused: list[dict[str, Any]] = []
        chars = 0
        line = 2  # the line the next record starts on
        for cells in reader:
            # The header was line 1; the reader counts the lines after it.
            start, line = line, reader.line_num + 2  # type: ignore[attr-defined]
            self.last_line = line - 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                problem = f"has {len(cells)} cells where the header has {len(columns)}"
                refused.append(
                    {"line": start, "outcome": "rejected", "problems": [["row", problem]]}
                )
                continue
            batch.append(
                pb.ImportRow(line=start, kind=kind, fields=dict(zip(columns, cells, strict=True)))
            )
            chars += sum(len(cell) for cell in cells)
            if len(batch) >= BATCH_ROWS or chars >= BATCH_CHARS:
                yield batch, refused
                batch, refused, chars = [], [], 0
        if batch or refused:
            yield batch, refused

    def _finish(
        self, future: Any, batch: list[pb.ImportRow], refused: list[dict[str, Any]]
    ) -> None:
        """Waits for one batch's answer and writes its reports, in line order."""
        reports = list(refused)
        if future is not None:
            try:
                reply = future.result()
            except grpc.RpcError as error:
                if self.applied_through == 0:
                    raise  # nothing applied: the plain problem of the failure
                raise _Interrupted(error, self) from None
            reports += [_report(r) for r in reply.rows]
            self.applied_through = batch[-1].line
        for item in sorted(reports, key=lambda r: int(r["line"])):
            self.totals[item["outcome"]] += 1
            self.rows += 1
            self.report.write(json.dumps(item, separators=(",", ":")).encode() + b"\n")

    def answer(self, as_csv: bool) -> Response:
        """The report, streamed from its temporary file."""
        self.report.seek(0)
        totals = {name: self.totals.get(name, 0) for name in OUTCOMES.values()}
        if as_csv:
            response = Response(_csv_lines(self.report), 200, mimetype="text/csv")
            response.headers["X-Import-Id"] = self.options.import_id
            response.headers["X-Import-Totals"] = ", ".join(f"{k}={v}" for k, v in totals.items())
            return response
        head = {
            "import_id": self.options.import_id,
            "dry_run": self.options.dry_run,
            "last_line": self.last_line,
            "totals": totals,
        }
        return Response(_json_chunks(head, self.report), 200, mimetype="application/json")


def _columns(header: list[str], kind: str) -> list[str]:
    """The header's field ids, or 400: nothing is sent for a file with a bad header."""
    columns = [name.strip() for name in header]
    if not any(columns):
        raise invalid("file", "has no header line naming the fields (e.g. email;first_name)")
    violations = []
    if len(columns) > MAX_COLUMNS:
        violations.append(FieldViolation("header", f"at most {MAX_COLUMNS} columns"))
    for index, name in enumerate(columns):
        # The header of a file without one is a row of values: never echo a column's text.
        if name == DISPLAY_NAME or not (name in CORE or split_attribute(name)):
            violations.append(
                FieldViolation(f"header[{index + 1}]", "is not a field of the catalogue")
            )
        elif name in columns[:index]:
            violations.append(FieldViolation(f"header[{index + 1}]", "repeats another column"))
    if kind == "person" and not set(columns) & set(REACHABLE):
        violations.append(
            FieldViolation("header", "a person needs an email or phone column: " + ", ".join(
                (*EMAIL_FIELDS, "phone", "private_phone")))
        )  # fmt: skip
    if kind == "company" and "organisation" not in columns:
        violations.append(FieldViolation("header", "a company needs an organisation column"))
    if violations:
        raise InvalidArgument("the header of the file is not usable", violations)
    return columns


def _check_attributes(batch: list[pb.ImportRow], columns: list[str], options: Options) -> None:
    """400 before anything is written when an attribute column names no declared attribute."""
    reply = upstream().contacts.ImportContacts(
        pb.ImportContactsRequest(
            import_id=options.import_id, first_line=batch[0].line, rows=batch, dry_run=True
        )
    )
    unknown = {
        p.column
        for row in reply.rows
        for p in row.problems
        if p.description == "is not a field of the catalogue"
    }
    violations = [
        FieldViolation(f"header[{i + 1}]", "is not a field of the catalogue")
        for i, name in enumerate(columns)
        if name in unknown
    ]
    if violations:
        raise InvalidArgument("the header of the file is not usable", violations)


def _report(row: pb.RowReport) -> dict[str, Any]:
    item: dict[str, Any] = {"line": row.line, "outcome": OUTCOMES.get(row.outcome, "rejected")}
    if row.contact_id:
        item["contact_id"] = row.contact_id
    if row.problems:
        item["problems"] = [[p.column, p.description] for p in row.problems]
    if row.same_as_line:
        item["same_as_line"] = row.same_as_line
    return item


def _json_chunks(head: dict[str, Any], report: IO[bytes]) -> Iterator[bytes]:
    yield json.dumps(head, separators=(",", ":"))[:-1].encode() + b',"rows":['
    separator = b""
    for line in report:
        item = json.loads(line)
        if "problems" in item:
            item["problems"] = [{"column": c, "description": d} for c, d in item["problems"]]
        yield separator + json.dumps(item, separators=(",", ":")).encode()
        separator = b","
    yield b"]}"


def _csv_lines(report: IO[bytes]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "outcome", "contact_id", "same_as_line", "problems"])
    for line in report:
        item = json.loads(line)
        problems = " | ".join(f"{c}: {d}" for c, d in item.get("problems", ()))
        writer.writerow(
            [
                item["line"],
                item["outcome"],
                item.get("contact_id", ""),
                item.get("same_as_line", ""),
                problems,
            ]
        )
        yield out.getvalue()
        out.seek(0)
        out.truncate()


class _Interrupted(Exception):
    """Contacts failed after some batches were applied."""

    def __init__(self, error: grpc.RpcError, run: _Run):
        self.error = error
        self.run = run


def _interrupted(caught: _Interrupted) -> Response:
    """A problem saying which lines were applied and how to resume."""
    mapped = domain_error(caught.error)
    run = caught.run
    body = {
        "type": problem_type(type(mapped).__name__),
        "title": mapped.title,
        "status": mapped.http_status,
        "detail": f"the import stopped after line {run.applied_through}: lines up to it are "
        f"applied, the others are not; send the same file again with "
        f"import_id={run.options.import_id} to resume",
        "import_id": run.options.import_id,
        "applied_through_line": run.applied_through,
        "totals": dict(run.totals),
    }
    return Response(json.dumps(body), mapped.http_status, mimetype=PROBLEM_JSON)


blueprint.register_error_handler(_Interrupted, _interrupted)


def invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {description}", [FieldViolation(field, description)])


__all__ = ["blueprint", "routes", "json_response"]
