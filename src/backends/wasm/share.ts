/** Thread t's share [lo, hi) of `total` units, boundaries rounded to multiples of `align`. */
export function share(total: number, t: number, threads: number, align: number): [number, number] {
  const cut = (i: number): number => (i >= threads ? total : Math.min(total, Math.floor((total * i) / threads / align) * align));
  return [cut(t), cut(t + 1)];
}
