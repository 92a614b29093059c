"""What the API takes and answers: pydantic models, from which the OpenAPI
document is built and against which requests are validated.

Request bodies subclass ``Body`` (unknown fields are refused); query strings
subclass ``Query``, so that errors in them name a parameter, not a pointer.
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Item ids are 32-bit in every database the template supports.
MAX_ID = 2**31 - 1
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

# One line of text with at least one visible character; whitespace around it
# is dropped. Control characters (NUL among them, which PostgreSQL refuses)
# are not allowed in names, and NUL is not allowed in descriptions.
Name = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=120,
        pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
    ),
    AfterValidator(str.strip),
]
Description = Annotated[
    str,
    StringConstraints(max_length=2000, pattern=r"^[^\x00]*$"),
    AfterValidator(str.strip),
]


def in_utc(moment: datetime) -> datetime:
    # SQLite returns datetimes without their time zone, which is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    pass


class PageQuery(Query):
    page: int = Field(1, ge=1, description="Pages are numbered from 1.")
    per_page: int = Field(
        PAGE_SIZE,
        ge=1,
        description=f"Items per page; more than {MAX_PAGE_SIZE} gives {MAX_PAGE_SIZE}.",
    )


class Page(BaseModel):
    page: int
    per_page: int
    pages: int
    total: int
    next: str | None = Field(description="The next page's URL, if there is one.")
    prev: str | None = Field(description="The previous page's URL, if there is one.")


class ItemCreate(Body):
    name: Name
    description: Description = ""


class ItemUpdate(Body):
    """Only the fields sent change."""

    name: Name | None = None
    description: Description | None = None


class ItemOut(BaseModel):
    id: int
    name: str
    description: str
    created_at: Annotated[datetime, AfterValidator(in_utc)]


class ItemPage(Page):
    items: list[ItemOut]
