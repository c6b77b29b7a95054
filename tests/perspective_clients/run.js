// Test harness: runs the published npm client `perspective-api-client`, unmodified, against our server.
//
//   PERSPECTIVE_TARGET=http://127.0.0.1:8000 node run.js < cases.json
//
// cases.json: [{"apiKey": "...", "text": "..." | {...AnalyzeComment request}, "options": {...}}, ...]
// Prints one JSON array: per case {"ok": true, "data"} or {"ok": false, "name", "message", "status", "data"}.
// The client posts to https://commentanalyzer.googleapis.com; an axios request interceptor (on the axios instance
// the client itself requires) sends that request to PERSPECTIVE_TARGET instead. Nothing else is changed.
'use strict';
const path = require('path');

const clientPath = require.resolve('perspective-api-client');
const axios = require(require.resolve('axios', {paths: [path.dirname(clientPath)]}));
const Perspective = require(clientPath);

const GOOGLE = 'https://commentanalyzer.googleapis.com';
const target = process.env.PERSPECTIVE_TARGET;
if (!target) {
  console.error('set PERSPECTIVE_TARGET, e.g. http://127.0.0.1:8000');
  process.exit(2);
}
const requested = [];
axios.interceptors.request.use(config => {
  if (config.url.startsWith(GOOGLE)) {
    config.url = target.replace(/\/$/, '') + config.url.slice(GOOGLE.length);
  }
  requested.push(config.url);
  return config;
});

async function runCase(c) {
  try {
    const client = new Perspective({apiKey: c.apiKey});
    const data = await client.analyze(c.text, c.options);
    return {ok: true, data};
  } catch (error) {
    return {
      ok: false,
      name: error.name,
      message: error.message,
      status: error.response ? error.response.status : null,
      data: error.response ? error.response.data : null,
    };
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  for (const c of cases) results.push(await runCase(c));
  process.stdout.write(JSON.stringify({results, requested}));
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
