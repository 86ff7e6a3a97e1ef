/**
 * report.html: one self-contained page (pictures inlined as data: URIs, inline CSS, no script, no
 * network) with the run's settings, results, per-epoch history and every picture.
 */

export interface HtmlTable {
  head: string[];
  rows: (string | number)[][];
  /** Columns aligned right (numbers). */
  numeric?: number[];
  caption?: string;
}

export interface HtmlSection {
  id: string;
  title: string;
  /** Paragraphs of plain text (escaped). */
  text?: string[];
  image?: { png: Uint8Array; alt: string };
  tables?: HtmlTable[];
  /** Preformatted text (escaped). */
  pre?: string;
}

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function table(t: HtmlTable): string {
  const numeric = new Set(t.numeric ?? []);
  const cell = (tag: 'td' | 'th', v: string | number, i: number) => `<${tag}${numeric.has(i) ? ' class="num"' : ''}>${escapeHtml(v)}</${tag}>`;
  return [
    '<table>',
    t.caption ? `<caption>${escapeHtml(t.caption)}</caption>` : '',
    `<thead><tr>${t.head.map((h, i) => cell('th', h, i)).join('')}</tr></thead>`,
    `<tbody>${t.rows.map((r) => `<tr>${r.map((v, i) => cell('td', v, i)).join('')}</tr>`).join('\n')}</tbody>`,
    '</table>',
  ].join('\n');
}

const STYLE = `
  body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; color: #222; margin: 0; background: #f4f4f4; }
  main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
  h1 { font-size: 26px; margin: 0 0 6px; }
  h2 { font-size: 20px; margin: 36px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
  p { line-height: 1.45; max-width: 1000px; }
  .sub { color: #555; margin: 0 0 18px; }
  nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }
  img { display: block; max-width: 100%; height: auto; border: 1px solid #e2e2e2; margin: 8px 0; }
  table { border-collapse: collapse; margin: 10px 0 16px; font-size: 14px; }
  caption { text-align: left; font-weight: bold; padding: 4px 0; }
  th, td { border: 1px solid #d6d6d6; padding: 4px 10px; text-align: left; }
  th { background: #f0f0f0; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  pre { background: #f7f7f7; border: 1px solid #e2e2e2; padding: 10px; overflow-x: auto; font-size: 13px; }
`;

export function reportHtml(page: { title: string; subtitle: string; sections: HtmlSection[] }): string {
  const body = page.sections.map((s) =>
    [
      `<section id="${escapeHtml(s.id)}">`,
      `<h2>${escapeHtml(s.title)}</h2>`,
      ...(s.text ?? []).map((p) => `<p>${escapeHtml(p)}</p>`),
      s.image ? `<img src="data:image/png;base64,${Buffer.from(s.image.png.buffer, s.image.png.byteOffset, s.image.png.byteLength).toString('base64')}" alt="${escapeHtml(s.image.alt)}">` : '',
      ...(s.tables ?? []).map(table),
      s.pre ? `<pre>${escapeHtml(s.pre)}</pre>` : '',
      '</section>',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(page.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeHtml(page.title)}</h1>`,
    `<p class="sub">${escapeHtml(page.subtitle)}</p>`,
    `<nav>${page.sections.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`).join('')}</nav>`,
    ...body,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
