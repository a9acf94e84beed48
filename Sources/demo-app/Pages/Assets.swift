/// The page's stylesheet and its one script, served as files so the page
/// needs no inline code under its CSP.
enum Assets {
    static let css = """
    :root { --ink: #1d2330; --muted: #5d6678; --line: #e3e6ec; --bg: #f5f6f8; --card: #fff;
            --accent: #2457c5; --ok: #1a8a4a; --warn: #b26b00; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
           color: var(--ink); background: var(--bg); }
    a { color: var(--accent); text-decoration: none; }
    a:hover { text-decoration: underline; }
    .top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between;
           padding: .75rem 1.25rem; background: var(--card); border-bottom: 1px solid var(--line); }
    .brand { font-weight: 650; font-size: 1.05rem; color: var(--ink); }
    .brand span { color: var(--muted); font-weight: 400; }
    nav { display: flex; gap: 1rem; align-items: center; color: var(--muted); font-size: .92rem; }
    .signout { border: 1px solid var(--line); border-radius: 6px; padding: .25rem .7rem; }
    main { max-width: 960px; margin: 0 auto; padding: 1rem 1.25rem 2rem; }
    h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
    h2 { font-size: 1.1rem; margin: 2rem 0 .75rem; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
    .scroll { overflow-x: auto; }
    table { width: 100%; border-collapse: collapse; }
    th, td { padding: .6rem .9rem; text-align: left; border-bottom: 1px solid var(--line); white-space: nowrap; }
    td:nth-child(3), th:nth-child(3) { white-space: normal; }
    tbody tr:last-child td { border-bottom: 0; }
    th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; }
    .amount { text-align: right; font-variant-numeric: tabular-nums; }
    .num, .date { font-variant-numeric: tabular-nums; color: var(--muted); }
    td.kind { text-transform: capitalize; color: var(--muted); }
    .live { display: inline-flex; align-items: center; gap: .5rem; margin: 0 0 .5rem; padding: .3rem .8rem;
            border-radius: 999px; background: var(--card); border: 1px solid var(--line); font-size: .88rem;
            color: var(--muted); }
    .dot { flex: none; width: .6rem; height: .6rem; border-radius: 50%; background: var(--warn); }
    .live[data-state="live"] .dot { background: var(--ok); }
    .crumbs { margin: .5rem 0 0; color: var(--muted); }
    .summary { color: var(--muted); }
    .summary strong { color: var(--ink); font-variant-numeric: tabular-nums; }
    .empty { color: var(--muted); }
    .form { display: grid; grid-template-columns: repeat(4, 1fr); gap: .75rem 1rem; padding: 1rem; align-items: end; }
    .form label { display: grid; gap: .3rem; font-size: .85rem; color: var(--muted); }
    .form label.wide { grid-column: span 3; }
    .form input, .form select { font: inherit; color: var(--ink); padding: .45rem .6rem; border: 1px solid var(--line);
                                border-radius: 6px; background: #fff; min-width: 0; width: 100%; }
    .form button { font: inherit; font-weight: 600; padding: .5rem 1rem; border: 0; border-radius: 6px;
                   background: var(--accent); color: #fff; cursor: pointer; }
    .alert { grid-column: 1 / -1; margin: 0; padding: .5rem .8rem; border-radius: 6px; background: #fdecea; color: #8a1c12; }
    tr:target td { background: #fff8d6; }
    footer { max-width: 960px; margin: 0 auto; padding: 0 1.25rem 2rem; color: var(--muted); font-size: .85rem; }
    @media (max-width: 600px) {
      body { font-size: 14px; }
      th, td { padding: .5rem .6rem; }
      th.kind, td.kind { display: none; }
      h1 { font-size: 1.25rem; }
      .form { grid-template-columns: 1fr 1fr; }
      .form label.wide { grid-column: 1 / -1; }
    }

    """

    /// Feeds `#live` from `/api/events`. EventSource reconnects by itself and
    /// resends Last-Event-ID, which the server continues from.
    static let liveScript = """
    "use strict";
    (function () {
      var live = document.getElementById("live");
      var text = document.getElementById("live-text");
      if (!live || !text || !window.EventSource) { return; }
      var source = new EventSource("/api/events");
      source.onmessage = function (event) {
        var data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        live.dataset.state = "live";
        live.dataset.eventId = String(data.id);
        live.dataset.vouchers = String(data.vouchers);
        text.textContent = "Live · update " + data.id + " at " + data.time.slice(11, 19) + " UTC · "
          + data.vouchers + " vouchers booked";
      };
      source.onerror = function () {
        live.dataset.state = "reconnecting";
        text.textContent = "Reconnecting to live updates…";
      };
    })();

    """
}
