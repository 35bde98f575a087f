/// The playground's stylesheet: system fonts only, light and dark.
enum PlaygroundStyle {
    static let css = #"""
    :root { --bg:#f7f7f5; --fg:#1d1d1b; --mute:#6b6b66; --line:#d9d9d4; --card:#fff; --accent:#2457c5; --low:#ffd9a8; --lowline:#d97a00; }
    @media (prefers-color-scheme: dark) { :root { --bg:#17181a; --fg:#e8e8e4; --mute:#9a9a94; --line:#34363a; --card:#1f2023; --accent:#7aa2ff; --low:#6b4210; --lowline:#ffae42; } }
    * { box-sizing: border-box; }
    [hidden] { display:none !important; }
    body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; background:var(--bg); color:var(--fg); }
    header { display:flex; gap:1.2rem; align-items:center; padding:.6rem 1.2rem; border-bottom:1px solid var(--line); background:var(--card); }
    h1 { font-size:1.15rem; margin:0; } h1 span { font-weight:400; color:var(--mute); }
    #status { color:var(--mute); font-size:.9rem; margin-left:auto; }
    #key-box { display:flex; gap:.6rem; align-items:center; padding:.6rem 1.2rem; background:#fff4d6; color:#1d1d1b; border-bottom:1px solid var(--line); flex-wrap:wrap; }
    main { display:grid; grid-template-columns: 270px 1fr; gap:1.2rem; padding:1.2rem; max-width:1200px; margin:auto; }
    aside { display:flex; flex-direction:column; gap:.8rem; }
    aside label { display:flex; flex-direction:column; gap:.25rem; font-size:.9rem; color:var(--mute); }
    aside label.check { flex-direction:row; align-items:center; gap:.4rem; color:var(--fg); }
    fieldset.modes { border:1px solid var(--line); border-radius:6px; display:flex; gap:1rem; padding:.4rem .7rem; margin:0; }
    fieldset.modes label { flex-direction:row; gap:.3rem; color:var(--fg); }
    .pair { display:flex; gap:.4rem; } .pair input[type=range] { flex:1; } .pair input[type=number] { width:4.8rem; }
    input, select, textarea, button { font:inherit; color:inherit; }
    input[type=number], input[type=password], select, textarea { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:.35rem .5rem; }
    textarea { resize:vertical; width:100%; }
    button { background:var(--accent); color:#fff; border:0; border-radius:6px; padding:.4rem .9rem; cursor:pointer; }
    button.quiet { background:transparent; color:var(--fg); border:1px solid var(--line); }
    button:disabled { opacity:.45; cursor:default; }
    .legend { font-size:.82rem; color:var(--mute); margin:0; }
    section { display:flex; flex-direction:column; gap:.7rem; min-width:0; }
    #out { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; min-height:14rem; max-height:60vh; overflow:auto; }
    #out:empty::before { content:"The conversation appears here."; color:var(--mute); }
    .msg { margin:.2rem 0 .9rem; } .msg .who { font-size:.78rem; text-transform:uppercase; letter-spacing:.04em; color:var(--mute); }
    .msg .text { white-space:pre-wrap; word-wrap:break-word; }
    .msg.prompt .text { color:var(--mute); }
    .msg .summary { font-size:.8rem; color:var(--mute); margin-top:.2rem; }
    .msg.error .text { color:#c62828; }
    .msg.aside { opacity:.6; } .msg.aside .who::after { content:" · not in the conversation"; text-transform:none; }
    mark.low { background:var(--low); color:inherit; border-bottom:2px solid var(--lowline); border-radius:2px; cursor:help; }
    .actions { display:flex; gap:.6rem; align-items:center; flex-wrap:wrap; }
    #stats { color:var(--mute); font-size:.88rem; font-variant-numeric:tabular-nums; }
    .curl { border:1px solid var(--line); border-radius:8px; background:var(--card); }
    .curl-head { display:flex; justify-content:space-between; align-items:center; padding:.3rem .6rem; font-size:.85rem; color:var(--mute); border-bottom:1px solid var(--line); }
    .curl-head button { padding:.15rem .6rem; font-size:.8rem; }
    #curl { margin:0; padding:.6rem; font:12.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; white-space:pre-wrap; word-break:break-all; max-height:12rem; overflow:auto; }
    @media (max-width: 760px) { main { grid-template-columns: 1fr; } }
    """#
}
