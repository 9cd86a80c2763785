/** Unix time in whole microseconds, from the monotonic clock anchored at process start. */
export function nowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}
