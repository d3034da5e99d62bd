"""Monitoring outputs: from ensemble probability maps to published landslide alerts.

- :mod:`.alerts`: threshold, polygonise and filter detections into :class:`Candidate` s;
- :mod:`.store`: the GeoPackage alert store, merge (de-duplication, update vs new), locking;
- :mod:`.chips`: before/after quick-look PNGs (dNDVI and SAR dVV change with the outline);
- :mod:`.feeds` / :mod:`.cap`: GeoJSON, Atom + GeoRSS and CAP 1.2 publication;
- :mod:`.notify`: optional webhook / Apprise notifications of new alerts;
- :mod:`.server`: the read-only HTTP server of the feeds and the web map (``web/``).
"""

import os

from gee_landslide.monitor.alert_merge import MatchRule, MergeResult
from gee_landslide.monitor.alert_record import Alert
from gee_landslide.monitor.alerts import Candidate, Rejected, detections_to_candidates, geohash
from gee_landslide.monitor.chips import ChipSource, render_quicklook
from gee_landslide.monitor.feeds import merge_and_publish, publish_feeds
from gee_landslide.monitor.notify import Notifier, notify_new_alerts
from gee_landslide.monitor.store import AlertStore

__all__ = [
    "Alert",
    "AlertStore",
    "Candidate",
    "ChipSource",
    "MatchRule",
    "MergeResult",
    "Notifier",
    "Rejected",
    "detections_to_candidates",
    "geohash",
    "merge_and_publish",
    "notify_new_alerts",
    "publish_feeds",
    "render_quicklook",
    "serve",
]


def serve(store_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the feeds and the web map of ``store_dir`` (see :func:`.server.serve`)."""
    from gee_landslide.monitor.server import serve as _serve

    _serve(store_dir, host, port)
