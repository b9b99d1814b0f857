// SVG -> PNG with @resvg/resvg-js (offline; it brings no fonts of its own). Text needs a font file: DejaVu Sans or
// Liberation Sans from the usual Debian packages (fonts-dejavu-core, fonts-liberation) when present, else any font
// the system has; with none at all the PNG is drawn without its text, and the caller is told so.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';

const FONT_DIRS = ['/usr/share/fonts', '/usr/local/share/fonts', path.join(homedir(), '.local/share/fonts'), path.join(homedir(), '.fonts')];
const PREFERRED: { family: string; files: string[] }[] = [
  { family: 'DejaVu Sans', files: ['truetype/dejavu/DejaVuSans.ttf', 'truetype/dejavu/DejaVuSans-Bold.ttf'] },
  { family: 'Liberation Sans', files: ['truetype/liberation/LiberationSans-Regular.ttf', 'truetype/liberation/LiberationSans-Bold.ttf'] },
];

/** Any .ttf/.otf/.ttc under the font folders (a few levels deep)? */
function anyFontFile(dir: string, depth = 4): boolean {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const e of entries) {
    if (e.isFile() && /\.(ttf|otf|ttc)$/i.test(e.name)) return true;
    if (e.isDirectory() && depth > 0 && anyFontFile(path.join(dir, e.name), depth - 1)) return true;
  }
  return false;
}

function fontOptions(): { font: NonNullable<ResvgRenderOptions['font']>; warning?: string } {
  for (const p of PREFERRED) {
    for (const dir of FONT_DIRS) {
      const files = p.files.map((f) => path.join(dir, f)).filter((f) => existsSync(f));
      if (files.length) return { font: { loadSystemFonts: false, fontFiles: files, defaultFontFamily: p.family, sansSerifFamily: p.family } };
    }
  }
  if (FONT_DIRS.some((d) => anyFontFile(d))) return { font: { loadSystemFonts: true } };
  return {
    font: { loadSystemFonts: true },
    warning: 'no font files found (e.g. Debian\'s fonts-dejavu-core): the PNG is drawn without its text; the SVG output keeps it',
  };
}

/** Rasterize an SVG document at its own size, on white. */
export function svgToPng(svg: string): { png: Uint8Array; warning?: string } {
  const { font, warning } = fontOptions();
  const png = new Resvg(svg, { background: '#ffffff', fitTo: { mode: 'original' }, font }).render().asPng();
  return { png, warning };
}
