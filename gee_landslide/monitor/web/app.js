// gee-landslide alert map: plain SVG rendering of alerts.geojson (lon/lat), no external libraries.
// Under the alerts: the offline basemap of each region from map.json (hillshade of the pass's DEM,
// water, the region outline), or XYZ tiles when the server was given a tile URL.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const M_PER_DEG = 111320;
const state = { features: [], shown: [], selected: null, view: null, k: 1, lon0: 0, lat0: 0, byId: new Map(),
  basemaps: [], tileUrl: null, attribution: "" };

const $ = (id) => document.getElementById(id);
const svg = $("map");

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function h(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
const fmt = {
  area: (v) => (v == null ? "–" : Math.round(v).toLocaleString("en")),
  p: (v) => (v == null ? "–" : Number(v).toFixed(2)),
  pct: (v) => (v == null ? "–" : Math.round(v * 100) + " %"),
  date: (s) => (s ? s.replace("T", " ").replace("Z", " UTC") : "–"),
};
function probColour(p) {
  if (p >= 0.9) return "#7f0000";
  if (p >= 0.75) return "#d7301f";
  if (p >= 0.6) return "#fc8d59";
  return "#fdd49e";
}

// ---------------------------------------------------------------- projection
// Local equirectangular projection in metres around (lon0, lat0): small numbers keep the SVG
// renderer's single-precision arithmetic exact enough at landslide scale.
function project(lon, lat) {
  return [(lon - state.lon0) * state.k * M_PER_DEG, -(lat - state.lat0) * M_PER_DEG];
}
function unproject(x, y) {
  return [x / (state.k * M_PER_DEG) + state.lon0, -y / M_PER_DEG + state.lat0];
}
function ringPath(ring) {
  return ring.map(([lon, lat], i) => {
    const [x, y] = project(lon, lat);
    return (i ? "L" : "M") + x.toFixed(2) + " " + y.toFixed(2);
  }).join(" ") + " Z";
}
function featureBounds(f) {
  if (f.bbox) return f.bbox;
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const ring of f.geometry.coordinates) for (const [x, y] of ring) {
    w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y);
  }
  return [w, s, e, n];
}
function boundsOf(features) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const f of features) {
    const b = featureBounds(f);
    w = Math.min(w, b[0]); s = Math.min(s, b[1]); e = Math.max(e, b[2]); n = Math.max(n, b[3]);
  }
  return [w, s, e, n];
}

// ---------------------------------------------------------------- view
function pxPerUnit() {
  const r = svg.getBoundingClientRect();
  const v = state.view;
  return Math.min(r.width / v.w, r.height / v.h) || 1;
}
function visibleBox() {
  // the viewBox is letter-boxed (xMidYMid meet): the visible area can be larger than it
  const r = svg.getBoundingClientRect();
  const ppu = pxPerUnit();
  const v = state.view;
  const w = r.width / ppu, hgt = r.height / ppu;
  return { x: v.x + v.w / 2 - w / 2, y: v.y + v.h / 2 - hgt / 2, w, h: hgt };
}
function fitBounds(b, minMetres = 400, pad = 1.25) {
  const [w, s, e, n] = b;
  const [x0, y0] = project(w, n);
  const [x1, y1] = project(e, s);
  const minU = minMetres;
  let cw = Math.max(x1 - x0, minU), ch = Math.max(y1 - y0, minU);
  cw *= pad; ch *= pad;
  state.view = { x: (x0 + x1) / 2 - cw / 2, y: (y0 + y1) / 2 - ch / 2, w: cw, h: ch };
  draw();
}
function zoom(factor, cx, cy) {
  const v = state.view;
  if (cx === undefined) { cx = v.x + v.w / 2; cy = v.y + v.h / 2; }
  const nw = v.w * factor, nh = v.h * factor;
  if (nw < 30 || nw > 4e7) return;
  state.view = { x: cx - (cx - v.x) * factor, y: cy - (cy - v.y) * factor, w: nw, h: nh };
  draw();
}
function clientToUnits(evt) {
  const r = svg.getBoundingClientRect();
  const vb = visibleBox();
  return [vb.x + ((evt.clientX - r.left) / r.width) * vb.w, vb.y + ((evt.clientY - r.top) / r.height) * vb.h];
}

// ---------------------------------------------------------------- drawing
function niceStep(span) {
  const steps = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20];
  for (const s of steps) if (span / s <= 6) return s;
  return 30;
}
function decimalsFor(step) { return Math.max(0, Math.ceil(-Math.log10(step))); }

function drawGrid(g, vb, ppu) {
  const [lonW, latN] = unproject(vb.x, vb.y);
  const [lonE, latS] = unproject(vb.x + vb.w, vb.y + vb.h);
  const fs = 11 / ppu;
  const lonStep = niceStep(lonE - lonW), latStep = niceStep(latN - latS);
  for (let lon = Math.ceil(lonW / lonStep) * lonStep; lon <= lonE; lon += lonStep) {
    const [x] = project(lon, state.lat0);
    g.appendChild(el("line", { x1: x, x2: x, y1: vb.y, y2: vb.y + vb.h }));
    g.appendChild(el("text", { x: x + 3 / ppu, y: vb.y + vb.h - 4 / ppu, "font-size": fs },
      lon.toFixed(decimalsFor(lonStep)) + "°"));
  }
  for (let lat = Math.ceil(latS / latStep) * latStep; lat <= latN; lat += latStep) {
    const [, y] = project(state.lon0, lat);
    g.appendChild(el("line", { x1: vb.x, x2: vb.x + vb.w, y1: y, y2: y }));
    g.appendChild(el("text", { x: vb.x + 4 / ppu, y: y - 3 / ppu, "font-size": fs },
      lat.toFixed(decimalsFor(latStep)) + "°"));
  }
}

function drawScale(ppu) {
  const metresPerPx = 1 / ppu;
  const target = metresPerPx * 120;
  const nice = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000];
  let m = nice[0];
  for (const n of nice) if (n <= target) m = n;
  const px = m / metresPerPx;
  const label = m >= 1000 ? m / 1000 + " km" : m + " m";
  const s = $("scale");
  s.textContent = "";
  const bar = h("span");
  bar.style.display = "inline-block";
  bar.style.width = px.toFixed(0) + "px";
  bar.style.borderBottom = "3px solid #1d2327";
  bar.style.marginRight = ".4rem";
  s.append(bar, label);
}

// ---------------------------------------------------------------- basemap
function drawBasemaps(g) {
  for (const b of state.basemaps) {
    const [w, s, e, n] = b.bounds;
    const [x0, y0] = project(w, n);
    const [x1, y1] = project(e, s);
    g.appendChild(el("image", { href: b.image, x: x0, y: y0, width: x1 - x0, height: y1 - y0,
      preserveAspectRatio: "none", class: "hillshade", "data-region": b.region }));
  }
}
function drawOutlines(g, ppu) {
  for (const b of state.basemaps) {
    if (!b.outline) continue;
    g.appendChild(el("path", { d: ringPath(b.outline), class: "outline", "stroke-width": 1.5 / ppu,
      "stroke-dasharray": `${6 / ppu} ${4 / ppu}`, "data-region": b.region }));
  }
}
function tileLon(x, z) { return (x / 2 ** z) * 360 - 180; }
function tileLat(y, z) { return (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / 2 ** z))) * 180) / Math.PI; }
function drawTiles(g, vb, ppu) {
  // Web-Mercator XYZ tiles placed by their lon/lat corners (exact enough at landslide scale)
  const mPerPx = 1 / ppu;
  const z = Math.max(0, Math.min(19, Math.round(Math.log2((156543.03 * Math.cos((state.lat0 * Math.PI) / 180)) / mPerPx))));
  const [lonW, latN] = unproject(vb.x, vb.y);
  const [lonE, latS] = unproject(vb.x + vb.w, vb.y + vb.h);
  const n = 2 ** z;
  const tx = (lon) => Math.floor(((lon + 180) / 360) * n);
  const ty = (lat) => Math.floor(((1 - Math.log(Math.tan((lat * Math.PI) / 180) + 1 / Math.cos((lat * Math.PI) / 180)) / Math.PI) / 2) * n);
  const xa = Math.max(0, tx(lonW)), xb = Math.min(n - 1, tx(lonE));
  const ya = Math.max(0, ty(Math.min(latN, 85))), yb = Math.min(n - 1, ty(Math.max(latS, -85)));
  if ((xb - xa + 1) * (yb - ya + 1) > 100) return;
  for (let x = xa; x <= xb; x++) for (let y = ya; y <= yb; y++) {
    const [x0, y0] = project(tileLon(x, z), tileLat(y, z));
    const [x1, y1] = project(tileLon(x + 1, z), tileLat(y + 1, z));
    const href = state.tileUrl.replace("{z}", z).replace("{x}", x).replace("{y}", y).replace("{s}", "a");
    g.appendChild(el("image", { href, x: x0, y: y0, width: x1 - x0, height: y1 - y0, preserveAspectRatio: "none",
      class: "tile" }));
  }
}

function draw() {
  const v = state.view;
  if (!v) return;
  svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  svg.textContent = "";
  const ppu = pxPerUnit();
  const vb = visibleBox();
  const base = el("g", { class: "basemap" });
  if (state.tileUrl) drawTiles(base, vb, ppu); else drawBasemaps(base);
  drawOutlines(base, ppu);
  svg.appendChild(base);
  const grid = el("g", { class: "grid" });
  drawGrid(grid, vb, ppu);
  svg.appendChild(grid);
  const layer = el("g", { class: "alerts" });
  const ordered = [...state.shown].sort((a, b) => (a.id === state.selected) - (b.id === state.selected));
  for (const f of ordered) {
    const p = f.properties;
    const g = el("g", { class: "alert" + (f.id === state.selected ? " selected" : ""), "data-alert-id": f.id });
    const title = el("title", {}, `${f.id}\n${p.stage || p.status} · ${p.sensors || ""} · ${fmt.area(p.area_m2)} m² · p̄ ${fmt.p(p.mean_prob)}`);
    g.appendChild(title);
    const d = f.geometry.coordinates.map(ringPath).join(" ");
    // a cancelled alert is drawn hollow, a SAR-only candidate dashed
    const cls = p.stage === "cancelled" ? "cancelled" : p.stage === "candidate" ? "candidate" : "";
    g.appendChild(el("path", { d, class: cls, fill: p.stage === "cancelled" ? "none" : probColour(p.mean_prob),
      "fill-rule": "evenodd" }));
    const b = featureBounds(f);
    const sizePx = Math.max((b[2] - b[0]) * state.k, b[3] - b[1]) * M_PER_DEG * ppu;
    if (sizePx < 14) {  // too small to see: a marker at the centroid
      const [cx, cy] = project(p.centroid_lon, p.centroid_lat);
      g.appendChild(el("circle", { cx, cy, r: 6 / ppu, fill: probColour(p.mean_prob) }));
    }
    if (f.id === state.selected) {
      const [cx, cy] = project(b[2], b[3]);  // label at the top-right corner of the bounding box
      g.appendChild(el("text", { class: "label", x: cx + 6 / ppu, y: cy - 6 / ppu, "font-size": 12 / ppu,
        "stroke-width": 3 / ppu }, f.id));
    }
    g.addEventListener("click", (e) => { e.stopPropagation(); select(f.id, false); });
    layer.appendChild(g);
  }
  svg.appendChild(layer);
  drawScale(ppu);
}

// ---------------------------------------------------------------- list, filters, details
function applyFilters() {
  const q = $("q").value.trim().toLowerCase();
  const region = $("region").value, status = $("status").value;
  state.shown = state.features.filter((f) => {
    const p = f.properties;
    if (region && p.region !== region) return false;
    if (status && p.status !== status && p.stage !== status) return false;
    if (q && !(f.id.toLowerCase().includes(q) || String(p.region).toLowerCase().includes(q))) return false;
    return true;
  });
  renderList();
  draw();
}

function renderList() {
  const tbody = $("alerts").querySelector("tbody");
  tbody.textContent = "";
  for (const f of state.shown) {
    const p = f.properties;
    const tr = h("tr");
    tr.dataset.alertId = f.id;
    if (f.id === state.selected) tr.classList.add("selected");
    tr.append(h("td", f.id, "id"));
    const st = h("td");
    st.append(h("span", p.status, "badge " + p.status));
    if (p.stage) st.append(" ", h("span", p.stage, "badge " + p.stage));
    if (p.sensors) st.append(" ", h("span", p.sensors, "badge sensors"));
    tr.append(st, h("td", fmt.area(p.area_m2)), h("td", fmt.p(p.mean_prob)), h("td", (p.last_seen || "").slice(0, 10)));
    tr.addEventListener("click", () => select(f.id, true));
    tbody.appendChild(tr);
  }
  const n = state.features.length, m = state.shown.length;
  const newCount = state.features.filter((f) => f.properties.status === "new").length;
  $("summary").textContent = n
    ? `${n} alert${n === 1 ? "" : "s"} (${newCount} new)` + (m !== n ? ` · ${m} shown` : "")
    : "no alerts";
}

function row(table, label, value) {
  const tr = h("tr");
  tr.append(h("th", label), h("td", value));
  table.appendChild(tr);
}
function link(parent, text, href) {
  const a = h("a", text);
  a.href = href;
  parent.appendChild(a);
}

function showDetail(f) {
  const box = $("detail");
  if (!f) { box.hidden = true; return; }
  const p = f.properties;
  box.hidden = false;
  $("detail-title").textContent = f.id;
  const img = $("detail-img");
  if (p.quicklook) {
    img.hidden = false; $("detail-noimg").hidden = true;
    img.src = p.quicklook;
    img.alt = `Quick-look of ${f.id}: dNDVI and SAR dVV change with the outline`;
  } else {
    img.hidden = true; img.removeAttribute("src"); $("detail-noimg").hidden = false;
  }
  const t = $("detail-table");
  t.textContent = "";
  row(t, "Region", p.region);
  row(t, "Status", `${p.stage ? p.stage + ", " : ""}${p.status} (revision ${p.revision})`);
  row(t, "Sensors", p.sensors || "–");
  if (p.stage === "confirmed" && p.confirmed_by) row(t, "Confirmed by", p.confirmed_by);
  row(t, "Detected by", p.detections == null ? "–" : `${p.detections} pass${p.detections === 1 ? "" : "es"}`);
  row(t, "Area", `${fmt.area(p.area_m2)} m²`);
  row(t, "Probability", `mean ${fmt.p(p.mean_prob)} · peak ${fmt.p(p.peak_prob)}`);
  row(t, "Ensemble", `${fmt.pct(p.agreement)} of members agree · spread ${fmt.p(p.spread)}`);
  row(t, "Slope", p.mean_slope_deg == null ? "–" : `${Number(p.mean_slope_deg).toFixed(1)}°`);
  row(t, "First seen", fmt.date(p.first_seen));
  row(t, "Last seen", fmt.date(p.last_seen));
  if (p.grown_on) row(t, "Grew over new ground", fmt.date(p.grown_on));  // a landslide beside an older one
  if (p.reopened_on) row(t, "Reopened after a cancellation", fmt.date(p.reopened_on));
  row(t, "Windows", `pre ${p.pre_start} → ${p.pre_end} · post ${p.post_start} → ${p.post_end}`);
  row(t, "Centroid", `${Number(p.centroid_lat).toFixed(5)}, ${Number(p.centroid_lon).toFixed(5)}`);
  row(t, "Model", p.model_version);
  const links = $("detail-links");
  links.textContent = "";
  link(links, "CAP message", `cap/${encodeURIComponent(f.id)}.xml`);
  const osm = `https://www.openstreetmap.org/?mlat=${p.centroid_lat}&mlon=${p.centroid_lon}#map=16/${p.centroid_lat}/${p.centroid_lon}`;
  link(links, "OpenStreetMap", osm);
}

function select(id, zoomTo) {
  const f = state.byId.get(id);
  state.selected = f ? id : null;
  if (f && location.hash.slice(1) !== id) history.replaceState(null, "", "#" + encodeURIComponent(id));
  showDetail(f);
  renderList();
  if (f && zoomTo) fitBounds(featureBounds(f), 500, 4); else draw();
  const tr = [...document.querySelectorAll("#alerts tbody tr")].find((r) => r.dataset.alertId === id);
  if (tr && zoomTo) tr.scrollIntoView({ block: "nearest" });
}

function showMessage(text) {
  const m = $("message");
  m.textContent = text;
  m.hidden = !text;
}

// ---------------------------------------------------------------- events
function wire() {
  $("fit").addEventListener("click", () => state.shown.length && fitBounds(boundsOf(state.shown)));
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));
  for (const id of ["q", "region", "status"]) $(id).addEventListener("input", applyFilters);
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [x, y] = clientToUnits(e);
    zoom(e.deltaY > 0 ? 1.25 : 0.8, x, y);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY, view: { ...state.view }, moved: false };
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; svg.classList.add("dragging"); }
    if (!drag.moved) return;
    const ppu = pxPerUnit();
    state.view = { ...drag.view, x: drag.view.x - dx / ppu, y: drag.view.y - dy / ppu };
    draw();
  });
  const end = () => { drag = null; svg.classList.remove("dragging"); };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  window.addEventListener("resize", draw);
  window.addEventListener("hashchange", () => {
    const id = decodeURIComponent(location.hash.slice(1));
    if (id && id !== state.selected) select(id, true);
  });
}

async function loadMapConfig() {
  try {
    const r = await fetch("map.json", { cache: "no-cache" });
    if (!r.ok) return;
    const cfg = await r.json();
    state.basemaps = (cfg.basemaps || []).filter((b) => b && Array.isArray(b.bounds) && b.bounds.length === 4);
    state.tileUrl = cfg.tile_url || null;
    state.attribution = cfg.tile_attribution || "";
  } catch (err) { /* no basemap: the map still draws the alerts on the graticule */ }
  const a = $("attribution");
  if (a) a.textContent = state.tileUrl ? state.attribution
    : state.basemaps.length ? "Relief: hillshade of the monitoring pass's DEM; water from its land cover" : "";
}

async function load() {
  wire();
  await loadMapConfig();
  let fc;
  try {
    const r = await fetch("alerts.geojson", { cache: "no-cache" });
    if (r.status === 404) throw new Error("No alerts have been published yet (run `gee-landslide feed publish`).");
    if (!r.ok) throw new Error(`Could not load alerts.geojson (HTTP ${r.status}).`);
    fc = await r.json();
  } catch (err) {
    showMessage(err.message);
    $("summary").textContent = "no alerts";
    document.body.dataset.state = "error";
    return;
  }
  state.features = (fc.features || []).filter((f) => f && f.geometry && f.geometry.type === "Polygon");
  for (const f of state.features) state.byId.set(f.id, f);
  if (state.features.length) {
    const [w, s, e, n] = boundsOf(state.features);
    state.lon0 = (w + e) / 2;
    state.lat0 = (s + n) / 2;
  } else if (state.basemaps.length) {
    const [w, s, e, n] = state.basemaps[0].bounds;
    state.lon0 = (w + e) / 2;
    state.lat0 = (s + n) / 2;
  }
  state.k = Math.cos((state.lat0 * Math.PI) / 180);
  const regions = [...new Set(state.features.map((f) => f.properties.region))].sort();
  for (const r of regions) { const o = h("option", r); o.value = r; $("region").appendChild(o); }
  state.shown = state.features;
  if (!state.features.length) showMessage("No alerts yet.");
  renderList();
  const want = decodeURIComponent(location.hash.slice(1));
  if (state.features.length) fitBounds(boundsOf(state.features), 2000);
  else if (state.basemaps.length) fitBounds(state.basemaps[0].bounds, 2000, 1.05);
  if (want && state.byId.has(want)) select(want, true);
  document.body.dataset.state = "ready";
}

load();
