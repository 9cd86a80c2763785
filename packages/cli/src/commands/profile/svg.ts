import { betaLogPdf, type FitInput, logNormalLogPdf, type Profile } from '@tmb/stats';

/** A histogram of each feature for both data sets with the profiles' fitted densities drawn over it. */
export function densitySvg(
  claimed: Profile,
  sub: Profile | undefined,
  honest: FitInput[],
  cheat: FitInput[],
): string {
  const panels: { name: string; get: (f: FitInput) => number; pdf: (p: Profile, x: number) => number }[] = [
    {
      name: 'energy per token (J)',
      get: (f) => f.energyPerToken,
      pdf: (p, x) => Math.exp(logNormalLogPdf(p.features.energyPerToken, x)),
    },
    {
      name: 'tokens per second',
      get: (f) => f.tokensPerSecond,
      pdf: (p, x) => Math.exp(logNormalLogPdf(p.features.tokensPerSecond, x)),
    },
    {
      name: 'mean utilization',
      get: (f) => f.utilization,
      pdf: (p, x) => Math.exp(betaLogPdf(p.features.utilization, x)),
    },
  ];
  const W = 420;
  const H = 260;
  const parts: string[] = [];
  panels.forEach((panel, k) => {
    const a = honest.map(panel.get).filter(Number.isFinite);
    const b = cheat.map(panel.get).filter(Number.isFinite);
    const all = [...a, ...b].sort((x, y) => x - y);
    if (all.length === 0) return;
    const lo = all[Math.floor(all.length * 0.001)]!;
    const hi = all[Math.ceil(all.length * 0.999) - 1]!;
    const bins = 40;
    const w = (hi - lo) / bins || 1;
    const hist = (xs: number[]) => {
      const h = new Array<number>(bins).fill(0);
      for (const x of xs)
        if (x >= lo && x <= hi) h[Math.min(bins - 1, Math.floor((x - lo) / w))]! += 1 / (xs.length * w);
      return h;
    };
    const ha = hist(a);
    const hb = hist(b);
    const xsCurve = Array.from({ length: 200 }, (_, i) => lo + ((hi - lo) * (i + 0.5)) / 200);
    const ca = xsCurve.map((x) => panel.pdf(claimed, x));
    const cb = sub === undefined ? [] : xsCurve.map((x) => panel.pdf(sub, x));
    const ymax = Math.max(...ha, ...hb, ...ca, ...cb) * 1.05 || 1;
    const X = (x: number) => (40 + ((x - lo) / (hi - lo || 1)) * (W - 60)).toFixed(1);
    const Y = (y: number) => (H - 30 - (y / ymax) * (H - 60)).toFixed(1);
    const bars = (h: number[], color: string) =>
      h
        .map(
          (v, i) =>
            `<rect x="${X(lo + i * w)}" y="${Y(v)}" width="${((W - 60) / bins).toFixed(1)}" height="${(Number(Y(0)) - Number(Y(v))).toFixed(1)}" fill="${color}" fill-opacity="0.35"/>`,
        )
        .join('');
    const line = (ys: number[], color: string) =>
      ys.length === 0
        ? ''
        : `<polyline fill="none" stroke="${color}" stroke-width="2" points="${ys.map((y, i) => `${X(xsCurve[i]!)},${Y(y)}`).join(' ')}"/>`;
    parts.push(
      `<g transform="translate(${k * W},0)"><text x="40" y="20" font-size="13">${panel.name}</text>` +
        bars(ha, '#1f77b4') +
        bars(hb, '#d62728') +
        line(ca, '#1f77b4') +
        line(cb, '#d62728') +
        `<line x1="40" y1="${Y(0)}" x2="${W - 20}" y2="${Y(0)}" stroke="black"/>` +
        `<text x="40" y="${H - 10}" font-size="11">${lo.toPrecision(4)}</text><text x="${W - 80}" y="${H - 10}" font-size="11">${hi.toPrecision(4)}</text></g>`,
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H + 20}" font-family="sans-serif">` +
    `<text x="10" y="${H + 15}" font-size="11">blue: honest data and claimed profile; red: substitute data and profile</text>` +
    `${parts.join('')}</svg>\n`
  );
}
