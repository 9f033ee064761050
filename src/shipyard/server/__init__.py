"""The model server: an ASGI app serving every endpoint in the store.

``shipyard serve`` runs it on uvicorn; :func:`create_app` gives the app itself, for
tests (httpx's ASGI transport) or to mount in another ASGI server.
"""

from shipyard.server._app import LOG_PREDICTIONS_ENV, app_from_env, create_app

__all__ = ["LOG_PREDICTIONS_ENV", "app_from_env", "create_app"]
