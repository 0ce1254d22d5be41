"""Simulated providers: stand-ins for the webhook-management APIs of Akinon ABP, ApiTree's
Event-API and Qovery, and for the deliveries those providers send.

A team integrating with one of them writes two pieces of code: the client that registers,
lists, updates and deletes its webhooks through the provider's API, and the handler that receives
the deliveries. These modules let both run against receiver, offline:

- ``model``: what every simulator shares (its errors, the settings for what a provider leaves
  undocumented, tenants, triggers) and the `Simulator` base class.
- ``akinon``, ``apitree``, ``qovery``: each provider's documented rules (ids, fields, defaults,
  filters, scopes), how its webhooks look in its API, and how its deliveries are built.
- ``registry``: the three, by id.
- ``documents``: each mock's OpenAPI 3.1 document (data in ``openapi/``), which is also the
  schema request bodies are checked against, so the document and the checks cannot drift.
- ``state``: tenants, tokens, webhooks, settings and resets in the database.
- ``triggering``: "this event happened": the matching webhooks, a delivery for each (the
  catalog's example, as the provider sends it), sent with the one outgoing-HTTP engine and
  recorded.

Flask-free: the web layer (``receiver.web.mocks``) and the ``receiver simulate`` command only
translate.
"""
