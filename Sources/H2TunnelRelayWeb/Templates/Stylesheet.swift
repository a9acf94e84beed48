/// `/static/site.css`: system fonts, one column that fits a phone and centres on a
/// desktop, status badges green (online) and grey (offline).
enum Stylesheet {
    static let text = """
        :root{--ink:#1b2430;--muted:#5b6675;--line:#dde2e8;--bg:#f4f6f9;--card:#fff;--brand:#1f5eff;--brand-ink:#fff;--ok:#137a3a;--ok-bg:#e3f5e9;--off:#5b6675;--off-bg:#eceff3;--bad:#a4262c;--bad-bg:#fdecec}
        *{box-sizing:border-box}
        html{-webkit-text-size-adjust:100%}
        body{margin:0;background:var(--bg);color:var(--ink);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
        .wrap{width:100%;max-width:44rem;margin:0 auto;padding:0 1rem}
        .bar{background:var(--card);border-bottom:1px solid var(--line)}
        .bar-inner{display:flex;align-items:center;justify-content:space-between;gap:1rem;min-height:3.5rem}
        .brand{display:flex;align-items:center;gap:.5rem;font-weight:650;font-size:1.1rem;color:var(--ink);text-decoration:none}
        .mark{display:inline-grid;place-items:center;width:2rem;height:2rem;border-radius:.5rem;background:var(--brand);color:var(--brand-ink);font-size:.8rem;font-weight:700;letter-spacing:.02em}
        .account{display:flex;align-items:center;gap:.75rem;min-width:0}
        .account form{margin:0}
        .account .button{padding:.35rem .8rem;font-size:.9rem}
        .user{color:var(--muted);font-size:.9rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:10rem}
        main.wrap{padding-top:2rem;padding-bottom:1.5rem}
        h1{font-size:1.5rem;line-height:1.25;margin:0 0 .25rem}
        .lead{color:var(--muted);margin:0 0 1.5rem}
        .card{background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1.5rem;box-shadow:0 1px 2px rgba(16,24,40,.04)}
        .card > :last-child{margin-bottom:0}
        .narrow{max-width:26rem;margin:0 auto}
        label{display:block;font-weight:600;font-size:.9rem;margin:1rem 0 .35rem}
        input[type=text],input[type=password]{width:100%;font:inherit;padding:.6rem .75rem;border:1px solid #c5ccd6;border-radius:.5rem;background:#fff;color:var(--ink)}
        input:focus{outline:2px solid var(--brand);outline-offset:1px;border-color:var(--brand)}
        .button{display:inline-block;font:inherit;font-weight:600;padding:.55rem 1.1rem;border-radius:.5rem;border:1px solid var(--brand);background:var(--brand);color:var(--brand-ink);text-decoration:none;cursor:pointer;text-align:center}
        .button:hover{filter:brightness(.95)}
        .button:focus-visible{outline:2px solid var(--ink);outline-offset:2px}
        .button.quiet{background:transparent;color:var(--brand)}
        #signin .button{width:100%;margin-top:1.5rem;padding:.7rem}
        .alert{background:var(--bad-bg);color:var(--bad);border:1px solid #f3c2c4;border-radius:.5rem;padding:.6rem .8rem;margin:0 0 1rem}
        .message{color:var(--muted)}
        .companies{list-style:none;margin:0;padding:0;display:grid;gap:.75rem}
        .company{display:grid;grid-template-columns:1fr auto;grid-template-areas:"who open" "state open";align-items:center;gap:.35rem 1rem;background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1rem 1.1rem}
        .company .who{grid-area:who;display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem .6rem;min-width:0}
        .company .name{font-weight:650;font-size:1.05rem}
        .company .id{color:var(--muted);font-size:.85rem;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
        .company .state{grid-area:state;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;font-size:.85rem;color:var(--muted)}
        .company .open{grid-area:open}
        .badge{display:inline-flex;align-items:center;gap:.35rem;font-size:.78rem;font-weight:650;padding:.15rem .55rem;border-radius:999px}
        .badge::before{content:"";width:.5rem;height:.5rem;border-radius:50%;background:currentColor}
        .badge.online{color:var(--ok);background:var(--ok-bg)}
        .badge.offline{color:var(--off);background:var(--off-bg)}
        .empty{background:var(--card);border:1px dashed var(--line);border-radius:.75rem;padding:1.25rem;color:var(--muted)}
        .foot{color:var(--muted);font-size:.8rem;padding-bottom:2rem;text-align:center}
        @media (max-width:30rem){
        .company{grid-template-columns:1fr;grid-template-areas:"who" "state" "open"}
        .company .open{width:100%;margin-top:.5rem}
        .user{max-width:7rem}
        main.wrap{padding-top:1.25rem}
        }

        """
}
