// vega-lite spec → vega view (headless, renderer 'none') → SVG; SVG → PNG with resvg. No browser,
// no canvas package: both are pure functions of the data. The libraries load on first use
// (report-libraries.ts): a production install has none of them.
import type { TopLevelSpec } from 'vega-lite';
import { loadReportLibraries } from './report-libraries.js';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vegaLite } = await loadReportLibraries();
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function svgToPng(svg: string): Promise<Buffer> {
  const { resvg } = await loadReportLibraries();
  const renderer = new resvg.Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return renderer.render().asPng();
}
