"""Request and response models of the indicators (pydantic v2), for indicators.py.

The ranges are the contacts service's own (services/contacts/indicators_admin.py and
aggregates.py), imported, never re-typed; what needs the catalogue or the dimensions in
force (a measure that is a number field, a dimension that exists) stays with the service,
whose field names are the same (`measure`, `dimensions[0]`, `field`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.contacts import indicator_rules as rules
from services.gateway.schemas import anchored

StatisticWord = Literal["count", "sum", "mean", "median", "percentile"]
ScopeWord = Literal["grouping", "reach"]
SourceWord = Literal["field", "year", "kind", "component"]
DimensionId = Annotated[
    str,
    Field(
        pattern=anchored(rules.DIMENSION_ID),
        description="1 to 40 of a-z, 0-9 and `_`, starting with a letter, e.g. `sector`.",
    ),
]
Label = Annotated[str, Field(min_length=1, max_length=200)]


def _closed(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [example]})


class IndicatorsQuery(BaseModel):
    """One aggregate: a statistic of a number field (or a count), grouped by dimensions."""

    model_config = ConfigDict(extra="forbid")

    measure: str = Field(
        "",
        max_length=120,
        description="A number field (`sciences.taxe_apprentissage`), or `*.<key>` for every "
        "component's number attribute of that key; empty with `statistic=count`: contacts.",
    )
    statistic: StatisticWord = Field("count", description="What each cell gives.")
    percentile: float | None = Field(
        None, ge=0, le=100, description="0 to 100, with `statistic=percentile`."
    )
    dimension: list[DimensionId] = Field(
        default_factory=list,
        max_length=rules.MAX_DIMENSIONS,
        description="The dimensions to group by, in order (repeat the parameter), at most 3.",
    )
    scope: ScopeWord = Field(
        "grouping",
        description="`reach`: the contacts your component is a member of; `grouping`: all.",
    )
    format: Literal["json", "csv"] | None = Field(
        None, description="`csv` answers CSV (as `Accept: text/csv` does)."
    )

    @field_validator("dimension", mode="before")
    @classmethod
    def _one_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class Coordinate(BaseModel):
    dimension: str
    value: str = Field(description="The dimension's value; empty on a total.")
    total: bool = Field(description="A margin: every value of the dimension.")


class IndicatorCell(BaseModel):
    coordinates: list[Coordinate]
    published: bool
    value: str | None = Field(
        None, description="The figure, a decimal (a count is an integer), when published."
    )
    reason: (
        Literal["too_few_contacts", "too_few_components", "dominated", "complementary"] | None
    ) = Field(None, description="Why the cell is suppressed, when it is.")


class DisclosureRules(BaseModel):
    k: int = Field(description="At least this many contacts per published cell.")
    p: int = Field(description="Percent: no contact nor component contributes more.")
    min_components: int = Field(description="Contributing components per published cell.")
    updated_by: str | None = None
    updated_at: str | None = None


class Indicators(BaseModel):
    cells: list[IndicatorCell] = Field(
        description="Interior cells first, then the totals; the grand total is always there."
    )
    rules: DisclosureRules
    query: str = Field(description="How the query auditor names this query in a refusal.")
    as_of: str | None = Field(
        None,
        description="RFC 3339: the figures are those of this time (pre-computed summaries "
        "are at most CONTACTS_AGGREGATE_SNAPSHOT_SECONDS old).",
    )


class DimensionBody(BaseModel):
    """A dimension indicators may be grouped by (admin)."""

    model_config = _closed(
        {
            "label_fr": "Secteur",
            "label_en": "Sector",
            "source": "field",
            "field": "sciences.secteur",
        }
    )

    label_fr: Label
    label_en: Label
    source: SourceWord
    field: str | None = Field(
        None,
        max_length=120,
        description="With `field` (a text, enum or boolean field) and `year` (a date field).",
    )


class Dimension(BaseModel):
    id: str
    label_fr: str
    label_en: str
    source: SourceWord
    field: str | None = None


class DimensionList(BaseModel):
    dimensions: list[Dimension]
    next_page_token: str = Field(description="Empty on the last page.")


class DisclosureRulesBody(BaseModel):
    """The publication rules (admin)."""

    model_config = _closed({"k": 5, "p": 80, "min_components": 2})

    k: int = Field(ge=rules.K_RANGE[0], le=rules.K_RANGE[1])
    p: int = Field(ge=rules.P_RANGE[0], le=rules.P_RANGE[1])
    min_components: int = Field(
        2, ge=rules.MIN_COMPONENTS_RANGE[0], le=rules.MIN_COMPONENTS_RANGE[1]
    )
