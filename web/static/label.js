// The label page's Print button (no inline handlers: the pages' CSP allows no inline script).
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
