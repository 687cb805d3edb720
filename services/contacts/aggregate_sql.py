"""The SQL of an aggregate query: the values the caller may aggregate, and every cell's summary.

PostgreSQL: one statement. Its CTEs pick the contacts in scope, the measured values the
caller may aggregate (the aggregate scope of the field, translated like search's read
scope), one value per contact and dimension (the caller's own component's, else the lowest
owner's among those it may aggregate: DISTINCT ON), then `parts`: one row per (contact,
contributing component) with its cell's coordinates. The keyed hash of each contact and its
powers mod q are computed once per contact; every cell of every grouping set (interior,
margins, grand total) is summarised by GROUPING SETS (CUBE), with per-contact totals first.
When every dimension is a contact's own attribute or its kind and a field is measured, the
per-contact rows come from one pass over contact_values (`_one_pass_statement`: measured
and dimension values read together in primary-key order, grouped once) instead of three
scans joined on text ids.

SQLite (the embedded `crm up`) has neither GROUPING SETS, DISTINCT ON, md5 nor
percentile_cont: there the same `parts` are read with portable SQL and summarised in Python
(aggregate_summary.summarise), which is also the tests' reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meshkit.disclosure import sql_hash
from meshkit.fields import split_attribute
from services.contacts.policy import ReadScope

Q = 2147483647  # the sketch's prime modulus (2^31 - 1)
MISSING = "—"  # the cell of contacts that hold no value of a dimension
# Memory for the statement's hash aggregates (per contact, per cell): spilling 1,000,000
# per-contact groups to disk costs more than the whole rest of the statement.
WORK_MEM = "256MB"


@dataclass(frozen=True)
class Axis:
    """One requested dimension as SQL sees it."""

    source: str  # field, year, kind, component
    field: str = ""
    scope: ReadScope | None = None  # with field and year: whose values may be aggregated


@dataclass(frozen=True)
class Plan:
    measures: tuple[tuple[str, ReadScope], ...]  # (field, scope); empty for a count of contacts
    axes: tuple[Axis, ...]
    reach: str | None  # the caller's component with REACH; None with GROUPING
    component: str  # the caller's component ("" without one): its values come first
    quantile: float | None  # 0..1 with MEDIAN and PERCENTILE
    degrees: int  # how many power sums per sketch


def allowed(alias: str, scope: ReadScope | None, params: dict[str, Any]) -> str:
    """The aggregate scope of a field as a condition on one contact_values row."""
    if scope is None or scope.nothing:
        return "FALSE"
    if scope.everyone:
        return "TRUE"
    parts = []
    if scope.own and scope.component is not None:
        params["own_component"] = scope.component
        parts.append(f"{alias}.owner_component = :own_component")
    if scope.as_member and scope.component is not None:
        params["own_component"] = scope.component
        parts.append(
            "EXISTS (SELECT 1 FROM memberships am WHERE am.contact_id = "
            f"{alias}.contact_id AND am.component_id = :own_component)"
        )
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def _in_scope(plan: Plan, params: dict[str, Any], alias: str) -> str:
    if plan.reach is None:
        return "TRUE"
    params["reach"] = plan.reach
    return (
        "EXISTS (SELECT 1 FROM memberships sm WHERE sm.contact_id = "
        f"{alias}.contact_id AND sm.component_id = :reach)"
    )


def measured_sql(plan: Plan, params: dict[str, Any]) -> str:
    """(contact_id, owner, x): one row per contact and contributing component."""
    if not plan.measures:  # a count of contacts: the components that know each one
        return (
            "SELECT mm.contact_id, mm.component_id AS owner, 1 AS x FROM memberships mm"
            f" WHERE {_in_scope(plan, params, 'mm')}"
        )
    fields = []
    for index, (field, scope) in enumerate(plan.measures):
        params[f"measure{index}"] = field
        fields.append(f"(mv.field = :measure{index} AND {allowed('mv', scope, params)})")
    return (
        "SELECT mv.contact_id, mv.owner_component AS owner, mv.number_value AS x"
        " FROM contact_values mv WHERE mv.number_value IS NOT NULL"
        f" AND {_in_scope(plan, params, 'mv')} AND ({' OR '.join(fields)})"
    )


def candidates_sql(axis: Axis, index: int, plan: Plan, params: dict[str, Any]) -> str:
    """(contact_id, owner, d): every value of a FIELD/YEAR dimension the caller may aggregate."""
    params[f"dim{index}"] = axis.field
    alias = f"dv{index}"
    value = f"substr({alias}.value, 1, 4)" if axis.source == "year" else f"{alias}.value"
    return (
        f"SELECT {alias}.contact_id, {alias}.owner_component AS owner, {value} AS d"
        f" FROM contact_values {alias} WHERE {alias}.field = :dim{index}"
        f" AND {_in_scope(plan, params, alias)} AND {allowed(alias, axis.scope, params)}"
    )


def postgres_statement(plan: Plan, secret: str) -> tuple[str, dict[str, Any]]:
    """The one statement that summarises every cell; its rows, see `postgres_rows`.

    Rows are tagged: ('cell', g, coordinates..., contacts, total, magnitude, top, quantile,
    sums...) and ('component', g, coordinates..., owner, contacts, magnitude).
    """
    params: dict[str, Any] = {"secret": secret, "caller": plan.component}
    if _one_pass(plan):
        return _one_pass_statement(plan, params), params
    ctes = [f"measured AS ({measured_sql(plan, params)})"]
    joins = []
    columns = []
    for i, axis in enumerate(plan.axes):
        if axis.source in ("field", "year"):
            if is_attribute(axis.field):  # one owner holds it: one value per contact
                ctes.append(f"d{i} AS ({candidates_sql(axis, i, plan, params)})")
            else:
                ctes.append(
                    f"d{i} AS (SELECT DISTINCT ON (contact_id) contact_id, d"
                    f" FROM ({candidates_sql(axis, i, plan, params)}) c{i}"
                    " ORDER BY contact_id, (owner = :caller) DESC, owner)"
                )
            joins.append(f"LEFT JOIN d{i} ON d{i}.contact_id = p.contact_id")
            columns.append(f"coalesce(d{i}.d, '{MISSING}') AS c{i}")
        elif axis.source == "kind":
            joins.append(f"JOIN contacts k{i} ON k{i}.id = p.contact_id")
            columns.append(f"k{i}.kind AS c{i}")
        else:  # component: the contributing (owner) component
            columns.append(f"p.owner AS c{i}")
    coords = [f"c{i}" for i in range(len(plan.axes))]
    quantile = "NULL::float8"
    if plan.quantile is not None:
        params["quantile"] = plan.quantile
        quantile = (
            "percentile_cont(CAST(:quantile AS float8)) WITHIN GROUP (ORDER BY total::float8)"
        )
    if any(a.source == "component" for a in plan.axes):
        ctes, cells, components = _by_component(plan, ctes, joins, columns, coords, quantile)
    else:
        ctes, cells, components = _by_contact(plan, ctes, joins, columns, coords, quantile)
    return f"WITH {', '.join(ctes)} {cells} UNION ALL {components}", params


def _sums(degrees: int) -> str:
    return ", ".join(f"sum(p{j})" for j in range(1, degrees + 1))


def _flags(coords: list[str]) -> tuple[str, str]:
    """GROUPING(...) and CUBE(...) of the coordinates (constants without dimensions)."""
    if not coords:
        return "0", "()"
    return f"GROUPING({', '.join(coords)})", f"CUBE({', '.join(coords)})"


def _by_contact(
    plan: Plan,
    ctes: list[str],
    joins: list[str],
    columns: list[str],
    coords: list[str],
    quantile: str,
) -> tuple[list[str], str, str]:
    """Every dimension is the contact's own: one cell per contact, one pass per contact.

    The measured rows are gathered per contact once (total, size, and each contributing
    component's part as two arrays), the dimensions joined to the contacts, each contact
    hashed once (a LATERAL subquery: not flattened, so md5 runs once per contact).
    """
    listed = "".join(f"{c}, " for c in columns)
    ctes = [
        *ctes,
        "per_contact AS MATERIALIZED (SELECT p.contact_id, p.total, p.size, p.owners, p.sizes,"
        f" {listed}{_powers(plan.degrees)} FROM (SELECT contact_id, sum(x) AS total,"
        " sum(abs(x)) AS size, array_agg(owner) AS owners, array_agg(abs(x)) AS sizes"
        f" FROM measured GROUP BY contact_id) p {' '.join(joins)} CROSS JOIN LATERAL"
        f" (SELECT {sql_hash('secret', 'p.contact_id')} AS h OFFSET 0) hh)",
    ]
    return _aggregates(plan, ctes, coords, quantile)


def _aggregates(
    plan: Plan, ctes: list[str], coords: list[str], quantile: str
) -> tuple[list[str], str, str]:
    """Every cell's and every (cell, component)'s summary from `per_contact`."""
    grouping, cube = _flags(coords)
    coordinate_list = "".join(f"{c}, " for c in coords)
    cells = (
        f"SELECT 'cell' AS tag, {grouping} AS g, {coordinate_list}NULL AS owner,"
        " count(*) AS contacts, sum(total) AS total, sum(size) AS magnitude, max(size) AS top,"
        f" {quantile} AS quantile, {_sums(plan.degrees)} FROM per_contact GROUP BY {cube}"
    )
    nulls = ", ".join("NULL" for _ in range(plan.degrees))
    group = f"GROUP BY o.owner, {cube}" if coords else "GROUP BY o.owner"
    components = (
        f"SELECT 'component' AS tag, {grouping} AS g, {coordinate_list}o.owner,"
        " count(*) AS contacts, NULL AS total, sum(o.size) AS magnitude, NULL AS top,"
        f" NULL::float8 AS quantile, {nulls}"
        " FROM per_contact CROSS JOIN LATERAL unnest(owners, sizes) AS o(owner, size)"
        f" {group}"
    )
    return ctes, cells, components


def _by_component(
    plan: Plan,
    ctes: list[str],
    joins: list[str],
    columns: list[str],
    coords: list[str],
    quantile: str,
) -> tuple[list[str], str, str]:
    """A COMPONENT dimension: a contact falls in one cell per contributing component, so its
    totals are taken per grouping set (GROUP BY contact_id, CUBE(...)) first."""
    grouping, cube = _flags(coords)
    select_columns = ", ".join(["p.contact_id", "p.owner", "p.x", *columns])
    ctes = [
        *ctes,
        f"parts AS MATERIALIZED (SELECT {select_columns} FROM measured p {' '.join(joins)})",
        f"hashed AS MATERIALIZED (SELECT contact_id, {sql_hash('secret', 'contact_id')} AS h"
        " FROM (SELECT DISTINCT contact_id FROM parts) u)",
        f"powers AS MATERIALIZED (SELECT contact_id, {_powers(plan.degrees)} FROM hashed)",
        f"per_contact AS (SELECT {grouping} AS g, {', '.join([*coords, 'contact_id'])},"
        f" sum(x) AS total, sum(abs(x)) AS size FROM parts GROUP BY contact_id, {cube})",
    ]
    coordinate_list = "".join(f"{c}, " for c in coords)
    cells = (
        f"SELECT 'cell' AS tag, g, {coordinate_list}NULL AS owner,"
        " count(*) AS contacts, sum(total) AS total, sum(size) AS magnitude, max(size) AS top,"
        f" {quantile} AS quantile, {_sums(plan.degrees)}"
        " FROM per_contact pc JOIN powers w ON w.contact_id = pc.contact_id"
        f" GROUP BY {', '.join(['g', *coords])}"
    )
    nulls = ", ".join("NULL" for _ in range(plan.degrees))
    group = f"GROUP BY owner, {cube}" if coords else "GROUP BY owner"
    components = (
        f"SELECT 'component' AS tag, {grouping} AS g, {coordinate_list}owner,"
        " count(*) AS contacts, NULL AS total, sum(abs(x)) AS magnitude, NULL AS top,"
        f" NULL::float8 AS quantile, {nulls} FROM parts {group}"
    )
    return ctes, cells, components


def _one_pass(plan: Plan) -> bool:
    """Whether every per-contact figure can come from one pass over contact_values: measured
    values (not a count of members), no COMPONENT axis, FIELD/YEAR axes of attributes only
    (one holder: one value per contact, no DISTINCT ON to choose)."""
    return bool(plan.measures) and all(
        a.source == "kind" or (a.source in ("field", "year") and is_attribute(a.field))
        for a in plan.axes
    )


def _one_pass_statement(plan: Plan, params: dict[str, Any]) -> str:
    """`_by_contact`'s statement with its per-contact rows made in one pass: the measured
    values and the dimensions' values are read together, in contact order (the primary
    key), and grouped once, instead of three scans joined on text ids (about 15% less time
    at a million contacts; the same rows)."""
    measured = []
    for index, (field, scope) in enumerate(plan.measures):
        params[f"measure{index}"] = field
        measured.append(f"(v.field = :measure{index} AND {allowed('v', scope, params)})")
    m = f"(v.number_value IS NOT NULL AND ({' OR '.join(measured)}))"
    wanted = [m]
    joins = []
    columns = []
    picked = []
    for i, axis in enumerate(plan.axes):
        if axis.source == "kind":
            joins.append(f"JOIN contacts k{i} ON k{i}.id = p.contact_id")
            columns.append(f"k{i}.kind AS c{i}")
            continue
        params[f"dim{i}"] = axis.field
        condition = f"(v.field = :dim{i} AND {allowed('v', axis.scope, params)})"
        value = "substr(v.value, 1, 4)" if axis.source == "year" else "v.value"
        wanted.append(condition)
        picked.append(f", max({value}) FILTER (WHERE {condition}) AS d{i}")
        columns.append(f"coalesce(p.d{i}, '{MISSING}') AS c{i}")
    per_contact = (
        "SELECT v.contact_id, sum(v.number_value) FILTER (WHERE {m}) AS total,"
        " sum(abs(v.number_value)) FILTER (WHERE {m}) AS size,"
        " array_agg(v.owner_component) FILTER (WHERE {m}) AS owners,"
        " array_agg(abs(v.number_value)) FILTER (WHERE {m}) AS sizes{picked}"
        " FROM contact_values v WHERE {scope} AND ({wanted})"
        " GROUP BY v.contact_id HAVING count(*) FILTER (WHERE {m}) > 0"
    ).format(
        m=m,
        picked="".join(picked),
        scope=_in_scope(plan, params, "v"),
        wanted=" OR ".join(wanted),
    )
    coords = [f"c{i}" for i in range(len(plan.axes))]
    listed = "".join(f"{c}, " for c in columns)
    quantile = "NULL::float8"
    if plan.quantile is not None:
        params["quantile"] = plan.quantile
        quantile = (
            "percentile_cont(CAST(:quantile AS float8)) WITHIN GROUP (ORDER BY total::float8)"
        )
    ctes = [
        "per_contact AS MATERIALIZED (SELECT p.contact_id, p.total, p.size, p.owners, p.sizes,"
        f" {listed}{_powers(plan.degrees)} FROM ({per_contact}) p {' '.join(joins)}"
        f" CROSS JOIN LATERAL (SELECT {sql_hash('secret', 'p.contact_id')} AS h OFFSET 0) hh)"
    ]
    ctes, cells, components = _aggregates(plan, ctes, coords, quantile)
    return f"WITH {', '.join(ctes)} {cells} UNION ALL {components}"


def is_attribute(field: str) -> bool:
    """A component's attribute: only that component holds values of it."""
    return split_attribute(field) is not None


def _powers(degrees: int) -> str:
    """p1..pd = h^j mod q, each from the previous (products of two values below 2^31)."""
    expressions = ["h"]
    for _ in range(1, degrees):
        expressions.append(f"(({expressions[-1]}) * h % {Q})")
    return ", ".join(f"{e} AS p{j}" for j, e in enumerate(expressions, start=1))


def key_of(flags: int, coordinates: Sequence[str | None]) -> tuple[str | None, ...]:
    """A cell's key from GROUPING()'s bit mask (the first dimension is the highest bit)."""
    n = len(coordinates)
    return tuple(None if flags >> (n - 1 - i) & 1 else coordinates[i] for i in range(n))
