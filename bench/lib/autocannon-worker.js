// Fallback load generator (used only when wrk is missing): autocannon in its own process, so its
// CPU lands on the load core. argv[2] is a JSON spec; prints one JSON result line.
import autocannon from 'autocannon';

const { url, template, headerSets, seconds, connections } = JSON.parse(process.argv[2]);
let id = 0;
const result = await autocannon({
  url,
  connections,
  duration: seconds,
  requests: [
    {
      method: 'POST',
      setupRequest: (request) => {
        id++;
        request.headers = headerSets[id % headerSets.length];
        request.body = `${template.prefix}${id}${template.suffix}`;
        return request;
      },
    },
  ],
});
const secs = result.duration;
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    seconds: secs,
    rps: result.requests.total / secs,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts,
  })}\n`,
);
