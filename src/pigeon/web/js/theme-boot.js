// Apply the saved theme before the first paint, so dark mode does not flash white. A classic
// (blocking) script in <head>, kept in its own file so a CSP without 'unsafe-inline' allows it.
try {
  var saved = localStorage.getItem("pigeon.theme");
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
} catch (e) {}
