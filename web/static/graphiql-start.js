// Starts GraphiQL on /graphql with the vendored React and GraphiQL (web/static/vendor/graphiql).
// Queries go to this origin over HTTP; subscriptions over a WebSocket to the same path.
(function () {
  "use strict";
  const url = window.location.origin + window.location.pathname;
  const socket = new URL(url);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";
  const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl: socket.toString() });
  const start = "# heartchain GraphQL. Ctrl-Enter runs the query; the Docs button lists every field.\n" +
    "# Operators and charities: put {\"Authorization\": \"Bearer hct_…\"} under Headers.\n" +
    "{\n  checkpoint { size rootHash signedAt }\n}\n";
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: start,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
  }));
})();
