/** The part of autocannon's API the fallback runner uses (the package ships no types). */
declare module "autocannon" {
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    headers?: Record<string, string> | undefined;
    requests?: Array<{ method?: string; path?: string }>;
    overallRate?: number;
  }
  interface Histogram {
    p50: number;
    p90: number;
    p99: number;
  }
  interface Result {
    duration: number;
    requests: { total: number };
    latency: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
