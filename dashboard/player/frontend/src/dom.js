// DOM helpers and the player's stylesheet.

export const SVG = 'http://www.w3.org/2000/svg';

export const CSS = `
.pxl-player { font: 14px "Source Sans Pro", sans-serif; color: #262730; }
.pxl-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; margin: 0 0 6px; }
.pxl-bar button { font: inherit; padding: 2px 10px; border: 1px solid #bbb; border-radius: 6px; background: #fff; cursor: pointer; }
.pxl-bar select { font: inherit; }
.pxl-step { flex: 1 1 220px; min-width: 160px; }
.pxl-step-label { min-width: 130px; font-variant-numeric: tabular-nums; }
.pxl-row { display: flex; gap: 8px; }
.pxl-stage { position: relative; flex: 1 1 0; min-width: 0; border: 1px solid #e6e6e6; border-radius: 6px; overflow: hidden; }
.pxl-stage canvas { display: block; width: 100%; height: 100%; }
.pxl-trails { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
.pxl-title { position: absolute; left: 10px; top: 6px; font-weight: 600; pointer-events: none; }
.pxl-tip { position: absolute; display: none; pointer-events: none; background: rgba(255,255,255,.95); font-size: 0.85em;
  border: 1px solid #999; border-radius: 4px; padding: 3px 6px; white-space: pre; }
.pxl-thumb { display: block; margin-bottom: 3px; image-rendering: pixelated; border: 1px solid #ddd; }
.pxl-legend { display: flex; flex-wrap: wrap; gap: 2px 12px; margin-top: 4px; font-size: 0.85em; }
.pxl-chip { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; vertical-align: middle; }
.pxl-ramp { display: inline-block; width: 140px; height: 10px; vertical-align: middle; margin: 0 4px; }
.pxl-play-only .pxl-opt { display: none; }
.pxl-mark { font-weight: 700; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }
`;

/**
 * A new HTML element with `attrs` assigned (properties, not attributes), appended to `parent` when given.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Partial<HTMLElementTagNameMap[K]> & Record<string, unknown>} [attrs]
 * @param {Element | null} [parent]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, parent = null) {
  const node = document.createElement(tag);
  Object.assign(node, attrs);
  if (parent) parent.appendChild(node);
  return node;
}

/**
 * A new SVG element with `attrs` set as attributes, in their order.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/**
 * Screen points as an SVG `points` attribute, to 0.1 px.
 * @param {[number, number][]} points
 */
export const svgPoints = (points) => points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
