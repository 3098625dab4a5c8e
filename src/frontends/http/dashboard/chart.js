/**
 * Verdicts by result over the last 48 hours or 30 days, drawn by uPlot (a
 * small canvas chart library, served from its npm package).
 */
import uPlot from './vendor/uPlot.esm.js';
import { api } from './api.js';
import { byId } from './dom.js';

const RESULTS = [
  { key: 'deliverable', color: '#2e9d5b' },
  { key: 'undeliverable', color: '#d64545' },
  { key: 'risky', color: '#d99a16' },
  { key: 'unknown', color: '#7b8597' },
];
const COUNTS = { hour: 48, day: 30 };
const HEIGHT = 240;

const box = byId('chart');
/** @type {'hour' | 'day'} */
let granularity = 'hour';
/** @type {any} */
let plot = null;

function options() {
  return {
    width: Math.max(240, box.clientWidth),
    height: HEIGHT,
    scales: { x: { time: true } },
    axes: [{ stroke: '#5b6472' }, { stroke: '#5b6472', size: 44 }],
    series: [
      {
        // The legend shows the hovered time; null when nothing is hovered.
        value: (/** @type {unknown} */ _u, /** @type {number | null} */ t) =>
          t === null ? '' : new Date(t * 1000).toLocaleString(),
      },
      ...RESULTS.map((r) => ({ label: r.key, stroke: r.color, width: 2, points: { size: 5 } })),
    ],
  };
}

/** @param {{at: string, [result: string]: number | string}[]} points */
function columns(points) {
  return [
    points.map((p) => Date.parse(p.at) / 1000),
    ...RESULTS.map((r) => points.map((p) => Number(p[r.key] ?? 0))),
  ];
}

export async function refreshChart() {
  const { points } = await api(`/v1/stats/series?granularity=${granularity}&count=${COUNTS[granularity]}`);
  const data = columns(points);
  if (plot) plot.setData(data);
  else plot = new uPlot(options(), data, box);
}

/** @param {(error: unknown) => void} report */
export function initChart(report) {
  const buttons = document.querySelectorAll('[data-granularity]');
  for (const button of buttons) {
    button.addEventListener('click', () => {
      granularity = button.getAttribute('data-granularity') === 'day' ? 'day' : 'hour';
      for (const b of buttons) b.setAttribute('aria-pressed', String(b === button));
      refreshChart().catch(report);
    });
  }
  new ResizeObserver(() => plot?.setSize({ width: Math.max(240, box.clientWidth), height: HEIGHT })).observe(
    box,
  );
}
