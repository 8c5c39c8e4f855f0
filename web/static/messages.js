// The page's translated strings: the server puts them in <script id="hc-messages"> as JSON;
// msg(key, {name: value}) fills a message's {name} placeholders (the key itself if unknown).

const messages = (() => {
  const node = document.getElementById("hc-messages");
  try { return node ? JSON.parse(node.textContent) : {}; } catch { return {}; }
})();

export function msg(key, values = {}) {
  let text = messages[key] || key;
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}
