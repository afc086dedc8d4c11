import { formatTick, type Scale } from './scale.js';

/**
 * The pieces every chart of the report shares: text escaping, number formatting for attributes,
 * the <svg> element itself, axes with ticks and labels, a legend, and the "no data" panel that
 * stands in for a chart whose input has nothing drawable (empty, NaN), so a page never holds a
 * broken or blank SVG. Charts carry data-chart (their kind) and data-points (the marks drawn) for
 * tools and tests.
 */

/** Escapes text for XML and HTML content and attribute values: & < > " '. */
export function escapeXml(text: string): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** A coordinate for an attribute: one decimal, never NaN (0 instead, which only a bug would reach). */
export function px(value: number): string {
  if (!Number.isFinite(value)) return '0';
  return String(Math.round(value * 10) / 10);
}

/** Distinct colours that stay readable on white and in print. */
export const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#4b5563'] as const;

export const colour = (i: number): string => PALETTE[i % PALETTE.length];

/** Rough width of `text` in the 11px sans-serif the charts use (for layout only). */
export const textWidth = (text: string, size = 11): number => text.length * size * 0.64;

/** Shortens a label to `max` characters with an ellipsis (the full text goes in a <title>). */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(1, max - 1))}…`;
}

export interface Box {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

/** The plot area's pixel bounds. */
export const plotArea = (box: Box): { x0: number; x1: number; y0: number; y1: number } => ({
  x0: box.left, x1: box.width - box.right, y0: box.height - box.bottom, y1: box.top,
});

/** An <svg> element (no xmlns: inline SVG in HTML needs none, and the page then names no URL at all). */
export function svgElement(kind: string, title: string, box: Pick<Box, 'width' | 'height'>, marks: number, body: string, extra = ''): string {
  return [
    `<svg class="chart-svg" data-chart="${escapeXml(kind)}" data-points="${marks}"${extra} viewBox="0 0 ${box.width} ${box.height}" width="${box.width}" height="${box.height}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    body,
    '</svg>',
  ].join('\n');
}

/** A panel in place of a chart with nothing to draw: the title and why, framed. */
export function noDataPanel(kind: string, title: string, reason: string, width = 640, height = 140): string {
  const body = [
    `<rect class="nodata-frame" x="1" y="1" width="${width - 2}" height="${height - 2}" rx="6"/>`,
    `<text class="nodata-title" x="${width / 2}" y="${height / 2 - 8}" text-anchor="middle">no data</text>`,
    `<text class="nodata-reason" x="${width / 2}" y="${height / 2 + 14}" text-anchor="middle">${escapeXml(shorten(reason, 100))}</text>`,
  ].join('\n');
  return svgElement(kind, `${title}: no data (${reason})`, { width, height }, 0, body, ' data-empty="true"');
}

export interface AxisOptions {
  readonly label: string;
  readonly format?: (value: number) => string;
  /** Light lines across the plot at each tick. */
  readonly gridLines?: boolean;
}

/** The x axis along the bottom of the plot: line, ticks, tick labels and the axis label. */
export function xAxis(box: Box, scale: Scale, options: AxisOptions): string {
  const { x0, x1, y0, y1 } = plotArea(box);
  const format = options.format ?? formatTick;
  const parts = [`<line class="axis" x1="${px(x0)}" y1="${px(y0)}" x2="${px(x1)}" y2="${px(y0)}"/>`];
  for (const t of scale.ticks) {
    const x = scale(t);
    if (x < x0 - 0.5 || x > x1 + 0.5) continue;
    if (options.gridLines) parts.push(`<line class="gridline" x1="${px(x)}" y1="${px(y0)}" x2="${px(x)}" y2="${px(y1)}"/>`);
    parts.push(`<line class="tick" x1="${px(x)}" y1="${px(y0)}" x2="${px(x)}" y2="${px(y0 + 4)}"/>`);
    parts.push(`<text class="tick-label" x="${px(x)}" y="${px(y0 + 16)}" text-anchor="middle">${escapeXml(format(t))}</text>`);
  }
  parts.push(`<text class="axis-label" x="${px((x0 + x1) / 2)}" y="${px(box.height - 6)}" text-anchor="middle">${escapeXml(options.label)}</text>`);
  return parts.join('\n');
}

/** The y axis on the left: line, ticks with labels, light grid lines across, and the rotated axis label. */
export function yAxis(box: Box, scale: Scale, options: AxisOptions): string {
  const { x0, x1, y0, y1 } = plotArea(box);
  const format = options.format ?? formatTick;
  const parts = [`<line class="axis" x1="${px(x0)}" y1="${px(y0)}" x2="${px(x0)}" y2="${px(y1)}"/>`];
  for (const t of scale.ticks) {
    const y = scale(t);
    if (y > y0 + 0.5 || y < y1 - 0.5) continue;
    if (options.gridLines !== false) parts.push(`<line class="gridline" x1="${px(x0)}" y1="${px(y)}" x2="${px(x1)}" y2="${px(y)}"/>`);
    parts.push(`<line class="tick" x1="${px(x0 - 4)}" y1="${px(y)}" x2="${px(x0)}" y2="${px(y)}"/>`);
    parts.push(`<text class="tick-label" x="${px(x0 - 7)}" y="${px(y + 4)}" text-anchor="end">${escapeXml(format(t))}</text>`);
  }
  const cy = (y0 + y1) / 2;
  parts.push(`<text class="axis-label" x="14" y="${px(cy)}" text-anchor="middle" transform="rotate(-90 14 ${px(cy)})">${escapeXml(options.label)}</text>`);
  return parts.join('\n');
}

export interface LegendEntry {
  readonly name: string;
  readonly colour: string;
  /** How the entry's mark looks: a line, a filled box, or a dashed line. */
  readonly mark: 'line' | 'box' | 'dash';
}

/** Where each legend entry goes: left to right above the plot, wrapping onto more rows when the plot is narrow. */
export interface LegendLayout {
  readonly rows: number;
  readonly items: readonly { readonly entry: LegendEntry; readonly label: string; readonly x: number; readonly row: number }[];
}

const LEGEND_ROW = 16;

export function legendLayout(entries: readonly LegendEntry[], left: number, right: number): LegendLayout {
  const items: { entry: LegendEntry; label: string; x: number; row: number }[] = [];
  let x = left;
  let row = 0;
  for (const entry of entries) {
    const label = shorten(entry.name, 48);
    const width = textWidth(label) + 36;
    if (x > left && x + width > right) {
      row++;
      x = left;
    }
    items.push({ entry, label, x, row });
    x += width;
  }
  return { rows: items.length === 0 ? 0 : row + 1, items };
}

/** The top margin a chart needs for its legend rows. */
export const legendHeight = (layout: LegendLayout): number => (layout.rows === 0 ? 12 : 10 + layout.rows * LEGEND_ROW);

/** The legend, in the top margin above the plot, so that it never covers data. */
export function legend(layout: LegendLayout): string {
  return layout.items.map(({ entry, label, x, row }) => {
    const y = 14 + row * LEGEND_ROW;
    const mark = entry.mark === 'box'
      ? `<rect x="${px(x)}" y="${px(y - 8)}" width="16" height="9" fill="${entry.colour}" fill-opacity="0.55"/>`
      : `<line x1="${px(x)}" y1="${px(y - 4)}" x2="${px(x + 16)}" y2="${px(y - 4)}" stroke="${entry.colour}" stroke-width="2"${entry.mark === 'dash' ? ' stroke-dasharray="3 2"' : ''}/>`;
    return `${mark}<text class="legend-label" x="${px(x + 22)}" y="${px(y)}">${escapeXml(label)}</text>`;
  }).join('\n');
}
