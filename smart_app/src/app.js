// The SMART app's page logic: launch, read the patient's data with the EHR's token, ask the service
// for the drawing (POST api/course: the service computes everything from its own facts), draw it.
// This file does no clinical arithmetic: doses, bands, conversions and the summary come from the service.

import { authorize, appConfig, completeLaunch } from "./launch.js";
import { drawDoses, drawInteracting, drawLabs, timeDomain } from "./charts.js";

const MAX_PAGES = 5;

function $(selector) {
  return document.querySelector(selector);
}

function status(text, isError = false) {
  const element = $("#status");
  element.textContent = text;
  element.classList.toggle("error", isError);
}

const MAX_DRAFTS = 20;

/** The launching card's appContext: its topic and order (the focus), and the draft orders it judged
 * (an order being written may be on no FHIR server yet). Anything else in it is ignored. */
function parseAppContext(raw) {
  const out = { focus: {}, drafts: [] };
  if (!raw) return out;
  try {
    const value = typeof raw === "string" ? JSON.parse(raw) : raw;
    for (const key of ["order", "topic"]) {
      if (typeof value[key] === "string" && value[key].length <= 200) out.focus[key] = value[key];
    }
    if (Array.isArray(value.draftOrders)) {
      out.drafts = value.draftOrders
        .filter((r) => r && r.resourceType === "MedicationRequest" && typeof r.id === "string")
        .slice(0, MAX_DRAFTS);
    }
  } catch {
    // not JSON: no focus, no drafts
  }
  return out;
}

async function readRecord(client, queries, drafts) {
  const patientId = client.patient.id;
  if (!patientId) throw new Error("the launch gave no patient");
  // Each parameter value percent-encoded ("http://loinc.org|2823-3" -> "http%3A%2F%2Floinc.org%7C2823-3"):
  // a proxy in front of the FHIR server may rewrite a raw "//" in the query (the SMART Health IT
  // launcher's does, and the labs then come back empty); FHIR servers decode either form.
  const fill = (query) => {
    const [path, search = ""] = query.replaceAll("{{context.patientId}}", patientId).split("?", 2);
    const params = new URLSearchParams(search).toString();
    return params ? `${path}?${params}` : path;
  };
  const reads = Object.entries(queries).map(async ([key, query]) => {
    const result = await client.request(fill(query), { pageLimit: MAX_PAGES, flat: true });
    return [key, Array.isArray(result) ? result : [result]];
  });
  const seen = new Set();
  const entry = [];
  for (const [, resources] of await Promise.all(reads)) {
    for (const resource of resources) {
      if (!resource || !resource.resourceType || resource.resourceType === "OperationOutcome") continue;
      const key = `${resource.resourceType}/${resource.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      entry.push({ resource });
    }
  }
  // The card's draft orders, unless the FHIR server already holds them (the EHR saved the draft).
  for (const draft of drafts) {
    const key = `MedicationRequest/${draft.id}`;
    const subject = draft.subject?.reference;
    if (seen.has(key) || (subject && subject !== `Patient/${patientId}`)) continue;
    seen.add(key);
    entry.push({ resource: draft });
  }
  return { resourceType: "Bundle", type: "collection", entry };
}

async function fetchDrawing(bundle, focus) {
  // The card's appContext goes in a header, never the URL (no proxy log holds an order id).
  const response = await fetch("api/course", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-App-Context": JSON.stringify(focus) },
    body: JSON.stringify(bundle),
    credentials: "omit",
  });
  if (!response.ok) {
    const text = await response.text();
    throw new Error(`the service could not draw the course (${response.status}): ${text.slice(0, 200)}`);
  }
  return response.json();
}

function patientName(patient) {
  const name = (patient?.name || [])[0];
  if (!name) return "Patient";
  return name.text || [...(name.given || []), name.family].filter(Boolean).join(" ") || "Patient";
}

function showSummary(drawing) {
  const list = $("#summary-list");
  list.replaceChildren(
    ...drawing.summary.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }),
  );
}

/** The order the card was about, by name when the drawing has it (an id means nothing to a prescriber). */
function orderName(drawing, reference) {
  if (!drawing || !reference) return null;
  const rows = [...drawing.relaxants.flatMap((r) => r.orders), ...drawing.interacting];
  const row = rows.find((r) => r.order === reference);
  if (!row) return null;
  return `${row.display}${row.draft ? " (the order being written)" : ""}`;
}

function showFocus(focus, drawing = null) {
  const element = $("#focus");
  if (!focus.topic && !focus.order) {
    element.hidden = true;
    return;
  }
  element.hidden = false;
  const about = orderName(drawing, focus.order) || focus.order;
  element.textContent = `Opened from the card “${focus.topic || "?"}”${about ? ` about ${about}` : ""}.`;
}

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(`#${other.getAttribute("aria-controls")}`).hidden = !selected;
  }
}

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const index = tabs.indexOf(tab);
      let next = null;
      if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
      if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
      if (event.key === "Home") next = tabs[0];
      if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        selectTab(next);
        next.focus();
      }
    });
  }
}

function render(drawing) {
  const width = Math.max(320, Math.min($("main").clientWidth - 8, 1400));
  const domain = timeDomain(drawing);
  drawDoses($("#doses-charts"), drawing, domain, width);
  drawLabs($("#labs-charts"), drawing, domain, width);
  drawInteracting($("#interacting-charts"), drawing, domain, width);
  showSummary(drawing);
  document.body.dataset.state = "drawn";
}

async function runApp() {
  status("Completing the launch…");
  const client = await completeLaunch();
  const config = await appConfig();
  const { focus, drafts } = parseAppContext(client.state.tokenResponse?.appContext);
  showFocus(focus);
  status("Reading the record…");
  const bundle = await readRecord(client, config.queries, drafts);
  const patient = bundle.entry.map((e) => e.resource).find((r) => r.resourceType === "Patient");
  $("#patient").textContent = patientName(patient);
  status("Drawing…");
  const drawing = await fetchDrawing(bundle, focus);
  showFocus(focus, drawing);
  render(drawing);
  status(`Drawn from ${bundle.entry.length} resources at ${new Date(drawing.now).toLocaleString()}.`);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => render(drawing), 200);
  });
}

function wireStandalone() {
  const form = $("#standalone");
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const iss = $("#iss").value.trim();
    if (!/^https?:\/\//.test(iss)) {
      status("Enter the FHIR server's base URL (https://…).", true);
      return;
    }
    status("Redirecting to the authorization server…");
    authorize(iss, null).catch((error) => status(`The launch failed: ${error.message}`, true));
  });
}

async function main() {
  wireTabs();
  // One page for both registered URLs (the launch URL /app/launch.html and the redirect URI /app/):
  // what the page does follows from its query, as SMART defines it.
  const params = new URLSearchParams(location.search);
  try {
    if (params.has("error")) throw new Error(`the authorization server answered “${params.get("error")}”`);
    if (params.has("code") || params.has("state")) {
      await runApp();
      return;
    }
    const iss = params.get("iss");
    if (iss) {
      status("Redirecting to the EHR's authorization server…");
      await authorize(iss, params.get("launch"));
      return;
    }
    wireStandalone();
    status("Launch this app from the EHR, or enter a FHIR server for a standalone launch.");
  } catch (error) {
    status(`${error.message || error}. Launch the app again from the EHR.`, true);
  }
}

main();
