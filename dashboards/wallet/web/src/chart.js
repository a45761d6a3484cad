// Personal charts, computed and drawn on the device from the resident's decrypted readings.

const SVG = "http://www.w3.org/2000/svg";

export const METRICS = [
  { key: "pm2_5", unit: "µg/m³" },
  { key: "pm10", unit: "µg/m³" },
  { key: "temperature", unit: "°C" },
  { key: "humidity", unit: "%" },
  { key: "pressure", unit: "hPa" },
  { key: "noise_laeq", unit: "dB(A)" },
];

// dailyMeans reduces readings to one mean per UTC day for a metric, in day order.
export function dailyMeans(readings, metric) {
  const days = new Map();
  for (const r of readings) {
    const v = r.values?.[metric];
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    const day = String(r.recorded_at).slice(0, 10);
    const d = days.get(day) ?? { sum: 0, n: 0 };
    d.sum += v;
    d.n++;
    days.set(day, d);
  }
  return [...days.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([day, d]) => ({ day, mean: Math.round((d.sum / d.n) * 10) / 10 }));
}

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// lineChart draws daily means as an inline SVG line chart with a title and description for
// screen readers. It scales to its container's width.
export function lineChart(points, title, desc) {
  const W = 640, H = 260, L = 48, R = 28, T = 12, B = 36;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title chart-desc", class: "chart" });
  svg.append(el("title", { id: "chart-title" }, title), el("desc", { id: "chart-desc" }, desc));
  const values = points.map((p) => p.mean);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.1;
  lo -= pad; hi += pad;
  const x = (i) => L + (points.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (points.length - 1));
  const y = (v) => T + ((hi - v) * (H - T - B)) / (hi - lo);
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: L - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, v.toFixed(1)));
  }
  const ticks = Math.min(points.length, 6);
  for (let k = 0; k < ticks; k++) {
    const i = ticks === 1 ? 0 : Math.round((k * (points.length - 1)) / (ticks - 1));
    svg.append(el("text", { x: x(i), y: H - 12, class: "tick", "text-anchor": "middle" }, points[i].day.slice(5)));
  }
  svg.append(el("polyline", { points: points.map((p, i) => `${x(i)},${y(p.mean)}`).join(" "), class: "line" }));
  for (const [i, p] of points.entries()) {
    const c = el("circle", { cx: x(i), cy: y(p.mean), r: 3.5, class: "dot" });
    c.append(el("title", {}, `${p.day}: ${p.mean}`));
    svg.append(c);
  }
  return svg;
}
