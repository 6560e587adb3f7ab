// Segment's Node library (@segment/analytics-node) pointed at a survey-streams worker.
//
//   node send.mjs '<spec>'
//
// spec (JSON): {"host", "writeKey", "maxEventsInBatch"?, "calls": [{"method", "args"}]}
// Makes each call (identify, track, page, screen, group, alias) as an app would, then
// closeAndFlush(), and prints one JSON line: the library's version, the HTTP answers it got
// and the errors it reported. Exits 1 when the library reported an error.
import { Analytics } from '@segment/analytics-node'

const spec = JSON.parse(process.argv[2])
const analytics = new Analytics({
  writeKey: spec.writeKey,
  host: spec.host,
  path: '/v1/batch',
  maxEventsInBatch: spec.maxEventsInBatch ?? 2,
  flushInterval: 500,
  maxRetries: 2,
  httpRequestTimeout: 20000,
})

const responses = []
const errors = []
analytics.on('http_response', (response) => {
  responses.push({ status: response.status, url: response.url, events: JSON.parse(response.body).batch.length })
})
analytics.on('error', (error) => {
  errors.push(String(error?.reason ?? error?.message ?? error))
})

for (const { method, args } of spec.calls) {
  analytics[method](args)
}
await analytics.closeAndFlush({ timeout: 60000 })

console.log(JSON.stringify({ version: analytics.VERSION, responses, errors }))
process.exit(errors.length ? 1 : 0)
