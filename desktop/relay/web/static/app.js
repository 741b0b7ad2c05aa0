// The person's page: sign-in, status, controls, Zoom, devices. Every change is
// a REST call with the session's CSRF token; the page shows what the relay
// answers and what the live socket pushes, never a guess of its own.

import { Live } from "./live.js";
import { disconnectText, formatTime, present, untilWords } from "./status.js";

const $ = (id) => document.getElementById(id);

let csrf = null;
let doc = null;
let connection = "connecting";
let offlineSince = null;
let live = null;
let busy = 0;

class RelayError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new RelayError(0, "unreachable", "Cannot reach the relay; check your network and try again.");
  }
  if (response.status === 204) return null;
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok) {
    const error = answer && answer.error;
    throw new RelayError(
      response.status,
      error ? error.code : "bad_response",
      error ? error.message : `The relay refused the request (HTTP ${response.status}).`,
    );
  }
  return answer;
}

function show(element, visible) {
  element.hidden = !visible;
}

// -- sign-in ---------------------------------------------------------------------------

function showSignIn(note) {
  if (live) live.stop();
  live = null;
  csrf = null;
  doc = null;
  show($("loading"), false);
  show($("main-view"), false);
  show($("who"), false);
  show($("sign-out"), false);
  show($("signin-view"), true);
  show($("signin-error"), false);
  $("signin-note").textContent = note || "";
  show($("signin-note"), Boolean(note));
  $("signin-password").value = "";
  $("signin-email").focus();
}

function showMain(session) {
  csrf = session.csrf_token;
  show($("loading"), false);
  show($("signin-view"), false);
  show($("main-view"), true);
  $("who").textContent = session.account.email;
  show($("who"), true);
  show($("sign-out"), true);
  connection = "connecting";
  offlineSince = null;
  render();
  live = new Live({
    onState(state, kind) {
      doc = state;
      render();
      if (kind === "snapshot") refreshDevices();
    },
    onConnection(state, since) {
      connection = state;
      offlineSince = since;
      render();
    },
    onSessionGone() {
      showSignIn("Your session has ended; sign in again.");
    },
  });
  live.start();
}

async function signIn(event) {
  event.preventDefault();
  const email = $("signin-email").value.trim();
  const password = $("signin-password").value;
  const error = $("signin-error");
  if (!email || !password) {
    error.textContent = "Enter your email and password.";
    show(error, true);
    (email ? $("signin-password") : $("signin-email")).focus();
    return;
  }
  $("signin-submit").disabled = true;
  try {
    const session = await call("POST", "/web/session", { email, password });
    $("signin-password").value = "";
    showMain(session);
  } catch (failure) {
    error.textContent = failure.message;
    show(error, true);
    $("signin-password").focus();
  } finally {
    $("signin-submit").disabled = false;
  }
}

async function signOut() {
  try {
    await call("DELETE", "/web/session");
  } catch (failure) {
    if (failure.status !== 401) {
      report(failure);
      return;
    }
  }
  showSignIn("You are signed out.");
}

// -- rendering ----------------------------------------------------------------------------

function render() {
  const status = present(doc, connection, offlineSince);
  $("status-icon").src = `/static/icons/${status.icon}.svg`;
  if ($("status").textContent !== status.title) $("status").textContent = status.title;
  $("status-detail").textContent = status.detail;
  document.title = `${status.title} · ProfitRinger`;
  const usable = connection === "online" && doc !== null && busy === 0;
  for (const control of document.querySelectorAll(".live-control")) control.disabled = !usable;
  const known = doc !== null && connection === "online";
  // Offline, nothing is shown as if it were known: switches go indeterminate.
  for (const id of ["ringer-on", "auto-pause"]) $(id).indeterminate = !known;
  for (const id of ["zoom-connect", "zoom-disconnect", "meeting-link"]) show($(id), known);
  if (!known) {
    const unknown = connection === "offline" ? "Unknown while offline." : "…";
    $("preferred-available").checked = false;
    $("preferred-unavailable").checked = false;
    $("override-now").textContent = unknown;
    $("zoom-status").textContent = unknown;
    return;
  }
  $("ringer-on").checked = doc.ringer_on;
  $("auto-pause").checked = doc.auto_pause;
  $("preferred-available").checked = doc.preferred === "available";
  $("preferred-unavailable").checked = doc.preferred === "unavailable";
  const override = doc.override;
  $("override-now").textContent = override
    ? `Now: ${override.value === "available" ? "available" : "unavailable"}${untilWords(override)}.`
    : "No override: the rules above decide.";
  $("override-meeting").disabled = !usable || !doc.zoom.in_meeting;
  $("override-clear").disabled = !usable || !override;

  const zoom = doc.zoom;
  const connect = $("zoom-connect");
  if (zoom.state === "connected") {
    const meeting = zoom.in_meeting ? " In a meeting now." : "";
    $("zoom-status").textContent = `Connected as ${zoom.email || "your Zoom account"}.${meeting}`;
    show(connect, false);
  } else if (zoom.state === "expired") {
    const when = zoom.since ? ` since ${formatTime(zoom.since)}` : "";
    $("zoom-status").textContent = `Expired${when} — reconnect so meetings pause your ringer again.`;
    connect.textContent = "Reconnect";
    show(connect, true);
  } else {
    $("zoom-status").textContent = "Not connected. Connect Zoom so meetings pause your ringer.";
    connect.textContent = "Connect";
    show(connect, true);
  }
  show($("zoom-disconnect"), zoom.state !== "disconnected");
  show($("meeting-link"), zoom.state === "connected");
}

function report(failure) {
  if (failure.status === 401) {
    showSignIn("Your session has ended; sign in again.");
    return;
  }
  const banner = $("action-error");
  banner.textContent = failure.message;
  show(banner, true);
}

// One change: disable the controls while it runs, show the answer, report errors.
async function change(method, path, body) {
  show($("action-error"), false);
  busy += 1;
  render();
  try {
    const answer = await call(method, path, body);
    if (answer && live) live.take(answer);
    return answer;
  } catch (failure) {
    report(failure);
    return null;
  } finally {
    busy -= 1;
    render();
  }
}

function pauseFor(minutes) {
  const until = new Date(Date.now() + minutes * 60000).toISOString();
  return change("PUT", "/api/v1/override", { value: "unavailable", until });
}

// -- Zoom -----------------------------------------------------------------------------------

async function connectZoom() {
  show($("action-error"), false);
  try {
    const answer = await call("POST", "/api/v1/integrations/zoom/connect");
    // Through the relay's start page (or straight to Zoom): wherever it says.
    location.assign(answer.authorize_url);
  } catch (failure) {
    report(failure);
  }
}

function askDisconnect() {
  $("disconnect-text").textContent = disconnectText(doc && doc.zoom.email);
  $("disconnect-dialog").showModal();
}

async function newMeetingLink() {
  const meeting = await change("POST", "/api/v1/meetings", { topic: "ProfitRinger meeting" });
  if (!meeting) return;
  const field = $("meeting-url");
  field.value = meeting.join_url;
  show($("meeting-result"), true);
  let copied = false;
  try {
    await navigator.clipboard.writeText(meeting.join_url);
    copied = true;
  } catch {
    copied = false;
  }
  field.focus();
  field.select();
  $("meeting-note").textContent = copied
    ? "Copied to the clipboard."
    : "The browser did not allow copying: the link is selected, copy it with Ctrl+C.";
}

// -- devices ----------------------------------------------------------------------------------

async function refreshDevices() {
  let answer;
  try {
    answer = await call("GET", "/api/v1/sessions");
  } catch (failure) {
    if (failure.status === 401) report(failure);
    return;
  }
  const list = $("devices");
  list.replaceChildren();
  for (const device of answer.sessions) {
    const item = document.createElement("li");
    const text = document.createElement("div");
    const name = document.createElement("strong");
    name.textContent = device.current ? `${device.device_name} — this browser` : device.device_name;
    const when = document.createElement("span");
    when.className = "note";
    const seen = device.last_seen_at ? `, last seen ${formatTime(device.last_seen_at)}` : "";
    when.textContent = `Signed in ${formatTime(device.created_at)}${seen}`;
    text.append(name, document.createElement("br"), when);
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Sign out";
    button.setAttribute("aria-label", `Sign out ${device.device_name}`);
    button.dataset.sessionId = String(device.id);
    button.addEventListener("click", () => signOutDevice(device));
    item.append(text, button);
    list.append(item);
  }
}

async function signOutDevice(device) {
  if (device.current) {
    await signOut();
    return;
  }
  await change("DELETE", `/api/v1/sessions/${device.id}`);
  await refreshDevices();
}

async function signOutEverywhere() {
  $("everywhere-dialog").close();
  show($("action-error"), false);
  try {
    await call("DELETE", "/api/v1/sessions");
  } catch (failure) {
    report(failure);
    return;
  }
  await signOut();
}

async function changePassword(event) {
  event.preventDefault();
  const note = $("password-note");
  const current = $("current-password").value;
  const next = $("new-password").value;
  if (!current || next.length < 8) {
    note.textContent = "Enter your current password and a new one of at least 8 characters.";
    return;
  }
  $("password-submit").disabled = true;
  try {
    await call("PUT", "/api/v1/account/password", {
      current_password: current,
      new_password: next,
    });
    note.textContent = "Password changed. Every other device was signed out.";
    $("current-password").value = "";
    $("new-password").value = "";
    await refreshDevices();
  } catch (failure) {
    if (failure.status === 401) report(failure);
    else note.textContent = failure.message;
  } finally {
    $("password-submit").disabled = false;
  }
}

// -- start ----------------------------------------------------------------------------------

function wire() {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("ringer-on").addEventListener("change", (e) =>
    change("PUT", "/api/v1/ringer", { on: e.target.checked }),
  );
  $("auto-pause").addEventListener("change", (e) =>
    change("PUT", "/api/v1/auto-pause", { on: e.target.checked }),
  );
  for (const id of ["preferred-available", "preferred-unavailable"]) {
    $(id).addEventListener("change", (e) =>
      change("PUT", "/api/v1/availability", { preferred: e.target.value }),
    );
  }
  $("override-meeting").addEventListener("click", () =>
    change("PUT", "/api/v1/override", { value: "available", until: "meeting_end" }),
  );
  $("override-30").addEventListener("click", () => pauseFor(30));
  $("override-60").addEventListener("click", () => pauseFor(60));
  $("override-manual").addEventListener("click", () =>
    change("PUT", "/api/v1/override", { value: "unavailable", until: "manual" }),
  );
  $("override-clear").addEventListener("click", () => change("DELETE", "/api/v1/override"));
  $("zoom-connect").addEventListener("click", connectZoom);
  $("zoom-disconnect").addEventListener("click", askDisconnect);
  $("disconnect-cancel").addEventListener("click", () => $("disconnect-dialog").close());
  $("disconnect-confirm").addEventListener("click", () => {
    $("disconnect-dialog").close();
    change("DELETE", "/api/v1/integrations/zoom");
  });
  $("meeting-link").addEventListener("click", newMeetingLink);
  $("sign-out-everywhere").addEventListener("click", () => $("everywhere-dialog").showModal());
  $("everywhere-cancel").addEventListener("click", () => $("everywhere-dialog").close());
  $("everywhere-confirm").addEventListener("click", signOutEverywhere);
  $("password-form").addEventListener("submit", changePassword);
  // Times in words ("since 10:02") stay right across midnight without a timer
  // per second: re-render once a minute only while the page is visible.
  setInterval(() => {
    if (document.visibilityState === "visible" && doc) render();
  }, 60000);
}

async function boot() {
  wire();
  try {
    const session = await call("GET", "/web/session");
    if (session.signed_in) showMain(session);
    else showSignIn("");
  } catch (failure) {
    showSignIn(failure.status === 401 ? "" : failure.message);
  }
}

boot();
