// What the page says about the ringer: the same words and icons as the tray
// (desktop/client/presentation.py), as a pure function of the state document,
// the connection and the time.

export function formatTime(iso, now = new Date()) {
  const moment = new Date(iso);
  const clock = moment.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  if (moment.toDateString() === now.toDateString()) return clock;
  const day = moment.toLocaleDateString([], { day: "2-digit", month: "short" });
  return `${day} ${clock}`;
}

function since(iso, now) {
  return iso ? ` since ${formatTime(iso, now)}` : "";
}

export function untilWords(override, now = new Date()) {
  if (!override) return "";
  if (override.until === "meeting_end") return " until this meeting ends";
  if (override.until === "manual") return " until you resume";
  return ` until ${formatTime(override.until, now)}`;
}

export function zoomLine(doc) {
  const zoom = doc.zoom;
  if (zoom.state === "connected") {
    const who = zoom.email ? ` as ${zoom.email}` : "";
    return `Zoom: connected${who}${zoom.in_meeting ? ", in a meeting" : ""}`;
  }
  if (zoom.state === "expired") return "Zoom: connection expired — reconnect to follow meetings again";
  return "Zoom: not connected — meetings will not pause your ringer";
}

export function ringerWords(doc, now = new Date()) {
  const effective = doc.effective;
  const from = since(effective.since, now);
  if (effective.reason === "ringer_off") return ["ringer-off", `Ringer off${from}`];
  if (effective.reason === "override") {
    const value = effective.availability === "available" ? "Available" : "Unavailable";
    return ["overridden", `${value} (override)${untilWords(doc.override, now)}`];
  }
  if (effective.reason === "in_meeting") return ["paused", `Paused — in a Zoom meeting${from}`];
  if (effective.availability === "available") return ["available", `Available${from}`];
  return ["unavailable", `Unavailable${from}`];
}

// -> {icon, title, detail}; connection is "connecting" | "online" | "offline".
export function present(doc, connection, offlineSince, now = new Date()) {
  if (connection === "connecting" || (connection !== "offline" && !doc)) {
    return { icon: "offline", title: "Connecting…", detail: "Connecting to the relay…" };
  }
  if (connection === "offline" || !doc) {
    const from = offlineSince ? ` since ${formatTime(offlineSince.toISOString(), now)}` : "";
    return {
      icon: "offline",
      title: `Offline${from} — reconnecting…`,
      detail: "Your ringer's state is unknown until the relay answers again.",
    };
  }
  const [icon, ringer] = ringerWords(doc, now);
  const zoom = zoomLine(doc);
  if (icon !== "ringer-off" && doc.zoom.state !== "connected") {
    const expired = doc.zoom.state === "expired";
    return {
      icon: "zoom-action",
      title: expired ? "Zoom connection expired — reconnect" : "Zoom not connected — connect",
      detail: `${ringer}. ${zoom}.`,
    };
  }
  return { icon, title: ringer, detail: `${zoom}.` };
}

export function disconnectText(email) {
  const who = email ? ` (${email})` : "";
  return (
    `Disconnect your Zoom account${who}? This revokes ProfitRinger's access at Zoom and ` +
    "deletes the Zoom access tokens the relay keeps for you. Meetings will no longer pause " +
    "your ringer until you connect Zoom again. Your ProfitRinger account, availability and " +
    "settings stay as they are."
  );
}
