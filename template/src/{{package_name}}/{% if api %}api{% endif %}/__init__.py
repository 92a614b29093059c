"""Versioned JSON API, mounted at /api/v1, with its OpenAPI document and docs.

To add a resource (widgets, say):

1. its request and response schemas, pydantic models, go in schemas.py;
2. its routes go in a module of their own (widgets.py) on ``bp`` from
   blueprint.py, each decorated like those in routes.py: ``@requires(...)``
   for who may call it, ``@spec.validate(...)`` for what it takes and answers;
3. import that module here.

The OpenAPI document (/api/v1/openapi.json) and the docs (/api/docs) then
describe it, and tests/test_openapi.py fails for a route the document lacks.
"""

from . import routes
from .blueprint import bp
from .docs import bp as docs_bp

__all__ = ["bp", "docs_bp", "routes"]
