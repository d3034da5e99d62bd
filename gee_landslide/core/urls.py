"""URLs in messages and settings: redact what may be secret, accept only http(s) where served.

A webhook URL carries its secret in the path (``https://hooks.slack.com/services/T0/B0/SECRET``)
or the query, and an Apprise URL in its user part (``tgram://BOTTOKEN/CHAT``), so a message or
log line shows only ``scheme://host``: enough to say which target failed, nothing to replay.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from gee_landslide.core.errors import GeeLandslideError

_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
# urllib3 (under Apprise) quotes only the path: "Max retries exceeded with url: /services/SECRET"
_BARE_PATH_RE = re.compile(r"(\burl[:=]\s*['\"]?)/[^\s'\")]*", re.IGNORECASE)


class UrlError(GeeLandslideError, ValueError):
    """A URL the project cannot use where it was given."""


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of a URL, dropping user, password, path, query and fragment."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme:
        return "<URL>"
    # an Apprise URL's "host" is often the token itself (tgram://TOKEN/...): keep only web hosts
    if parts.scheme not in ("http", "https"):
        return f"{parts.scheme}://…"
    return f"{parts.scheme}://{host}{port}"


def redact_urls(text: str) -> str:
    """``text`` with every URL in it redacted (for exception messages that quote the URL)."""
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), str(text))
    return _BARE_PATH_RE.sub(lambda m: m.group(1) + "/…", text)


class RedactUrlsFilter(logging.Filter):
    """A logging filter that redacts every URL in a record (httpx logs each request's full URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_logger(name: str) -> None:
    """Redact URLs in everything the logger ``name`` records (idempotent)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactUrlsFilter) for f in logger.filters):
        logger.addFilter(RedactUrlsFilter())


def check_http_url(url: str, field: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host (feed links are served to browsers)."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok or any(c.isspace() or c in "<>\"'" for c in url):
        raise UrlError(f"{field} {redact_url(url)!r} must be an absolute http:// or https:// URL with a host",
                       field=field, value=redact_url(url), hint="e.g. https://alerts.example.org")
    return url
