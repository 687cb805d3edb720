"""Mapping between the indicators' messages and the use cases' values."""

from __future__ import annotations

from meshkit.disclosure import Statistic
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.aggregates import AggregateQuery, Answer, Scope
from services.contacts.indicators_admin import Dimension, DisclosureSettings, Source
from services.contacts.privacy_mapping import rfc3339

_SOURCES = {
    pb.DIMENSION_SOURCE_FIELD: Source.FIELD,
    pb.DIMENSION_SOURCE_YEAR: Source.YEAR,
    pb.DIMENSION_SOURCE_KIND: Source.KIND,
    pb.DIMENSION_SOURCE_COMPONENT: Source.COMPONENT,
}
_SOURCE_MESSAGES = {v: k for k, v in _SOURCES.items()}
_STATISTICS = {
    pb.STATISTIC_COUNT: Statistic.COUNT,
    pb.STATISTIC_SUM: Statistic.SUM,
    pb.STATISTIC_MEAN: Statistic.MEAN,
    pb.STATISTIC_MEDIAN: Statistic.MEDIAN,
    pb.STATISTIC_PERCENTILE: Statistic.PERCENTILE,
}
_SCOPES = {pb.AGGREGATE_SCOPE_REACH: Scope.REACH, pb.AGGREGATE_SCOPE_GROUPING: Scope.GROUPING}
_REASONS = {
    "too_few_contacts": pb.SUPPRESSION_REASON_TOO_FEW_CONTACTS,
    "too_few_components": pb.SUPPRESSION_REASON_TOO_FEW_COMPONENTS,
    "dominated": pb.SUPPRESSION_REASON_DOMINATED,
    "complementary": pb.SUPPRESSION_REASON_COMPLEMENTARY,
}


def dimension_of(message: pb.Dimension) -> Dimension:
    return Dimension(
        message.id,
        message.label_fr,
        message.label_en,
        _SOURCES.get(message.source),  # type: ignore[arg-type]
        message.field,
    )


def dimension_message(dimension: Dimension) -> pb.Dimension:
    return pb.Dimension(
        id=dimension.id,
        label_fr=dimension.label_fr,
        label_en=dimension.label_en,
        source=_SOURCE_MESSAGES[dimension.source]
        if dimension.source
        else pb.DIMENSION_SOURCE_UNSPECIFIED,
        field=dimension.field,
    )


def rules_message(rules: DisclosureSettings) -> pb.DisclosureRules:
    return pb.DisclosureRules(
        k=rules.k,
        p=rules.p,
        min_components=rules.min_components,
        updated_by=rules.updated_by,
        updated_at=rules.updated_at.isoformat() if rules.updated_at else "",
    )


def query_of(message: pb.AggregateRequest) -> AggregateQuery:
    return AggregateQuery(
        measure=message.measure,
        statistic=_STATISTICS.get(message.statistic),
        percentile=message.percentile,
        dimensions=tuple(message.dimensions),
        scope=_SCOPES.get(message.scope),
    )


def answer_message(answer: Answer) -> pb.AggregateResponse:
    return pb.AggregateResponse(
        cells=[
            pb.AggregateCell(
                coordinates=[pb.Coordinate(value=c.value, total=c.total) for c in cell.coordinates],
                published=cell.published,
                value=cell.value,
                reason=_REASONS.get(cell.reason, pb.SUPPRESSION_REASON_UNSPECIFIED),
            )
            for cell in answer.cells
        ],
        rules=pb.DisclosureRules(k=answer.k, p=answer.p, min_components=answer.min_components),
        query=answer.query,
        as_of=rfc3339(answer.as_of),
    )
