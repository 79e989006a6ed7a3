// Observable Plot charts of the service's drawing data, on one time axis.
// Colours: the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies); bands
// and points also differ by pattern, symbol and text, never by colour alone.
// Each chart's figure carries the plotted data in `data-points` (for tests and assistive tools), and
// every point an aria-label with its value.

import * as Plot from "@observablehq/plot";

export const PALETTE = {
  dose: "#0072B2", // blue
  draft: "#CC79A7", // reddish purple
  envelope: "#56B4E9", // sky blue
  labelMax: "#D55E00", // vermillion
  critical: "#D55E00",
  warning: "#E69F00", // orange
  info: "#F0E442", // yellow
  normal: "#009E73", // bluish green
  serotonergic: "#CC79A7",
  "cns-active": "#0072B2",
  "cyp1a2-inhibitor": "#E69F00",
};
const SYMBOL = { critical: "star", warning: "diamond", info: "square", normal: "circle" }; // outside the range: triangle
const DAY = 86400000;

const date = (text) => new Date(text);
const day = (text) => (text ? text.slice(0, 10) : "date unknown");

/** The shared time axis: every date in the drawing, with a day of margin. */
export function timeDomain(drawing) {
  const times = [Date.parse(drawing.now)];
  for (const relaxant of drawing.relaxants) {
    for (const step of relaxant.steps) times.push(Date.parse(step.start), Date.parse(step.end));
  }
  for (const lab of drawing.labs) for (const point of lab.points) times.push(Date.parse(point.at));
  for (const bar of drawing.interacting) times.push(Date.parse(bar.start), Date.parse(bar.end));
  const finite = times.filter(Number.isFinite);
  return [new Date(Math.min(...finite) - DAY), new Date(Math.max(...finite) + DAY)];
}

/** Plot adds an inline <style> the page's Content-Security-Policy refuses: app.css has its rules. */
function withoutInlineStyle(node) {
  for (const style of node.querySelectorAll("style")) style.remove();
  return node;
}

function figure(id, title, points, chart, caption) {
  const element = document.createElement("figure");
  element.id = id;
  element.dataset.points = JSON.stringify(points);
  const heading = document.createElement("figcaption");
  heading.textContent = title;
  element.append(heading, withoutInlineStyle(chart));
  if (caption) {
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = caption;
    element.append(note);
  }
  return element;
}

function stepLine(steps) {
  // A step per dose: its start and end, drawn as a horizontal run ("step-after").
  const points = [];
  for (const step of steps) {
    if (step.mg_per_day === null) continue;
    points.push({ at: date(step.start), mg: step.mg_per_day, draft: step.draft, step });
    points.push({ at: date(step.end), mg: step.mg_per_day, draft: step.draft, step });
  }
  return points;
}

export function drawDoses(container, drawing, domain, width) {
  container.replaceChildren();
  if (!drawing.relaxants.length) {
    container.textContent = "No muscle relaxant on record or ordered.";
    return;
  }
  for (const relaxant of drawing.relaxants) {
    const envelope = relaxant.envelope;
    const known = relaxant.steps.filter((s) => s.mg_per_day !== null);
    const labelMax = envelope?.label_max_mg_per_day ?? null;
    const top = Math.max(10, ...known.map((s) => s.mg_per_day), labelMax ?? 0) * 1.12;
    const taken = stepLine(relaxant.steps.filter((s) => !s.draft));
    const drafted = stepLine(relaxant.steps.filter((s) => s.draft));
    const band = (envelope?.band || []).map((b) => ({ start: date(b.start), end: date(b.end), high: b.high }));
    const marks = [
      Plot.rectY(band, { x1: "start", x2: "end", y1: 0, y2: "high", fill: PALETTE.envelope, fillOpacity: 0.25 }),
      Plot.line(band.flatMap((b) => [{ at: b.start, y: b.high }, { at: b.end, y: b.high }]), {
        x: "at", y: "y", stroke: PALETTE.envelope, strokeDasharray: "2,2",
      }),
      Plot.ruleY([0]),
      Plot.line(taken, { x: "at", y: "mg", z: (d) => d.step.start, stroke: PALETTE.dose, strokeWidth: 3 }),
      Plot.line(drafted, { x: "at", y: "mg", stroke: PALETTE.draft, strokeWidth: 3, strokeDasharray: "6,4" }),
      Plot.dot(known, {
        x: (s) => date(s.start), y: "mg_per_day", fill: (s) => (s.draft ? PALETTE.draft : PALETTE.dose), r: 4,
        symbol: (s) => (s.draft ? "diamond" : "circle"),
        ariaLabel: (s) => `${s.mg_per_day} mg/day ${s.draft ? "ordered now (draft)" : `from ${day(s.start)}`}`,
        title: (s) => `${s.mg_per_day} mg/day ${s.draft ? "(draft)" : `from ${day(s.start)} to ${day(s.end)}`}`,
      }),
      Plot.ruleX([date(drawing.now)], { stroke: "#555", strokeDasharray: "1,3" }),
    ];
    if (labelMax !== null) {
      marks.push(
        Plot.ruleY([labelMax], { stroke: PALETTE.labelMax, strokeWidth: 2, strokeDasharray: "8,3" }),
        Plot.text([labelMax], { y: (d) => d, frameAnchor: "left", dy: -7, dx: 4, text: (d) => `label maximum ${d} mg/day`,
          fill: PALETTE.labelMax }),
      );
    }
    const chart = Plot.plot({
      width, height: 220, marginLeft: 48, marginTop: 14,
      ariaLabel: `${relaxant.ingredient} daily dose over time`,
      x: { type: "utc", domain, label: null },
      y: { domain: [0, top], label: "mg/day", grid: true },
      marks,
    });
    const caption = envelope?.no_labelled_dose
      ? `No band: ${envelope.no_labelled_dose}.`
      : envelope && envelope.start_mg_per_day !== null
        ? `Band: ${envelope.plan}, start ${envelope.start_mg_per_day}, +${envelope.step_mg_per_day} mg/day every ${envelope.interval_days} days, ceiling ${envelope.ceiling_mg_per_day} mg/day.${envelope.kidney ? ` Kidney: ${envelope.kidney}.` : ""}`
        : envelope?.kidney ? `Kidney: ${envelope.kidney}.` : "";
    const points = relaxant.steps.map((s) => ({ start: s.start, end: s.end, mg_per_day: s.mg_per_day, draft: s.draft }));
    const name = relaxant.ingredient[0].toUpperCase() + relaxant.ingredient.slice(1);
    container.append(figure(`dose-${relaxant.ingredient}`, `${name}: daily dose (mg/day)`, points, chart, caption));
  }
}

const LAB_TITLES = { potassium: "Potassium", magnesium: "Magnesium", egfr: "eGFR" };

function bandRects(lab) {
  // Each band from the limit below it (or the bottom of the plot range) up to its own limit.
  const [low] = lab.range;
  return lab.bands.map((b, i) => ({ band: b.band, y1: i === 0 ? low : lab.bands[i - 1].below, y2: b.below }));
}

export function drawLabs(container, drawing, domain, width) {
  container.replaceChildren();
  for (const lab of drawing.labs) {
    const title = `${LAB_TITLES[lab.kind]} (${lab.unit})`;
    const points = lab.points.map((p) => ({ ...p, date: date(p.at) }));
    const [low, high] = lab.range;
    const chart = Plot.plot({
      width, height: 190, marginLeft: 48, marginTop: 14,
      ariaLabel: `${title} over time with the bands in force`,
      x: { type: "utc", domain, label: null },
      y: { domain: [low, high], label: lab.unit, grid: true },
      marks: [
        Plot.rectY(bandRects(lab), { x1: () => domain[0], x2: () => domain[1], y1: "y1", y2: "y2",
          fill: (d) => PALETTE[d.band], fillOpacity: 0.3 }),
        Plot.text(lab.bands, { y: "below", frameAnchor: "right", dx: -4, dy: 7, fill: "#333",
          text: (b) => `${b.band} < ${b.below}` }),
        Plot.line(points, { x: "date", y: "drawn_at", stroke: "#333", strokeOpacity: 0.6 }),
        Plot.dot(points, {
          x: "date", y: "drawn_at", r: 5, stroke: "#000", fill: (p) => PALETTE[p.band],
          symbol: (p) => (p.outside ? "triangle" : SYMBOL[p.band]),
          ariaLabel: (p) => `${LAB_TITLES[lab.kind]} ${p.value} ${lab.unit} on ${day(p.at)}, ${p.band}${p.outside ? `, ${p.outside} the plot range` : ""}`,
          title: (p) => `${p.value} ${lab.unit} on ${day(p.at)} (reported ${p.reported}; ${p.how})`,
        }),
        Plot.text(points.filter((p) => p.outside === "above"), { x: "date", y: "drawn_at", dy: 11, dx: 14,
          text: (p) => `${p.value} ↑`, fill: "#000" }),
        Plot.text(points.filter((p) => p.outside === "below"), { x: "date", y: "drawn_at", dy: -11, dx: 14,
          text: (p) => `${p.value} ↓`, fill: "#000" }),
        Plot.ruleX([date(drawing.now)], { stroke: "#555", strokeDasharray: "1,3" }),
      ],
    });
    const caption = {
      drawn: lab.unreadable.length ? `${lab.unreadable.length} result(s) could not be read and are not drawn.` : "",
      unreadable: `${lab.unreadable.length} result(s) on record, none could be read: check them in the chart.`,
      none: "No result on record.",
    }[lab.results];
    const data = lab.points.map((p) => ({ at: p.at, value: p.value, band: p.band, outside: p.outside, reported: p.reported }));
    const labFigure = figure(`lab-${lab.kind}`, title, data, chart, caption);
    labFigure.dataset.results = lab.results;
    container.append(labFigure);
  }
}

export function drawInteracting(container, drawing, domain, width) {
  container.replaceChildren();
  const bars = drawing.interacting.map((b) => ({ ...b, from: date(b.start), to: date(b.end), kind: b.kinds[0] }));
  if (!bars.length) {
    container.textContent = "No serotonergic, CNS-active or CYP1A2-inhibiting drug on record.";
    return;
  }
  const chart = Plot.plot({
    width, height: 60 + 28 * bars.length, marginLeft: Math.min(260, width / 3), marginTop: 14,
    ariaLabel: "Interacting drugs over time",
    x: { type: "utc", domain, label: null },
    y: { label: null },
    color: { domain: ["serotonergic", "cns-active", "cyp1a2-inhibitor"],
      range: [PALETTE.serotonergic, PALETTE["cns-active"], PALETTE["cyp1a2-inhibitor"]], legend: false },
    marks: [
      Plot.barX(bars, { x1: "from", x2: (b) => (b.to - b.from < DAY / 2 ? new Date(+b.from + DAY / 2) : b.to), y: "display",
        fill: "kind", fillOpacity: (b) => (b.draft ? 0.45 : 0.9), stroke: "#000",
        ariaLabel: (b) => `${b.display}: ${b.kinds.join(", ")}, ${b.draft ? "ordered now" : `${day(b.start)} to ${day(b.end)}`}`,
        title: (b) => `${b.display} (${b.kinds.join(", ")})` }),
      Plot.text(bars, { x: "from", y: "display", text: (b) => b.kinds.join(" · "), textAnchor: "start", dx: 4,
        fill: "#000", stroke: "#fff", strokeWidth: 3, paintOrder: "stroke" }),
      Plot.ruleX([date(drawing.now)], { stroke: "#555", strokeDasharray: "1,3" }),
    ],
  });
  const data = bars.map((b) => ({ display: b.display, kinds: b.kinds, start: b.start, end: b.end, draft: b.draft }));
  container.append(figure("interacting", "Serotonergic, CNS-active and CYP1A2-inhibiting drugs", data, chart,
    "Colours: purple serotonergic, blue CNS-active, orange CYP1A2 inhibitor; a pale bar is an order being written."));
}
