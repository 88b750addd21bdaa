"""Drives the REST API with authentik's official Python client, unmodified.

Usage: python3 client.py BASE_URL < calls.json

`calls.json` is a list of calls; each is an object with `op` (list,
retrieve, create, update, partial_update, destroy), `token` (a key, or null
for no credentials), and `slug`, `args` (list parameters) or `body` as the
operation needs. With `"construct": true` the request model is built
without the client's own validation, so that bodies the client would refuse
reach the server.

Prints one JSON list, one entry per call: `{"ok": <the parsed model, dumped
as JSON>}` (`{"ok": null}` for destroy), or `{"status": N, "body": <the
error body>}` for an error answer. Anything else (a response the client
cannot parse) is printed as `{"client_error": "..."}`.
"""

import json
import sys

import authentik_client
from authentik_client.api.sources_api import SourcesApi
from authentik_client.exceptions import ApiException
from authentik_client.models.patched_plex_source_request import PatchedPlexSourceRequest
from authentik_client.models.plex_source_request import PlexSourceRequest


def api(base_url, token):
    config = authentik_client.Configuration(host=f"{base_url}/api/v3")
    if token is not None:
        config.access_token = token
    return SourcesApi(authentik_client.ApiClient(config))


def request_model(model, body, construct):
    if construct:
        return model.model_construct(**body)
    return model(**body)


def call(base_url, c):
    sources = api(base_url, c.get("token"))
    op = c["op"]
    construct = c.get("construct", False)
    if op == "list":
        return sources.sources_plex_list(**c.get("args", {}))
    if op == "retrieve":
        return sources.sources_plex_retrieve(c["slug"])
    if op == "create":
        return sources.sources_plex_create(request_model(PlexSourceRequest, c["body"], construct))
    if op == "update":
        return sources.sources_plex_update(
            c["slug"], request_model(PlexSourceRequest, c["body"], construct)
        )
    if op == "partial_update":
        return sources.sources_plex_partial_update(
            c["slug"],
            patched_plex_source_request=request_model(PatchedPlexSourceRequest, c["body"], construct),
        )
    if op == "destroy":
        return sources.sources_plex_destroy(c["slug"])
    raise ValueError(f"unknown op {op}")


def main():
    base_url = sys.argv[1]
    calls = json.load(sys.stdin)
    results = []
    for c in calls:
        try:
            value = call(base_url, c)
            results.append({"ok": None if value is None else value.model_dump(mode="json")})
        except ApiException as err:
            try:
                body = json.loads(err.body) if err.body else None
            except ValueError:
                body = err.body
            results.append({"status": err.status, "body": body})
        except Exception as err:  # noqa: BLE001 - reported to the test
            results.append({"client_error": f"{type(err).__name__}: {err}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
