"""Optional notifications of NEW alerts, of stage changes (a candidate confirmed or cancelled) and of alerts that grew over new ground: a webhook (HTTP POST of the GeoJSON Feature) and/or Apprise.

Off by default: a :class:`Notifier` with no target does nothing, and the store only notifies
when the caller passes one (``feeds.merge_and_publish(..., notifier=...)`` or :func:`notify_new_alerts`
with one URL: ``http(s)://`` = webhook, anything else = Apprise). ``Notifier.from_env()`` reads ``GEE_LANDSLIDE_WEBHOOK_URL`` and
``GEE_LANDSLIDE_APPRISE_URLS`` (whitespace- or comma-separated Apprise URLs, e.g.
``mailto://...``, ``tgram://...``, ``slack://...``). Every failure is logged and swallowed:
a notification problem never fails a monitoring pass. A webhook or Apprise URL carries its secret
(token, key) in its path or user part, so every failure line shows only ``scheme://host``
(:func:`gee_landslide.core.urls.redact_url`), exception texts included.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gee_landslide.core.settings import get_settings
from gee_landslide.core.urls import redact_logger, redact_url, redact_urls

if TYPE_CHECKING:
    from gee_landslide.monitor.alert_record import Alert

log = logging.getLogger(__name__)
for _client_logger in ("httpx", "apprise"):  # both log the full target URL of a request
    redact_logger(_client_logger)

WEBHOOK_ENV = "GEE_LANDSLIDE_WEBHOOK_URL"
APPRISE_ENV = "GEE_LANDSLIDE_APPRISE_URLS"


@dataclass
class NotifyReport:
    sent: int = 0
    failed: list[str] = field(default_factory=list)  # one line per failure, URLs redacted

    def fail(self, target: str, what: str | BaseException) -> None:
        """Record one failure; an exception's text is redacted (httpx quotes the full URL)."""
        text = what if isinstance(what, str) else (str(what) or type(what).__name__)
        self.failed.append(f"{target}: {redact_urls(text)}")


@dataclass(frozen=True)
class Notifier:
    webhook_url: str | None = field(default=None, repr=False)  # secrets: never in a repr or log
    apprise_urls: tuple[str, ...] = field(default=(), repr=False)
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> Notifier:
        s = get_settings()
        return cls(webhook_url=s.webhook_url, apprise_urls=s.apprise_url_list)

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or self.apprise_urls)

    def notify(self, alerts: Sequence[Alert], *, base_url: str) -> NotifyReport:
        """Send one notification per alert to every target; never raises."""
        report = NotifyReport()
        if not self.enabled or not alerts:
            return report
        if self.webhook_url:
            self._webhook(alerts, base_url, report)
        if self.apprise_urls:
            self._apprise(alerts, base_url, report)
        if report.failed:
            log.warning("%d notification(s) failed: %s", len(report.failed), "; ".join(report.failed))
        return report

    def notify_failure(self, title: str, body: str, details: Mapping[str, Any] | None = None) -> NotifyReport:
        """Tell every target that something failed (a monitoring pass); never raises.

        A failed scheduled pass is otherwise only visible to someone who looks at Prefect: the
        feed keeps its last good state and says nothing. The webhook gets one JSON object
        (``{"event": "failure", "title", "message", ...details}``), Apprise one message.
        """
        report = NotifyReport()
        if not self.enabled:
            return report
        if self.webhook_url:
            try:
                import httpx

                payload = {"event": "failure", "title": title, "message": body, **(details or {})}
                r = httpx.post(self.webhook_url, json=payload, timeout=self.timeout_s)
                r.raise_for_status()
                report.sent += 1
            except Exception as exc:
                report.fail(f"webhook {redact_url(self.webhook_url)}", type(exc).__name__)
        if self.apprise_urls:
            try:
                import apprise

                ap = apprise.Apprise()
                for url in self.apprise_urls:
                    ap.add(url)
                if len(ap) and ap.notify(title=title, body=body):
                    report.sent += 1
                else:
                    report.fail("apprise", "delivery failed")
            except Exception as exc:
                report.fail("apprise", type(exc).__name__)
        if report.failed:
            log.warning("%d failure notification(s) failed: %s", len(report.failed), "; ".join(report.failed))
        return report

    def _webhook(self, alerts: Sequence[Alert], base_url: str, report: NotifyReport) -> None:
        try:
            import httpx

            with httpx.Client(timeout=self.timeout_s) as client:
                for a in alerts:
                    try:
                        r = client.post(
                            self.webhook_url or "",
                            json=a.to_feature(base_url),
                            headers={"Content-Type": "application/geo+json"},
                        )
                        r.raise_for_status()
                        report.sent += 1
                    except Exception as exc:
                        report.fail(f"webhook {redact_url(self.webhook_url or '')} {a.alert_id}", exc)
        except Exception as exc:
            report.fail(f"webhook {redact_url(self.webhook_url or '')}", exc)

    def _apprise(self, alerts: Sequence[Alert], base_url: str, report: NotifyReport) -> None:
        try:
            import apprise

            ap = apprise.Apprise()
            for url in self.apprise_urls:
                if not ap.add(url):
                    report.fail("apprise", f"unusable URL {redact_url(url)}")
            if len(ap) == 0:
                return
            from gee_landslide.monitor.cap import alert_description

            for a in alerts:
                body = f"{alert_description(a)}\nMap: {base_url.rstrip('/')}/#{a.alert_id}"
                if a.quicklook:
                    body += f"\nQuick-look: {base_url.rstrip('/')}/{a.quicklook}"
                from gee_landslide.monitor.cap import alert_headline

                title = f"{alert_headline(a)} [{a.alert_id}]"
                if ap.notify(title=title, body=body):
                    report.sent += 1
                else:
                    report.fail(f"apprise {a.alert_id}", "delivery failed")
        except Exception as exc:
            report.fail("apprise", exc)


def notifier_for_url(url: str | None) -> Notifier:
    """A notifier for one target: ``http(s)://`` is a webhook, anything else an Apprise URL."""
    if not url:
        return Notifier()
    if url.startswith(("http://", "https://")):
        return Notifier(webhook_url=url)
    return Notifier(apprise_urls=(url,))


def notify_new_alerts(url: str | None, alerts: Sequence[Alert], *, base_url: str | None = None) -> NotifyReport:
    """Notify one target (webhook or Apprise URL, see :func:`notifier_for_url`) of new alerts; never raises."""
    if base_url is None:
        from gee_landslide.monitor.feeds import DEFAULT_BASE_URL

        base_url = DEFAULT_BASE_URL
    try:
        return notifier_for_url(url).notify(alerts, base_url=base_url)
    except Exception as exc:  # pragma: no cover - notify() already catches everything
        log.warning("notification failed: %s", redact_urls(str(exc)))
        return NotifyReport(failed=[redact_urls(str(exc))])
