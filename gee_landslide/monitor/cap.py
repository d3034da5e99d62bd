"""One CAP 1.2 message per alert (OASIS Common Alerting Protocol, ``urn:oasis:names:tc:emergency:cap:1.2``).

The message carries the alert's latest revision: ``msgType`` is ``Alert`` for revision 1 and
``Update`` afterwards (``references`` then names revision 1), and ``Cancel`` once the alert is
retracted (``references`` names revision 1 and the revision it cancels), ``identifier`` is unique per
revision (``gee-landslide.<alert_id>.r<revision>``) and ``incidents`` groups all revisions under
the alert id. Times use CAP's form (``2024-06-15T06:00:00-00:00``: no "Z", UTC as -00:00).

Choices (automatic remote-sensing detection of a landslide that has already happened):
- category ``Geo``, event ``Landslide``, responseType ``Monitor``;
- urgency ``Unknown`` (the change happened somewhere within the post window);
- certainty by the alert's stage (SAR-first lifecycle, issue #10): ``Possible`` for a
  ``candidate`` (seen by Sentinel-1 alone, or by one pass with Sentinel-2 when the region
  confirms on a second look), ``Likely`` once ``confirmed`` with Sentinel-2,
  ``Unlikely`` when ``cancelled`` (never ``Observed``: nobody has checked the ground);
- severity from the footprint area: ``Severe`` >= 100,000 m², ``Moderate`` >= 10,000 m²,
  else ``Minor``;
- the area polygon is the alert's exterior ring as "lat,lon" pairs, first = last (WGS 84).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gee_landslide.monitor.alert_merge import confirmed_by_persistence

if TYPE_CHECKING:
    from gee_landslide.monitor.alert_record import Alert

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
    return {"candidate": "Possible", "confirmed": "Likely", "cancelled": "Unlikely"}.get(alert.stage, "Possible")


def cap_msg_type(alert: Alert) -> str:
    if alert.stage == "cancelled":
        return "Cancel"
    return "Alert" if alert.revision <= 1 else "Update"


def _seen_by_sar_only(alert: Alert) -> bool:
    return alert.sensors == "S1"


def reopened(alert: Alert) -> bool:
    """Is ``alert`` a candidate again after a cancellation (``Alert.reopened_on``)?"""
    return alert.stage == "candidate" and bool(alert.reopened_on)


def grew_now(alert: Alert) -> bool:
    """Did the revision that produced ``alert`` grow its footprint over new ground?"""
    return bool(alert.grown_on) and alert.grown_on == alert.last_seen and alert.revision > 1


def alert_headline(alert: Alert) -> str:
    """One line for CAP headlines, Atom titles and notifications: stage, region, area, sensors."""
    area = f"{alert.area_m2:,.0f} m²"
    if alert.stage == "cancelled":
        return f"Cancelled landslide alert in {alert.region} ({area}): not confirmed by Sentinel-2"
    if grew_now(alert):  # a new landslide beside or over an older alert: say so first
        area = f"grown to {area} over new ground"
    if alert.stage == "candidate":
        how = "Sentinel-1 only" if _seen_by_sar_only(alert) else "S1+S2, awaiting a second pass"
        if reopened(alert):
            how = "S1+S2 again after a cancellation, awaiting a second pass"
        return f"Candidate landslide in {alert.region} ({area}, {how})"
    verb = "New" if alert.status == "new" else "Updated"
    seen = f", {alert.sensors}" if alert.sensors else ""
    if confirmed_by_persistence(alert):  # a region's sar_confirm_passes
        seen = f", confirmed by Sentinel-1 in {alert.detections} passes"
    return f"{verb} landslide detection in {alert.region} ({area}{seen})"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def alert_description(alert: Alert) -> str:
    agree = "n/a" if alert.agreement is None else f"{alert.agreement:.0%}"
    slope = "n/a" if alert.mean_slope_deg is None else f"{alert.mean_slope_deg:.1f}°"
    if alert.stage == "cancelled":
        return (
            f"Retracted alert in region {alert.region}: the candidate landslide first seen "
            f"{'by Sentinel-1 ' if _seen_by_sar_only(alert) else ''}on "
            f"{alert.first_seen} was not confirmed by a cloud-free Sentinel-2 view (pre window "
            f"{alert.pre_start}/{alert.pre_end}, post window {alert.post_start}/{alert.post_end}). "
            f"Centroid {alert.centroid_lat:.5f}, {alert.centroid_lon:.5f}. Model {alert.model_version} "
            f"(revision {alert.revision})."
        )
    candidate = ("Candidate landslide (Sentinel-1 SAR only, to be confirmed by Sentinel-2)"
                 if _seen_by_sar_only(alert) else
                 f"Candidate landslide (reopened on {alert.reopened_on[:10]}: a cloud-free Sentinel-2 view had "
                 "cancelled it and a later one detected it; to be confirmed by a later pass)"
                 if reopened(alert) else
                 "Candidate landslide (seen by one pass with Sentinel-2, to be confirmed by a later pass)")
    confirmed = ("Landslide (confirmed by Sentinel-1: its change persisted in "
                 f"{alert.detections} passes; no cloud-free Sentinel-2 view has confirmed it)"
                 if confirmed_by_persistence(alert) else "Landslide")
    what = {"candidate": candidate, "confirmed": confirmed}.get(alert.stage, "Possible new landslide")
    used = {"S1": "Sentinel-1 VV/VH backscatter", "S1+S2": "Sentinel-1 backscatter and Sentinel-2 NDVI"}.get(
        alert.sensors, "Sentinel-1 VV backscatter, Sentinel-2 NDVI")
    return (
        f"{what} detected by the gee-landslide ensemble in region {alert.region}: "
        f"{alert.area_m2:,.0f} m², mean probability {alert.mean_prob:.2f} (peak {alert.peak_prob:.2f}), "
        f"{agree} of ensemble members agree, mean slope {slope}. "
        f"Change between the pre window {alert.pre_start}/{alert.pre_end} and the post window "
        f"{alert.post_start}/{alert.post_end} ({used}). "
        f"Centroid {alert.centroid_lat:.5f}, {alert.centroid_lon:.5f}. Model {alert.model_version}. "
        f"First seen {alert.first_seen}, last seen {alert.last_seen} (revision {alert.revision})."
        + (f" Its footprint last grew over new ground on {alert.grown_on}." if alert.grown_on else "")
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
    msg_type = cap_msg_type(alert)
    _sub(root, "msgType", msg_type)
    _sub(root, "scope", "Public")
    _sub(root, "note", "Automatic satellite change detection; verify before acting.")
    if alert.revision > 1:
        refs = [f"{sender},{cap_identifier(alert, 1)},{cap_time(alert.first_seen)}"]
        if msg_type == "Cancel" and alert.revision > 2:  # the revision being cancelled (its sent time is not kept)
            refs.append(f"{sender},{cap_identifier(alert, alert.revision - 1)},{cap_time(alert.last_seen)}")
        _sub(root, "references", " ".join(refs))
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
    _sub(info, "headline", alert_headline(alert))
    _sub(info, "description", alert_description(alert))
    _sub(
        info, "instruction",
        "Look at the quick-look (dNDVI and SAR dVV change) and, if the change looks real, "
        "check the site before taking action; the detection is automatic and can be wrong.",
    )
    _sub(info, "web", f"{base}/#{alert.alert_id}")
    params: list[tuple[str, str]] = [
        ("alert_status", alert.status),
        ("alert_stage", alert.stage),
        ("sensors", alert.sensors),
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
        ("confirmed_by", alert.confirmed_by if alert.stage == "confirmed" else ""),
        ("reopened_on", cap_time(alert.reopened_on) if alert.reopened_on else ""),
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
