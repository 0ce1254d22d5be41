"""The steps the simulated providers' tests repeat: a tenant with its token, calls to its mock
API through the test client, and triggers. Every answer a `Tenant` gets is checked against the
mock's own OpenAPI document (`Documented`): a documented status, content type and shape."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

DOC_URI = "urn:receiver:mock"


class Documented:
    """A mock's OpenAPI document, fetched from the app, and the check of an answer against it."""

    def __init__(self, client: FlaskClient, provider: str) -> None:
        answer = client.get(f"/mock/{provider}/openapi.json")
        assert answer.status_code == 200
        self.doc: dict[str, Any] = answer.get_json()
        self.registry = Registry().with_resource(
            DOC_URI, Resource(contents=self.doc, specification=DRAFT202012)
        )
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in self.doc["paths"]
        ]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The JSON Pointer and the documented operation a request goes to (None: not
        documented, e.g. a 405)."""
        for pattern, template in self.templates:
            if pattern.match(path):
                found = self.doc["paths"][template].get(method.lower())
                escaped = template.replace("~", "~0").replace("/", "~1")
                return (f"/paths/{escaped}/{method.lower()}", found) if found else None
        return None

    def check(self, method: str, path: str, answer: TestResponse) -> None:
        """Fail unless the answer's status, content type and body are as documented."""
        found = self.operation(method, path.split("?", 1)[0])
        if found is None:
            return
        pointer, operation = found
        where = f"{method} {path} -> {answer.status_code}"
        status = str(answer.status_code)
        documented = operation["responses"].get(status)
        assert documented is not None, f"{where}: undocumented status"
        pointer = f"{pointer}/responses/{status}"
        if "$ref" in documented:
            pointer = documented["$ref"].removeprefix("#")
            documented = self.doc["components"]["responses"][pointer.rsplit("/", 1)[1]]
        content = documented.get("content")
        if not content:
            assert not answer.data, f"{where}: a body where none is documented"
            return
        assert answer.mimetype in content, f"{where}: {answer.mimetype} is not documented"
        media = answer.mimetype.replace("~", "~0").replace("/", "~1")
        validator = Draft202012Validator(
            {"$ref": f"{DOC_URI}#{pointer}/content/{media}/schema"},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        body = answer.get_json()
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{where}: {errors}"


class Tenant:
    """A tenant of a mock (an organization, or an ApiTree user) and a token of it."""

    def __init__(self, client: FlaskClient, provider: str, **request: Any) -> None:
        self.client = client
        self.provider = provider
        self.base = f"/mock/{provider}"
        answer = client.post(f"{self.base}/tokens", json=request)
        assert answer.status_code == 201, answer.get_json()
        self.documented = Documented(client, provider)
        self.documented.check("POST", "/tokens", answer)
        issued = answer.get_json()
        self.token: str = issued["token"]
        self.id: str = issued.get("organization") or issued["user"]
        self.scopes: list[str] = issued.get("scopes", [])

    def call(
        self, method: str, path: str, json: Any = None, *, token: str | None = None, **kwargs: Any
    ) -> TestResponse:
        """A request to the mock (``path`` below its base) with this tenant's token, or
        ``token`` ("" for none)."""
        used = self.token if token is None else token
        headers = {"Authorization": f"Bearer {used}"} if used else {}
        headers.update(kwargs.pop("headers", {}))
        answer = self.client.open(
            f"{self.base}{path}", method=method, json=json, headers=headers, **kwargs
        )
        self.documented.check(method, path, answer)
        return answer

    def ok(self, method: str, path: str, json: Any = None, status: int = 200, **kwargs: Any) -> Any:
        """The decoded answer of a call that must succeed with ``status``."""
        answer = self.call(method, path, json, **kwargs)
        assert answer.status_code == status, (answer.status_code, answer.get_json())
        return answer.get_json()

    def trigger(self, **body: Any) -> dict[str, Any]:
        """POST /events (the simulator's trigger); its answer, which must be a 200."""
        answer = self.client.post(f"{self.base}/events", json=body)
        self.documented.check("POST", "/events", answer)
        assert answer.status_code == 200, answer.get_json()
        result: dict[str, Any] = answer.get_json()
        return result


def error_of(answer: TestResponse, status: int) -> dict[str, Any]:
    """receiver's error object of a refusal (Akinon's and Qovery's mocks)."""
    assert answer.status_code == status, (answer.status_code, answer.get_json())
    assert answer.mimetype == "application/json"
    error: dict[str, Any] = answer.get_json()["error"]
    assert error["code"] and error["message"]
    return error


def delivered_paths(server: Any) -> list[str]:
    """The paths a pytest-httpserver target was sent, in order."""
    return [request.path for request, _ in server.log]
