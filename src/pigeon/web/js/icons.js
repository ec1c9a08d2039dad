// Inline SVG icons (24×24, stroked), so nothing is fetched at run time.

const PATHS = {
  send: "M4 12l16-8-6 16-3-7-7-1z",
  attach: "M21 11.5l-8.6 8.6a5 5 0 01-7-7L14 4.5a3.4 3.4 0 014.8 4.8l-8.6 8.6a1.7 1.7 0 01-2.4-2.4l7.9-7.9",
  smile: "M12 21a9 9 0 100-18 9 9 0 000 18zM8.5 14.5s1.2 2 3.5 2 3.5-2 3.5-2M9 9.5h.01M15 9.5h.01",
  back: "M15 18l-6-6 6-6",
  close: "M6 6l12 12M18 6L6 18",
  check: "M5 12.5l4.5 4.5L19 7.5",
  checks: "M2 12.5l4.5 4.5L16 7.5M10.5 16l1 1L21 7.5",
  // The same two ticks, drawn bolder by the .read style; a separate name so tests and
  // styles can tell the states apart without comparing colours.
  checksRead: "M2 12.5l4.5 4.5L16 7.5M10.5 16l1 1L21 7.5",
  // A speech bubble struck through: the message goes away for everyone (not "reply").
  recall: "M4 5h16v11H9l-5 4V5zM9.5 8l5 5M14.5 8l-5 5",
  clock: "M12 21a9 9 0 100-18 9 9 0 000 18zM12 7v5l3 2",
  alert: "M12 8v5M12 16.5h.01M12 21a9 9 0 100-18 9 9 0 000 18z",
  pin: "M9 4h6l-1 6 3 3H7l3-3-1-6zM12 13v7",
  bell: "M6 16V11a6 6 0 0112 0v5l2 2H4l2-2zM10 20a2 2 0 004 0",
  bellOff: "M6 16V11a6 6 0 0110-4.5M18 11v5l2 2H8M10 20a2 2 0 004 0M3 3l18 18",
  info: "M12 21a9 9 0 100-18 9 9 0 000 18zM12 11v5M12 8h.01",
  plus: "M12 5v14M5 12h14",
  group: "M9 11a3.5 3.5 0 100-7 3.5 3.5 0 000 7zM2.5 20a6.5 6.5 0 0113 0M16 4.3a3.5 3.5 0 010 6.4M18 14a6.5 6.5 0 013.5 6",
  gear: "M12 15a3 3 0 100-6 3 3 0 000 6zM19.4 15a1.7 1.7 0 00.3 1.8l.1.1a2 2 0 11-2.8 2.8l-.1-.1a1.7 1.7 0 00-1.8-.3 1.7 1.7 0 00-1 1.5V21a2 2 0 11-4 0v-.1a1.7 1.7 0 00-1.1-1.5 1.7 1.7 0 00-1.8.3l-.1.1a2 2 0 11-2.8-2.8l.1-.1a1.7 1.7 0 00.3-1.8 1.7 1.7 0 00-1.5-1H3a2 2 0 110-4h.1a1.7 1.7 0 001.5-1.1 1.7 1.7 0 00-.3-1.8l-.1-.1a2 2 0 112.8-2.8l.1.1a1.7 1.7 0 001.8.3H9a1.7 1.7 0 001-1.5V3a2 2 0 114 0v.1a1.7 1.7 0 001 1.5 1.7 1.7 0 001.8-.3l.1-.1a2 2 0 112.8 2.8l-.1.1a1.7 1.7 0 00-.3 1.8V9a1.7 1.7 0 001.5 1H21a2 2 0 110 4h-.1a1.7 1.7 0 00-1.5 1z",
  moon: "M20 14.5A8 8 0 119.5 4a6.5 6.5 0 0010.5 10.5z",
  sun: "M12 16a4 4 0 100-8 4 4 0 000 8zM12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4",
  reply: "M9 14L4 9l5-5M4 9h10.5A5.5 5.5 0 0120 14.5V20",
  // The reply arrow turned the other way: the message goes on to somewhere else.
  forward: "M15 14l5-5-5-5M20 9H9.5A5.5 5.5 0 004 14.5V20",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  edit: "M4 20h4L19 9l-4-4L4 16v4zM13.5 6.5l4 4",
  undo: "M9 14L4 9l5-5M4 9h11a5 5 0 010 10h-3",
  download: "M12 4v11M7 10l5 5 5-5M5 20h14",
  file: "M14 3H6v18h12V7l-4-4zM14 3v4h4",
  search: "M11 18a7 7 0 100-14 7 7 0 000 14zM20 20l-4-4",
  chat: "M4 5h16v11H9l-5 4V5z",
  users: "M16 20v-1.5A3.5 3.5 0 0012.5 15h-5A3.5 3.5 0 004 18.5V20M10 11a3.5 3.5 0 100-7 3.5 3.5 0 000 7zM20 20v-1.5a3.5 3.5 0 00-2.5-3.4M15 4.1a3.5 3.5 0 010 6.8",
  globe: "M12 21a9 9 0 100-18 9 9 0 000 18zM3 12h18M12 3a14 14 0 010 18M12 3a14 14 0 000 18",
  arrowDown: "M12 5v14M6 13l6 6 6-6",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  userPlus: "M15 20v-1.5A3.5 3.5 0 0011.5 15h-5A3.5 3.5 0 003 18.5V20M9 11a3.5 3.5 0 100-7 3.5 3.5 0 000 7zM19 8v6M16 11h6",
  block: "M12 21a9 9 0 100-18 9 9 0 000 18zM5.6 5.6l12.8 12.8",
  at: "M16 12a4 4 0 11-8 0 4 4 0 018 0zM16 12v1.5a2.5 2.5 0 005 0V12a9 9 0 10-3.5 7.1",
  wifiOff: "M3 3l18 18M8.5 16.4a5 5 0 017 0M5 12.9a10 10 0 015.2-2.7M15.5 10.4A10 10 0 0119 12.9M2 9.3a15 15 0 014.4-2.6M12 20h.01M10.7 5.1A15 15 0 0122 9.3",
  language: "M4 5h9M8.5 3v2M6 5c.5 3.5 2.5 6.5 6 8M11 5c-.5 3-2.5 6.5-7 8.5M13 21l4.5-10L22 21M14.5 17.5h6",
};

const NS = "http://www.w3.org/2000/svg";

export function icon(name, { size = 20, label = null, cls = "" } = {}) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("class", `icon ${cls}`.trim());
  svg.dataset.icon = name;
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", PATHS[name] || PATHS.info);
  svg.append(path);
  return svg;
}
