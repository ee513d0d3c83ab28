"""The report page's stylesheet, inline in every page (no external file, font or URL).

System fonts only; every text colour meets WCAG AA on its background (white on the verdict
bands at least 5:1, badge text on its tint at least 6.5:1), and nothing is told by colour
alone: every verdict and marked message also says what it is in words.
"""

CSS = """
:root{color-scheme:light;--ink:#1f2328;--muted:#57606a;--line:#d0d7de;--bad:#b42318;
--bad-bg:#ffebe9;--bad-ink:#82071e;--ok:#1a7f37;--ok-bg:#dafbe1;--ok-ink:#116329;
--skip-bg:#fff8c5;--skip-ink:#6a4000}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;color:var(--ink);background:#fff}
main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",
monospace;font-size:13px}
.verdict{color:#fff;padding:22px 24px 18px}
.verdict.passed{background:var(--ok)}.verdict.failed{background:var(--bad)}
.verdict.unknown{background:#57606a}
.verdict div{max-width:1132px;margin:0 auto}
.verdict .kicker{margin:0;font-size:14px;letter-spacing:.06em;text-transform:uppercase}
.verdict h1{margin:2px 0 4px;font-size:44px;line-height:1.1}
.verdict .problem{margin:0;font-size:17px;max-width:70em}
h2{font-size:22px;margin:32px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:18px;margin:26px 0 6px}h4{font-size:15px;margin:18px 0 4px}
.facts{display:grid;grid-template-columns:minmax(0,1fr) 580px;gap:24px;margin-top:18px}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:3px 14px;margin:0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
nav{margin:18px 0 0;display:flex;gap:18px;flex-wrap:wrap}
a{color:#0550ae}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:13px;color:var(--muted);font-weight:600}
td.rules{min-width:340px}.mono.muted{font-size:12px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:13px;
white-space:nowrap}
.badge.failed{background:var(--bad-bg);color:var(--bad-ink)}
.badge.passed{background:var(--ok-bg);color:var(--ok-ink)}
.badge.skipped{background:var(--skip-bg);color:var(--skip-ink)}
.rule{display:inline-block;margin:0 4px 2px 0;padding:0 6px;border:1px solid var(--line);
border-radius:4px;font-size:12px;background:#f6f8fa}
.rule.broken{border-color:var(--bad);color:var(--bad-ink);background:var(--bad-bg);
font-weight:600}
.muted{color:var(--muted)}
.notice{border-left:4px solid #9a6700;background:#fff8c5;padding:8px 12px;margin:16px 0}
.violations{padding-left:20px}.violations li{margin:4px 0}
.violations code{white-space:pre-wrap;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table.messages td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:12.5px;white-space:nowrap}
table.messages td.same{color:var(--muted)}table.messages td.differs{font-weight:700}
tr.marked td{background:var(--bad-bg)}
tr.marked td:first-child{box-shadow:inset 4px 0 0 var(--bad)}
.flag{color:var(--bad-ink);font-weight:700}
details{margin:8px 0}summary{cursor:pointer;color:#0550ae}
.frame{margin:6px 0;border:1px solid var(--line);border-radius:4px}
.frame.marked{border-color:var(--bad)}
.frame p{margin:0;padding:3px 8px;background:#f6f8fa;font-size:13px}
.frame pre{margin:0;padding:6px 8px;white-space:pre-wrap;overflow-wrap:anywhere}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
figure{margin:0}figcaption{font-weight:600;margin:8px 0 2px}
svg.chart{max-width:100%;height:auto;font:12px system-ui,sans-serif}
footer{margin-top:40px;color:var(--muted);font-size:13px}
@media (max-width:900px){.facts{grid-template-columns:1fr}}
"""
