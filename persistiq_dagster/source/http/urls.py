"""Where a path of the API is: the base URL with or without its trailing slash
(``https://api.persistiq.com/v1`` is how most people type it) gives the same URL."""


def api_url(base_url: str, path: str) -> str:
    """``base_url`` joined with ``path``: ``.../v1`` + ``leads`` is ``.../v1/leads``.

    Unlike ``urljoin``, which drops the last segment of a base without a trailing slash and
    would ask for ``.../leads``."""
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"
