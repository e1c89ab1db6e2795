"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis strategies driven by
hypothesis): no 5xx ever, and every response conforms to the documented schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from .conftest import ADMIN, MakeApp, put_product
from .support import ChainEnv

EXAMPLES = 25
#: No 5xx; every status code, content type and body as documented.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def test_no_server_errors_and_responses_match_the_schema(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    put_product(client, sku="MINER-1")
    schema = schemathesis.openapi.from_wsgi("/backorders/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    ran: dict[str, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: Any) -> None:
            headers = dict(ADMIN) if "/admin/" in case.path else {}
            case.call_and_validate(headers=headers, checks=CHECKS)
            ran[case.operation.label] = ran.get(case.operation.label, 0) + 1

        fuzz()
    assert sum(ran.values()) >= len(operations) * 5, ran
