import { Resvg } from '@resvg/resvg-js';

/**
 * An SVG document (from report-charts.ts) as PNG bytes, rasterised by resvg at 1 px per SVG unit on white, with
 * the machine's fonts (DejaVu Sans first, the family the charts ask for).
 */
export function svgToPng(svg: string): Buffer {
  const png = new Resvg(svg, {
    background: '#ffffff',
    fitTo: { mode: 'original' },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  return Buffer.from(png);
}
