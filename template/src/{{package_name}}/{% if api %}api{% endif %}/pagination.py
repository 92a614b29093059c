"""Pages of a listing, with links to the pages around them."""

from typing import Any

from flask import request, url_for
from sqlalchemy import Select, func

from ..extensions import db
from .schemas import MAX_PAGE_SIZE, PageQuery


def paginate(select: Select[Any], query: PageQuery) -> dict[str, Any]:
    """The page of ``select``'s rows that ``query`` asks for, as the fields of a
    ``Page``: a ``per_page`` above the maximum is capped, and a page past the
    last is empty (and costs the database no offset it cannot represent)."""
    per_page = min(query.per_page, MAX_PAGE_SIZE)
    count = db.select(func.count()).select_from(select.order_by(None).subquery())
    total = db.session.execute(count).scalar_one()
    pages = -(-total // per_page)
    rows: list[Any] = []
    if query.page <= pages:
        window = select.limit(per_page).offset((query.page - 1) * per_page)
        rows = list(db.session.execute(window).scalars())
    return {
        "items": rows,
        "page": query.page,
        "per_page": per_page,
        "pages": pages,
        "total": total,
        "next": page_url(query.page + 1, per_page) if query.page < pages else None,
        "prev": page_url(min(query.page - 1, pages), per_page)
        if query.page > 1 and pages
        else None,
    }


def page_url(page: int, per_page: int) -> str:
    arguments = {**(request.view_args or {}), "page": page, "per_page": per_page}
    return url_for(str(request.endpoint), **arguments)
