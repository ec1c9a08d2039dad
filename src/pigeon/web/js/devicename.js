// Human names for signed-in devices. The server knows a device only by the name it was given
// at sign-in (docs/protocol.md, "Auth"), so this browser names itself after its user agent
// ("Chrome on Linux", then a random part that keeps two such browsers apart), and the
// device list reads that name back.

import { t } from "./i18n.js";

const BROWSERS = [
  [/Edg(e|A|iOS)?\//, "Edge"],
  [/OPR\/|Opera/, "Opera"],
  [/Firefox\/|FxiOS/, "Firefox"],
  [/SamsungBrowser/, "Samsung Internet"],
  [/MicroMessenger/, "WeChat"],
  [/Chrom(e|ium)\/|CriOS/, "Chrome"],
  [/Safari\//, "Safari"],
];

const SYSTEMS = [
  [/Android/, "Android"],
  [/iPhone|iPad|iPod/, "iOS"],
  [/CrOS/, "ChromeOS"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/Linux/, "Linux"],
];

const SEPARATOR = " · ";
const LABELLED = /^(.+) on (.+) · [a-z2-7]+$/;
const PLATFORM_IDS = { web: "device_web", wx: "device_wechat" };

function pick(table, ua) {
  for (const [pattern, name] of table) if (pattern.test(ua)) return name;
  return "";
}

/** "Chrome on Linux" for this browser (the part of its device name people read). */
export function browserLabel(ua = navigator.userAgent) {
  const browser = pick(BROWSERS, ua) || "Browser";
  const system = pick(SYSTEMS, ua);
  return system ? `${browser} on ${system}` : browser;
}

/** How a device name from GET /users/me/devices reads in the current language. */
export function deviceTitle(name) {
  const labelled = LABELLED.exec(name);
  if (labelled) return t("device_on", { browser: labelled[1], os: labelled[2] });
  const plain = name.split(SEPARATOR)[0];
  if (plain !== name) return plain;
  const platform = PLATFORM_IDS[name.split("-")[0]];
  return platform ? t(platform) : t("device_unknown");
}
