/**
 * The report page's stylesheet, inlined into the page: system fonts only (no web font to fetch),
 * charts that shrink with the window, and a print layout that keeps a chart on one page.
 */
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #1f2937; --muted: #6b7280; --rule: #e5e7eb; --panel: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1360px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
.meta, .intro, figcaption { color: var(--muted); }
.summary { font-size: 16px; font-weight: 600; }
table { border-collapse: collapse; margin: 12px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { font-weight: 600; background: var(--panel); }
td.num, th.num { text-align: right; white-space: nowrap; }
table.layers td:first-child, table.layers td:nth-child(2) { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px 24px; }
figure.chart { margin: 12px 0; padding: 10px 12px; border: 1px solid var(--rule); border-radius: 8px; background: #fff; break-inside: avoid; }
figure.chart figcaption { font-size: 13px; margin-top: 4px; }
svg.chart-svg { display: block; max-width: 100%; height: auto; font: 11px system-ui, "DejaVu Sans", sans-serif; }
svg .axis { stroke: #374151; stroke-width: 1; }
svg .tick { stroke: #374151; }
svg .gridline { stroke: #eef0f3; }
svg .tick-label, svg .bar-value, svg .legend-label, svg .point-label { fill: #374151; }
svg .bar-label { fill: var(--ink); }
svg .axis-label { fill: var(--muted); font-size: 12px; }
svg .legend { fill: #fff; fill-opacity: 0.85; stroke: var(--rule); }
svg .qgrid line { stroke: #6b7280; stroke-width: 0.7; stroke-dasharray: 3 2; stroke-opacity: 0.75; }
svg .trail { stroke: #9ca3af; stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .point-label { font-size: 12px; }
svg .nodata-frame { fill: var(--panel); stroke: #d1d5db; stroke-dasharray: 5 4; }
svg .nodata-title { fill: var(--muted); font-size: 16px; font-weight: 600; }
svg .nodata-reason { fill: var(--muted); font-size: 12px; }
@media print { main { max-width: none; padding: 0; } .grid { grid-template-columns: 1fr 1fr; } }
`;
