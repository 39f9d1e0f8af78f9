// The floor the player is measured against: regl-scatterplot alone, drawing the same points on a canvas of the
// player's size with the player's options, and nothing else (no overlay, no linked panes, no Streamlit).
import createScatterplot, { createRenderer } from 'regl-scatterplot';

const params = new URLSearchParams(window.location.search);
const width = Number(params.get('width'));
const height = Number(params.get('height'));
const pointSize = Number(params.get('size'));

const canvas = document.createElement('canvas');
canvas.style.width = `${width}px`;
canvas.style.height = `${height}px`;
document.body.appendChild(canvas);
const renderer = createRenderer({ canvas: document.createElement('canvas') });
renderer.resize(width, height);
const scatter = createScatterplot({
  renderer, canvas, width, height, backgroundColor: '#ffffff', mouseMode: 'panZoom', colorBy: 'valueA',
  sizeBy: 'valueB', opacity: 0.9, pointOutlineWidth: 1, pointSize: [pointSize],
  pointColor: ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22',
    '#17becf', '#aec7e8', '#ffbb78'],
});
window.bench = { drawCount: 0, ready: false };
scatter.subscribe('draw', () => { window.bench.drawCount += 1; });

const bytes = await (await fetch('points.bin')).arrayBuffer();
const n = new DataView(bytes).getUint32(0, true);
const xy = new Float32Array(bytes, 8, 2 * n);
const labels = new Uint8Array(bytes, 8 + 8 * n, n);
const x = new Float32Array(n);
const y = new Float32Array(n);
const valueA = new Float32Array(n);
for (let i = 0; i < n; i++) {
  x[i] = xy[2 * i];
  y[i] = xy[2 * i + 1];
  valueA[i] = labels[i];
}
await scatter.draw({ x, y, valueA, valueB: new Float32Array(n) });
window.bench.ready = true;
