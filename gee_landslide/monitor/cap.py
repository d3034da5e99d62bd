"""One CAP 1.2 message per alert (OASIS Common Alerting Protocol, ``urn:oasis:names:tc:emergency:cap:1.2``).

The message carries the alert's latest revision: ``msgType`` is ``Alert`` for revision 1 and
``Update`` afterwards (``references`` then names revision 1), ``identifier`` is unique per
revision (``gee-landslide.<alert_id>.r<revision>``) and ``incidents`` groups all revisions under
the alert id. Times use CAP's form (``2024-06-15T06:00:00-00:00``: no "Z", UTC as -00:00).

Choices (automatic remote-sensing detection of a landslide that has already happened):
- category ``Geo``, event ``Landslide``, responseType ``Monitor``;
- urgency ``Unknown`` (the change happened somewhere within the post window);
- certainty ``Likely`` when the ensemble mean probability and member agreement are both at
  least 0.5, else ``Possible`` (never ``Observed``: nobody has confirmed it yet);
- severity from the footprint area: ``Severe`` >= 100,000 m², ``Moderate`` >= 10,000 m²,
  else ``Minor``;
- the area polygon is the alert's exterior ring as "lat,lon" pairs, first = last (WGS 84).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gee_landslide.monitor.store import Alert

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MIME = "application/cap+xml"


def cap_time(iso: str) -> str:
    """``2024-06-15T06:00:00Z`` -> ``2024-06-15T06:00:00-00:00`` (CAP forbids "Z")."""
    if iso.endswith("Z"):
        return iso[:-1] + "-00:00"
    return iso


def cap_identifier(alert: Alert, revision: int | None = None) -> str:
    return f"gee-landslide.{alert.alert_id}.r{revision or alert.revision}"


def default_sender(base_url: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"gee-landslide@{host}"


def cap_polygon(alert: Alert) -> str:
    """The exterior ring as CAP wants it: "lat,lon lat,lon ...", closed, at least 4 pairs."""
    coords = list(alert.geometry.exterior.coords)
    if coords[0] != coords[-1]:
        coords.append(coords[0])
    return " ".join(f"{lat:.7f},{lon:.7f}" for lon, lat in coords)


def cap_severity(area_m2: float) -> str:
    if area_m2 >= 100_000:
        return "Severe"
    if area_m2 >= 10_000:
        return "Moderate"
    return "Minor"


def cap_certainty(alert: Alert) -> str:
    agree_ok = alert.agreement is None or alert.agreement >= 0.5
    return "Likely" if alert.mean_prob >= 0.5 and agree_ok else "Possible"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def alert_description(alert: Alert) -> str:
    agree = "n/a" if alert.agreement is None else f"{alert.agreement:.0%}"
    slope = "n/a" if alert.mean_slope_deg is None else f"{alert.mean_slope_deg:.1f}°"
    return (
        f"Possible new landslide detected by the gee-landslide ensemble in region {alert.region}: "
        f"{alert.area_m2:,.0f} m², mean probability {alert.mean_prob:.2f} (peak {alert.peak_prob:.2f}), "
        f"{agree} of ensemble members agree, mean slope {slope}. "
        f"Change between the pre window {alert.pre_start}/{alert.pre_end} and the post window "
        f"{alert.post_start}/{alert.post_end} (Sentinel-1 VV backscatter, Sentinel-2 NDVI). "
        f"Centroid {alert.centroid_lat:.5f}, {alert.centroid_lon:.5f}. Model {alert.model_version}. "
        f"First seen {alert.first_seen}, last seen {alert.last_seen} (revision {alert.revision})."
    )


def cap_message(alert: Alert, *, base_url: str, sender: str | None = None) -> bytes:
    """The CAP 1.2 XML document of ``alert`` (UTF-8 bytes)."""
    base = base_url.rstrip("/")
    sender = sender or default_sender(base_url)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", cap_identifier(alert))
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(alert.last_seen))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", "Alert" if alert.revision <= 1 else "Update")
    _sub(root, "scope", "Public")
    _sub(root, "note", "Automatic satellite change detection; verify before acting.")
    if alert.revision > 1:
        _sub(root, "references", f"{sender},{cap_identifier(alert, 1)},{cap_time(alert.first_seen)}")
    _sub(root, "incidents", alert.alert_id)

    info = _sub(root, "info")
    _sub(info, "language", "en-US")
    _sub(info, "category", "Geo")
    _sub(info, "event", "Landslide")
    _sub(info, "responseType", "Monitor")
    _sub(info, "urgency", "Unknown")
    _sub(info, "severity", cap_severity(alert.area_m2))
    _sub(info, "certainty", cap_certainty(alert))
    code = _sub(info, "eventCode")
    _sub(code, "valueName", "gee-landslide:alert_id")
    _sub(code, "value", alert.alert_id)
    _sub(info, "effective", cap_time(alert.last_seen))
    _sub(info, "senderName", "gee-landslide monitoring")
    verb = "New" if alert.status == "new" else "Updated"
    _sub(info, "headline", f"{verb} landslide detection in {alert.region} ({alert.area_m2:,.0f} m²)")
    _sub(info, "description", alert_description(alert))
    _sub(
        info, "instruction",
        "Look at the quick-look (dNDVI and SAR dVV change) and, if the change looks real, "
        "check the site before taking action; the detection is automatic and can be wrong.",
    )
    _sub(info, "web", f"{base}/#{alert.alert_id}")
    params: list[tuple[str, str]] = [
        ("alert_status", alert.status),
        ("revision", str(alert.revision)),
        ("area_m2", f"{alert.area_m2:.1f}"),
        ("mean_probability", f"{alert.mean_prob:.4f}"),
        ("peak_probability", f"{alert.peak_prob:.4f}"),
        ("ensemble_agreement", "" if alert.agreement is None else f"{alert.agreement:.4f}"),
        ("ensemble_spread", "" if alert.spread is None else f"{alert.spread:.4f}"),
        ("mean_slope_deg", "" if alert.mean_slope_deg is None else f"{alert.mean_slope_deg:.2f}"),
        ("first_seen", cap_time(alert.first_seen)),
        ("last_seen", cap_time(alert.last_seen)),
        ("pre_window", f"{alert.pre_start}/{alert.pre_end}"),
        ("post_window", f"{alert.post_start}/{alert.post_end}"),
        ("model_version", alert.model_version),
    ]
    for name, value in params:
        if value == "":
            continue
        p = _sub(info, "parameter")
        _sub(p, "valueName", name)
        _sub(p, "value", value)
    if alert.quicklook:
        res = _sub(info, "resource")
        _sub(res, "resourceDesc", "Quick-look: dNDVI and SAR dVV change with the outline")
        _sub(res, "mimeType", "image/png")
        _sub(res, "uri", f"{base}/{alert.quicklook}")
    area = _sub(info, "area")
    _sub(area, "areaDesc", f"Landslide footprint near {alert.centroid_lat:.5f}, {alert.centroid_lon:.5f} "
         f"({alert.region})")
    _sub(area, "polygon", cap_polygon(alert))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS) + b"\n"
